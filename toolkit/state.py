"""afkit's own durable state (launch journal, and later alerts and the Slack outbox), in a real database.

SQLAlchemy Core on SQLite by default (``$XDG_STATE_HOME/afkit/state.db``), or any URL from ``AFKIT_STATE_URL`` or
``[state] url`` in afkit.toml (for example the Airflow PostgreSQL in docker). Every write is its own transaction, so a
process killed at any moment leaves a consistent journal behind.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Mapping

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, NoSuchModuleError, OperationalError

from toolkit.core.alerts import OpenAlert
from toolkit.errors import AfkitError, ConfigError, StateUnavailable
from toolkit.service_config import load_service_config

metadata = MetaData()

launch_plans = Table(
    "afkit_launch_plans",
    metadata,
    Column("plan_id", String(64), primary_key=True),
    Column("request_key", String(64), index=True),
    Column("airflow_url", String(512), nullable=False),
    Column("plan_json", Text, nullable=False),
    Column("status", String(16), nullable=False),  # active | paused | cancelled | completed
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

launch_steps = Table(
    "afkit_launch_steps",
    metadata,
    Column("plan_id", String(64), primary_key=True),
    Column("step_key", String(300), primary_key=True),
    Column("dag_id", String(250), nullable=False),
    Column("status", String(16), nullable=False),  # pending | creating | created | completed | cancelled
    Column("backfill_id", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


leases = Table(
    "afkit_leases",
    metadata,
    Column("name", String(300), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

governor_state = Table(
    "afkit_governor_state",
    metadata,
    Column("backfill_id", Integer, primary_key=True),
    Column("paused_by_governor", Integer, nullable=False),
    Column("clear_since", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

governor_actions = Table(
    "afkit_governor_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("backfill_id", Integer, nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("holder", String(200), nullable=False),
)

# A carve in place: the pool's configured size, kept here so that any watcher can give it back after a crash, and
# the slots the governor last set, so that a change made by someone else is noticed and reported.
pool_carves = Table(
    "afkit_pool_carves",
    metadata,
    Column("pool", String(256), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("production_slots", Integer, nullable=False),
    Column("companion_slots", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
POOL_ACTIONS = 0  # governor_actions' backfill_id of an action on a pool's carve rather than on one backfill


alerts = Table(
    "afkit_alerts",
    metadata,
    Column("alert_id", String(40), primary_key=True),  # derived from (SLA, breach episode): one alert each
    Column("sla_key", String(600), nullable=False, index=True),
    Column("breach_key", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # at_risk | late | resolved
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("last_notified_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by", String(200), nullable=True),
    Column("channel", String(100), nullable=True),
    Column("thread_ts", String(40), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
)

SLACK_SINK = "slack"  # the outbox's sink for Slack; a notifier's is "notifier:<name>" (``notifier_sink``)


OUTBOX_CLAIM_SECONDS = 60  # a claimed message is the claimer's this long; then another deliverer may take it


def notifier_sink(name: str) -> str:
    return f"notifier:{name}"


outbox = Table(
    "afkit_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(200), nullable=False, unique=True),  # a notification is queued once
    Column("alert_id", String(40), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("payload", Text, nullable=False),  # the message (text and blocks); never a token or webhook URL
    Column("status", String(16), nullable=False),  # pending | sending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    # Added after the first release (``_add_missing_columns``): where the message goes, and when it was last tried.
    Column("sink", String(100), nullable=False, default=SLACK_SINK, server_default=SLACK_SINK),
    Column("attempted_at", DateTime(timezone=True), nullable=True),
)
ADDED_COLUMNS = {"afkit_outbox": ("sink", "attempted_at")}  # columns an older state database may lack


def default_state_url(env: Mapping[str, str] | None = None) -> str:
    return state_url_source(env)[0]


def state_url_source(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """afkit's state database URL and where it came from, in words for messages (``AFKIT_STATE_URL`` …)."""
    env = os.environ if env is None else env
    if env.get("AFKIT_STATE_URL"):
        return env["AFKIT_STATE_URL"], "AFKIT_STATE_URL"
    configured = load_service_config(env)
    if configured.state_url:
        return configured.state_url, f"[state] url in {configured.path}"
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local" / "state")
    return f"sqlite:///{Path(base) / 'afkit' / 'state.db'}", "the default state database (set AFKIT_STATE_URL)"


def safe_url(url: str) -> str:
    """The URL with any password replaced by ``***``: safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparseable: show nothing of it that could be a secret
        return "<unparseable URL>"


def open_engine(url: str, source: str = "afkit's state database URL") -> Engine:
    """Validate a state database URL and create its engine; every way this can fail is one clear error naming
    ``source`` and the URL without its password: a malformed URL or missing driver (exit 2), a SQLite directory that
    cannot be created (exit 2)."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - ArgumentError, ValueError …: the message would repeat the URL and its password
        raise ConfigError(f"{source} is not a SQLAlchemy URL such as sqlite:////var/lib/afkit/state.db or "
                          "postgresql+psycopg2://user:password@host/db") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        directory = Path(parsed.database).parent
        existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ConfigError(f"{source} {shown}: {existing} is not a directory")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{source} {shown}: the directory {directory} cannot be created "
                              f"({exc.strerror or exc})") from None
        if not os.access(directory, os.W_OK | os.X_OK):
            raise ConfigError(f"{source} {shown}: the directory {directory} is not writable")
        if Path(parsed.database).is_dir():
            raise ConfigError(f"{source} {shown}: {parsed.database} is a directory, not a database file")
    connect_args = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = 10  # an unreachable host fails in seconds, not after the TCP timeout
    try:
        engine = create_engine(parsed, future=True, connect_args=connect_args)
    except ImportError as exc:
        raise ConfigError(f"{source} {shown}: its database driver is not installed ({exc.name or exc})") from None
    except NoSuchModuleError:
        raise ConfigError(f"{source} {shown}: {parsed.drivername!r} is not a database SQLAlchemy knows (use "
                          "sqlite:///… or postgresql+psycopg2://…)") from None
    except Exception as exc:  # noqa: BLE001 - NoSuchModuleError, ArgumentError … for an unknown dialect or option
        raise ConfigError(f"{source} {shown} cannot be used: {type(exc).__name__}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class AlertRecord:
    """One alert change and the message it queues (``StateStore.record_alerts``): the alert to open (``opened``: its
    columns) or its ``changes``, and the message under its dedupe key (a message is queued once)."""

    alert_id: str
    dedupe_key: str
    kind: str
    payload: dict
    opened: dict | None = None
    changes: dict | None = None


@dataclass(frozen=True)
class Carve:
    """A pool split between production and its companion: its configured size and the slots last set."""

    pool: str
    size: int
    production_slots: int
    companion_slots: int


@dataclass(frozen=True)
class JournalStep:
    plan_id: str
    step_key: str
    dag_id: str
    status: str
    backfill_id: int | None


@dataclass(frozen=True)
class JournalPlan:
    plan_id: str
    request_key: str | None
    airflow_url: str
    plan_json: dict
    status: str
    created_at: datetime


class StateStore:
    def __init__(self, url: str | None = None) -> None:
        """Open (and create the tables of) the state database; a URL that cannot be used is a
        :class:`~toolkit.errors.ConfigError` (exit 2), a database that cannot be reached exit 3, each naming where
        the URL came from and never its password."""
        source = "afkit's state database URL"
        if url is None:
            url, source = state_url_source()
        self._url = url
        self.url = safe_url(url)  # for messages: the password is never shown
        self.engine: Engine = open_engine(url, source)
        try:
            self._create_tables()
        except DBAPIError as exc:
            self.engine.dispose()
            raise _unusable(source, url, exc) from None

    def _create_tables(self, attempts: int = 5) -> None:
        """Create missing tables. Two processes starting on a new database race here (both see a table missing and
        one's CREATE fails): the loser tries again and then finds the table there."""
        for attempt in range(attempts):
            try:
                metadata.create_all(self.engine)
                self._add_missing_columns()
                return
            except OperationalError as exc:
                if not _is_race(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))
            except DBAPIError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def _add_missing_columns(self) -> None:
        """Columns added since a state database was created (create_all only makes missing tables). Two processes
        may add one at once: the loser's ALTER fails as a race and ``_create_tables`` tries again."""
        for table_name, names in ADDED_COLUMNS.items():
            present = {c["name"] for c in inspect(self.engine).get_columns(table_name)}
            for name in names:
                if name in present:
                    continue
                column = metadata.tables[table_name].c[name]
                kind = column.type.compile(dialect=self.engine.dialect)
                default = f" DEFAULT '{column.server_default.arg}' NOT NULL" if column.server_default is not None else ""
                with self.engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {table_name} ADD COLUMN {name} {kind}{default}"))

    # -- plans -------------------------------------------------------------------------------------------------

    def register_plan(self, plan_id: str, request_key: str | None, airflow_url: str, plan_json: dict,
                      step_keys: list[tuple[str, str]]) -> bool:
        """Record a plan and its steps once; returns False when it was already known (a resumed launch)."""
        with self.engine.begin() as conn:
            if conn.execute(select(launch_plans.c.plan_id).where(launch_plans.c.plan_id == plan_id)).first():
                return False
            now = _now()
            conn.execute(insert(launch_plans).values(
                plan_id=plan_id, request_key=request_key, airflow_url=airflow_url,
                plan_json=json.dumps(plan_json), status="active", created_at=now, updated_at=now,
            ))
            for key, dag_id in step_keys:
                conn.execute(insert(launch_steps).values(
                    plan_id=plan_id, step_key=key, dag_id=dag_id, status="pending", updated_at=now,
                ))
            return True

    def plan(self, plan_id: str) -> JournalPlan | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(launch_plans).where(launch_plans.c.plan_id == plan_id)).mappings().first()
        return _journal_plan(row) if row else None

    def unfinished_plan_for_request(self, request_key: str) -> JournalPlan | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(launch_plans)
                .where(launch_plans.c.request_key == request_key, launch_plans.c.status.in_(["active", "paused"]))
                .order_by(launch_plans.c.created_at.desc())
            ).mappings().first()
        return _journal_plan(row) if row else None

    def plans(self, statuses: tuple[str, ...] = ("active", "paused")) -> list[JournalPlan]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(launch_plans).where(launch_plans.c.status.in_(statuses)).order_by(launch_plans.c.created_at)
            ).mappings().all()
        return [_journal_plan(r) for r in rows]

    def set_plan_status(self, plan_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(launch_plans).where(launch_plans.c.plan_id == plan_id)
                         .values(status=status, updated_at=_now()))

    # -- steps -------------------------------------------------------------------------------------------------

    def steps(self, plan_id: str) -> dict[str, JournalStep]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(launch_steps).where(launch_steps.c.plan_id == plan_id)).mappings().all()
        return {r["step_key"]: JournalStep(r["plan_id"], r["step_key"], r["dag_id"], r["status"], r["backfill_id"])
                for r in rows}

    def set_step(self, plan_id: str, step_key: str, status: str, backfill_id: int | None = None) -> None:
        values: dict = {"status": status, "updated_at": _now()}
        if backfill_id is not None:
            values["backfill_id"] = backfill_id
        with self.engine.begin() as conn:
            conn.execute(update(launch_steps)
                         .where(launch_steps.c.plan_id == plan_id, launch_steps.c.step_key == step_key)
                         .values(**values))

    # -- leases: one actor per resource at a time ---------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_seconds: float, now: datetime | None = None) -> bool:
        """Take or renew the lease ``name`` for ``holder``; False while another holder's lease is unexpired."""
        now = now or _now()
        expires = now + timedelta(seconds=ttl_seconds)
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(leases)
                .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at < now))
                .values(holder=holder, expires_at=expires)
            ).rowcount
            if taken:
                return True
            if conn.execute(select(leases.c.name).where(leases.c.name == name)).first():
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(leases).values(name=name, holder=holder, expires_at=expires))
            return True
        except IntegrityError:  # another holder inserted it first
            return False

    def release_lease(self, name: str, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))

    # -- governor ------------------------------------------------------------------------------------------------

    def governor_state(self, backfill_id: int) -> tuple[bool, datetime | None]:
        with self.engine.connect() as conn:
            row = conn.execute(select(governor_state).where(governor_state.c.backfill_id == backfill_id)).first()
        if row is None:
            return False, None
        clear = row.clear_since
        if clear is not None and clear.tzinfo is None:  # SQLite returns naive datetimes
            clear = clear.replace(tzinfo=timezone.utc)
        return bool(row.paused_by_governor), clear

    def save_governor_state(self, backfill_id: int, paused_by_governor: bool, clear_since: datetime | None) -> None:
        values = {"paused_by_governor": int(paused_by_governor), "clear_since": clear_since, "updated_at": _now()}
        with self.engine.begin() as conn:
            if conn.execute(update(governor_state).where(governor_state.c.backfill_id == backfill_id)
                            .values(**values)).rowcount == 0:
                conn.execute(insert(governor_state).values(backfill_id=backfill_id, **values))

    def log_action(self, backfill_id: int, action: str, reason: str, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(governor_actions).values(at=_now(), backfill_id=backfill_id, action=action,
                                                         reason=reason, holder=holder))

    def actions(self, backfill_id: int | None = None) -> list[dict]:
        query = select(governor_actions).order_by(governor_actions.c.id)
        if backfill_id is not None:
            query = query.where(governor_actions.c.backfill_id == backfill_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    # -- carves --------------------------------------------------------------------------------------------------

    def carves(self) -> dict[str, Carve]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(pool_carves)).all()
        return {r.pool: Carve(r.pool, r.size, r.production_slots, r.companion_slots) for r in rows}

    def save_carve(self, carve: Carve) -> None:
        values = {"size": carve.size, "production_slots": carve.production_slots,
                  "companion_slots": carve.companion_slots, "updated_at": _now()}
        with self.engine.begin() as conn:
            if conn.execute(update(pool_carves).where(pool_carves.c.pool == carve.pool).values(**values)).rowcount == 0:
                conn.execute(insert(pool_carves).values(pool=carve.pool, **values))

    def drop_carve(self, pool: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(pool_carves).where(pool_carves.c.pool == pool))

    # -- alerts --------------------------------------------------------------------------------------------------

    def open_alerts(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.status != "resolved")).mappings().all()
        return [{k: _aware(v) for k, v in dict(r).items()} for r in rows]

    def open_alert_states(self) -> list[OpenAlert]:
        """Every open alert as the alert rules read it, from only the columns they need: at 80,000 open alerts the
        whole rows took 2 s of a watcher's pass."""
        sqlite = self.engine.dialect.name == "sqlite"

        def instant(column):  # SQLite keeps datetimes as ISO text, which fromisoformat reads 5x faster than SQLAlchemy
            return type_coerce(column, String) if sqlite else column

        parsed: dict = {None: None}  # a pass stamps all its alerts with one "now": few distinct values

        def utc(value):
            found = parsed.get(value, parsed)
            if found is parsed:
                found = parsed[value] = _aware(datetime.fromisoformat(value) if isinstance(value, str) else value)
            return found

        columns = (alerts.c.alert_id, alerts.c.sla_key, alerts.c.breach_key, alerts.c.status,
                   instant(alerts.c.opened_at), instant(alerts.c.last_notified_at),
                   alerts.c.acknowledged_by.is_not(None))
        with self.engine.connect() as conn:
            rows = conn.execute(select(*columns).where(alerts.c.status != "resolved")).all()
        return [OpenAlert(alert, sla, breach, status, utc(opened), utc(notified), acknowledged=bool(acked))
                for alert, sla, breach, status, opened, notified, acked in rows]

    def alert(self, alert_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.alert_id == alert_id)).mappings().first()
        return {k: _aware(v) for k, v in dict(row).items()} if row else None

    def record_alert(self, alert_id: str, dedupe_key: str, kind: str, payload: dict, now: datetime, *,
                     opened: dict | None = None, changes: dict | None = None,
                     sinks: tuple[str, ...] = (SLACK_SINK,)) -> bool:
        """Open an alert (``opened``: its columns) or change it (``changes``), and queue its message, in one
        transaction: a watcher killed in between leaves neither behind, so the next evaluation still finds the
        notification to make (an alert stored without its message would never be announced).

        False when the alert to open already exists (nothing is written) or the message was queued before (the change
        is still applied)."""
        return self.record_alerts([AlertRecord(alert_id, dedupe_key, kind, payload, opened, changes)], now, sinks)[0]

    def record_alerts(self, records: list[AlertRecord], now: datetime,
                      sinks: tuple[str, ...] = (SLACK_SINK,)) -> list[bool]:
        """``record_alert`` for many, in one transaction: a pass can make thousands, and a commit each was most of its
        recording time. When another watcher recorded one of them at the same moment, the transaction is undone and
        they are recorded one by one, each as ``record_alert`` says."""
        if not records:
            return []
        try:
            with self.engine.begin() as conn:
                return self._record(conn, records, now, sinks)
        except IntegrityError:  # another watcher opened one of these alerts, or queued its message, at the same moment
            if len(records) == 1:
                return [False]
            return [self.record_alerts([record], now, sinks)[0] for record in records]

    @staticmethod
    def _record(conn, records: list[AlertRecord], now: datetime, sinks: tuple[str, ...]) -> list[bool]:
        """The batch's statements, each executed once for all the rows it applies to. A message is queued once per
        sink; the first sink's row carries the notification's own dedupe key (so a queue is still recognised after a
        sink was added or removed), the others the key with their sink appended."""
        openings = [{"alert_id": r.alert_id, **r.opened} for r in records if r.opened is not None]
        if openings:
            conn.execute(insert(alerts), openings)
        by_columns: dict[tuple[str, ...], list[dict]] = {}
        for record in records:
            if record.changes:
                by_columns.setdefault(tuple(sorted(record.changes)), []).append(
                    {"changed_alert": record.alert_id, **{f"new_{c}": v for c, v in record.changes.items()}})
        for columns, rows in by_columns.items():  # (a bound parameter may not be named as the column it sets)
            conn.execute(update(alerts).where(alerts.c.alert_id == bindparam("changed_alert"))
                         .values({c: bindparam(f"new_{c}") for c in columns}), rows)
        keys = [r.dedupe_key for r in records]
        queued_before = set()
        for chunk in range(0, len(keys), 500):
            queued_before.update(conn.execute(select(outbox.c.dedupe_key)
                                              .where(outbox.c.dedupe_key.in_(keys[chunk:chunk + 500]))).scalars())
        messages = [{"dedupe_key": r.dedupe_key if number == 0 else f"{r.dedupe_key}|{sink}", "alert_id": r.alert_id,
                     "kind": r.kind, "payload": json.dumps(r.payload), "status": "pending", "attempts": 0,
                     "next_attempt_at": now, "created_at": now, "sink": sink}
                    for r in records if r.dedupe_key not in queued_before for number, sink in enumerate(sinks)]
        if messages:
            conn.execute(insert(outbox), messages)
        return [r.dedupe_key not in queued_before for r in records]

    def update_alert(self, alert_id: str, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.alert_id == alert_id).values(**values))

    def alerts_for(self, sla_key: str) -> list[dict]:
        """Every alert, open or resolved, about one subject (an SLA, or ``cadence:<asset>``)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.sla_key == sla_key)).mappings().all()
        return [{k: _aware(v) for k, v in dict(r).items()} for r in rows]

    def find_alerts(self, prefix: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.alert_id.startswith(prefix))).mappings().all()
        return [dict(r) for r in rows]

    # -- outbox --------------------------------------------------------------------------------------------------

    def claim_outbox(self, now: datetime, sinks: tuple[str, ...] = (SLACK_SINK,),
                     lease_seconds: float = OUTBOX_CLAIM_SECONDS) -> list[dict]:
        """Claim due messages of ``sinks``, oldest first; a message another deliverer holds (unexpired claim) is
        skipped. Each claimed row also says how its previous attempt ended: ``previous_status`` "sending" means a
        deliverer died (or hung) inside it, so the message may have reached its sink; ``previous_attempt_at`` when."""
        claimable = or_(outbox.c.status == "pending", (outbox.c.status == "sending") & (outbox.c.claimed_until < now))
        with self.engine.connect() as conn:
            due = conn.execute(
                select(outbox.c.id, outbox.c.status, outbox.c.attempted_at)
                .where(claimable, outbox.c.next_attempt_at <= now, outbox.c.sink.in_(sinks))
                .order_by(outbox.c.id)
            ).all()
        claimed = []
        for message_id, status, attempted_at in due:
            with self.engine.begin() as conn:
                taken = conn.execute(
                    update(outbox)
                    .where(outbox.c.id == message_id, claimable)
                    .values(status="sending", claimed_until=now + timedelta(seconds=lease_seconds),
                            attempts=outbox.c.attempts + 1, attempted_at=now)
                ).rowcount
                if taken:
                    row = conn.execute(select(outbox).where(outbox.c.id == message_id)).mappings().first()
                    claimed.append({**{k: _aware(v) for k, v in dict(row).items()}, "payload": json.loads(row["payload"]),
                                    "previous_status": status, "previous_attempt_at": _aware(attempted_at)})
        return claimed

    def finish_outbox(self, message_id: int, status: str, now: datetime, error: str | None = None,
                      retry_at: datetime | None = None) -> None:
        values: dict = {"status": status, "last_error": error, "claimed_until": None}
        if status == "sent":
            values["sent_at"] = now
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == message_id).values(**values))

    def opening_failed(self, alert_id: str, sink: str = SLACK_SINK) -> bool:
        """Whether the alert's first message failed for good (its replies then go out without a thread)."""
        with self.engine.connect() as conn:
            return conn.execute(select(outbox.c.id).where(
                outbox.c.alert_id == alert_id, outbox.c.kind == "open", outbox.c.sink == sink,
                outbox.c.status == "failed").limit(1)).first() is not None

    def undelivered(self, failed_limit: int = 20) -> dict:
        """What has not reached its sink: counts by status and sink, and the newest failed messages with why."""
        with self.engine.connect() as conn:
            counts = conn.execute(select(outbox.c.status, outbox.c.sink, func.count())
                                  .where(outbox.c.status != "sent").group_by(outbox.c.status, outbox.c.sink)).all()
            failed = conn.execute(
                select(outbox.c.alert_id, outbox.c.kind, outbox.c.sink, outbox.c.attempts, outbox.c.last_error,
                       outbox.c.attempted_at, outbox.c.payload)
                .where(outbox.c.status == "failed").order_by(outbox.c.id.desc()).limit(failed_limit)
            ).mappings().all()
        by_sink: dict[str, dict[str, int]] = {}
        for status, sink, number in counts:
            by_sink.setdefault(sink, {})[status] = number
        return {
            "waiting": sum(n for status, _, n in counts if status in ("pending", "sending")),
            "failed": sum(n for status, _, n in counts if status == "failed"),
            "by_sink": dict(sorted(by_sink.items())),
            "failures": [{"alert_id": r["alert_id"], "kind": r["kind"], "sink": r["sink"], "attempts": r["attempts"],
                          "error": r["last_error"], "at": _aware(r["attempted_at"]),
                          "title": json.loads(r["payload"]).get("text", "").split(" — ")[0]} for r in failed],
        }

    def outbox_rows(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(outbox).order_by(outbox.c.id)).mappings().all()]

    def dispose(self) -> None:
        self.engine.dispose()


def _is_race(exc: OperationalError) -> bool:
    """An OperationalError from a concurrent CREATE (worth another try), not from a database that is unreachable,
    read-only or not a database at all."""
    text = str(exc.orig).lower()
    return "already exists" in text or "duplicate column" in text or "locked" in text or "deadlock" in text


def _unusable(source: str, url: str, exc: DBAPIError) -> AfkitError:
    """The error for a state database that was opened but cannot be used. The driver's own words stay (they say
    why: connection refused, read-only, not a database), with the URL's password removed."""
    shown = safe_url(url)
    detail = " ".join(str(exc.orig).split())
    password = make_url(url).password
    if password:
        detail = detail.replace(str(password), "***")
    if len(detail) > 300:
        detail = detail[:297] + "…"
    if isinstance(exc, OperationalError) and not isinstance(exc.orig, sqlite3.Error):
        return StateUnavailable(f"{source} {shown}: the database cannot be reached ({detail})")
    return ConfigError(f"{source} {shown}: the database cannot be used ({detail})")


def _journal_plan(row: Mapping) -> JournalPlan:
    return JournalPlan(
        plan_id=row["plan_id"],
        request_key=row["request_key"],
        airflow_url=row["airflow_url"],
        plan_json=json.loads(row["plan_json"]),
        status=row["status"],
        created_at=row["created_at"],
    )


def _aware(value: object) -> object:
    """SQLite hands datetimes back without a zone; everything afkit stores is UTC."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - exercised by every SQLite test
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a launch journal entry must survive kill -9 and power loss
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()

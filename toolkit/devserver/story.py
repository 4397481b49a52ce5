"""``afkit demo --story postmortem``: the incident afkit exists for, replayed on a real Airflow in compressed time.

``stripe_ingest`` runs every 30 story minutes long enough to have a "before"; the payments team then sets its Variable
to 5, as they did; ``afkit watch`` (the real command, in its own process) detects the change, reports the seam, and
the finance close's SLA goes at risk, then late, naming the cadence change as its cause. Every message goes to the
demo's Slack inbox, which the page and the TUI show.

Nothing is faked by the compression (``toolkit.devserver.clock``): the DAGs run on the shorter schedule and work for
the shorter while, so every event, run and duration judged is real. Every run but the re-runs of the ingest (by hand,
as the payments team would trigger them) is scheduled by Airflow itself: the story creates no backfill and writes no
row. Before the switch, afkit's what-if (``afkit cadence simulate``) says what the new rhythm would do; the story then
shows it happen. Each step says what to look at (CLI, TUI pane, page section).

The story is a generator of :class:`Beat` values; ``afkit demo`` prints them and the integration test asserts on
them, so both follow the same path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from toolkit.airflow import AirflowClient
from toolkit.core.humanize import format_duration
from toolkit.core.inbox import render
from toolkit.devserver.clock import TIME_SCALE_ENV, describe_scale
from toolkit.devserver.demo import CADENCE_VARIABLE, repo_dags_folder, wait_for_dags
from toolkit.devserver.slack_inbox import SlackInbox
from toolkit.errors import AfkitError, AirflowServerError, BadInput
from toolkit.core.cadence_impact import consumed_counts
from toolkit.core.cadence_whatif import Rhythm
from toolkit.services.cadence import cadence_reports, simulate

STORIES = ("postmortem",)
STORY_DAGS = ("stripe_ingest", "daily_finance_close")
INGEST, CLOSE = STORY_DAGS
RERUNS = 2  # the ingest runs the payments team re-runs by hand before the switch: the close batches them
RERUN_TRIES = 3  # a burst that lands after the close finished teaches nothing: try again at its next run
RERUN_WINDOW_MINUTES = 3  # a close younger than this has time left for the re-runs to land while it runs
SCHEDULER_LOOP = timedelta(seconds=1)  # how often the story's Airflow turns queued events into a run, in real time
STORY_FILES = ("example_assets.py", "stripe_ingest.py", "daily_finance_close.py")
UPSTREAM, DOWNSTREAM = "stripe.payments", "finance.daily_close"
BEFORE_MINUTES, AFTER_MINUTES = 30, 5  # the postmortem's cadences, in story minutes
DEFAULT_SCALE = 60.0  # 1 real second = 1 story minute
DEFAULT_BEFORE_EVENTS = 8  # the detector needs 15 events in all; 8 before, and it is reported about 7 after
MIN_BEFORE_EVENTS, MAX_BEFORE_EVENTS = 8, 48
MARKER = ".afkit-story-home"  # a home the story made, and may therefore wipe and make again
ALERT_CHANNEL = "#data-incidents"
WATCH_INTERVAL = 2.0  # seconds between the story watcher's passes (real seconds: it watches real events)


@dataclass(frozen=True)
class Beat:
    """One thing to tell: a ``step`` of the story, a live ``event``, or a ``message`` that reached the inbox."""

    kind: str  # step | event | message | note
    text: str
    look: tuple[str, ...] = ()  # where to see it: CLI commands, TUI panes, page sections
    data: dict = field(default_factory=dict)


def prepare_home(home: Path) -> Path:
    """A fresh story home every time (the story needs its own "before"): made, or wiped and made again when the
    story made it. Anything else that is not empty is refused, never deleted."""
    if home.exists():
        if (home / MARKER).exists():
            shutil.rmtree(home)
        elif any(home.iterdir()):
            raise BadInput(f"{home} is not empty and was not made by the story: pick another --home, or empty it")
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by afkit demo --story; wiped and made again by the next story\n")
    source = repo_dags_folder()
    if source is None:
        raise BadInput("the story needs the example DAGs, which are missing from this installation of afkit; reinstall it")
    for name in STORY_FILES:
        shutil.copy(source / name, dags / name)
    return dags


def story_env(scale: float, inbox_record: Path) -> dict[str, str]:
    """What Airflow's components get: the clock, and where the inbox keeps its messages (for the plugin)."""
    from toolkit.devserver.slack_inbox import DEMO_INBOX_ENV

    return {TIME_SCALE_ENV: f"{scale:g}", DEMO_INBOX_ENV: str(inbox_record)}


@dataclass
class StoryWatcher:
    """``afkit watch``, started the way an operator starts it, alerting the inbox; restarted if it exits."""

    home: Path
    url: str
    user: str
    password: str
    inbox: SlackInbox
    proc: subprocess.Popen | None = None
    restarts: int = 0

    @property
    def log(self) -> Path:
        return self.home / "logs" / "afkit-watch.log"

    def env(self) -> dict[str, str]:
        config = self.home / "afkit.toml"
        config.write_text("[governor]\npoll_seconds = 2\n\n[alerts]\ncadence_scan_seconds = 4\n"
                          "renotify_after_minutes = 600\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AFKIT_", "AIRFLOW"))}
        env.update({"AFKIT_URL": self.url, "AFKIT_USERNAME": self.user, "AFKIT_PASSWORD": self.password,
                    "AFKIT_STATE_URL": f"sqlite:///{self.home / 'afkit-state.db'}", "AFKIT_CONFIG": str(config),
                    "AFKIT_SLACK_TOKEN": self.inbox.token, "AFKIT_SLACK_CHANNEL": ALERT_CHANNEL,
                    "AFKIT_SLACK_BASE_URL": self.inbox.base_url, "PYTHONUNBUFFERED": "1"})
        return env

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "toolkit", "watch", "--interval", f"{WATCH_INTERVAL:g}"],
                                         env=self.env(), stdout=out, stderr=subprocess.STDOUT, cwd=self.home,
                                         start_new_session=True)

    def supervise(self) -> str | None:
        """Start it again if it exited (a few times); what to tell about it."""
        if self.proc is None or self.proc.poll() is None:
            return None
        code = self.proc.returncode
        if self.restarts >= 3:
            raise AirflowServerError(f"afkit watch keeps exiting (code {code}); its log: {self.log}")
        self.restarts += 1
        self.start()
        return f"afkit watch exited with code {code} and was started again (log {self.log})"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def story_part(text: str) -> str | None:
    """Which part of the story a message of the inbox tells (by afkit's titles, ``toolkit.core.slack_blocks.TITLE``)."""
    if text.startswith(f"Cadence change: {UPSTREAM}"):
        return "cadence"
    if text.startswith((f"AT RISK: {DOWNSTREAM}", f"Still AT RISK: {DOWNSTREAM}")):
        return "at_risk"
    if text.startswith(f"Recovered: {DOWNSTREAM}"):
        return "recovered"
    if text.startswith((f"LATE: {DOWNSTREAM}", f"Now late: {DOWNSTREAM}", f"Still LATE: {DOWNSTREAM}")):
        return "late"
    return None


class Story:
    """The postmortem, step by step. ``tick`` is called between polls (the demo supervises Airflow there)."""

    def __init__(self, client: AirflowClient, inbox: SlackInbox, watcher: StoryWatcher, *, scale: float,
                 before_events: int = DEFAULT_BEFORE_EVENTS, ui_url: str, profile: str = "story",
                 tick: Callable[[], list[str]] = list, poll: float = 1.0) -> None:
        self.client, self.inbox, self.watcher = client, inbox, watcher
        self.scale, self.before_events, self.ui_url, self.profile = scale, before_events, ui_url, profile
        self.tick, self.poll = tick, poll
        self.started = time.monotonic()
        self.switched_at: datetime | None = None
        self.posts_at_switch = 0  # messages in the inbox when the Variable changed: the story ends on later ones

    def real(self, story_minutes: float) -> float:
        """Real seconds that play ``story_minutes``."""
        return story_minutes * 60 / self.scale

    def story_time(self, seconds: float) -> str:
        """``seconds`` of real time, told in story time."""
        return format_duration(seconds * self.scale)

    def afkit(self, args: str) -> str:
        return f"afkit --profile {self.profile} {args}"

    # -- the story ---------------------------------------------------------------------------------------------------

    def play(self) -> Iterator[Beat]:
        yield from self._setup()
        yield from self._before()
        yield from self._reruns()
        yield from self._what_if()
        yield from self._switch()
        yield from self._after()
        yield from self._summary()

    def _setup(self) -> Iterator[Beat]:
        """Unpause the story's DAGs and start ``afkit watch`` once the close has written its first ledger.

        Not before: an SLA on an asset without an event counts from when the asset appeared (its DAG's first parse),
        and Airflow's start-up (parse to unpause, the first ingest, the first close) takes real seconds that a
        compressed clock makes story hours. A watcher started earlier can find the close's SLA late before the story
        began (CI saw 46 s from parse to the first ledger against a 40 s ``fail_after``), and the story would end on
        that alert instead of the postmortem's."""
        self.client.variables.set(CADENCE_VARIABLE, str(BEFORE_MINUTES),
                                  "Minutes between stripe_ingest runs (the postmortem changed it to 5)")
        wait_for_dags(self.client, STORY_DAGS)
        for dag_id in STORY_DAGS:
            self.client.dags.set_paused(dag_id, False)
        for item in self._wait("the first close to write the ledger", self.real(BEFORE_MINUTES) * 3 + 120,
                               lambda: self._live_events(DOWNSTREAM, 1)):
            if isinstance(item, Beat):
                yield item
        self.watcher.start()
        yield Beat("step", f"Story clock: {describe_scale(self.scale)}. stripe_ingest runs every {BEFORE_MINUTES} "
                           f"story minutes ({format_duration(self.real(BEFORE_MINUTES))} here); daily_finance_close "
                           f"is triggered by each {UPSTREAM} event and reconciles every batch it gets. Its first close "
                           f"has written {DOWNSTREAM}; afkit watch now runs and alerts the demo's Slack inbox.",
                   look=(f"TUI: {self.afkit('tui')} (DAGs pane; i: the demo inbox)",
                         f"page: {self.ui_url}/plugin/afkit (Freshness, Cadence, Demo Slack inbox)",
                         f"watcher log: {self.watcher.log}"))

    def _live_events(self, name: str = UPSTREAM, limit: int = 200) -> list:
        """The newest ``limit`` events of asset ``name`` not made by a backfill, oldest first."""
        asset = next((a for a in self.client.assets.list() if a.name == name), None)
        if asset is None:
            return []
        events = [e for e in self.client.assets.events(asset.id, limit) if not e.from_backfill]
        return sorted(events, key=lambda e: e.timestamp)  # the API answers newest first

    def _wait(self, what: str, timeout: float, check: Callable[[], object]) -> Iterator[Beat | object]:
        """Poll ``check`` until it returns something truthy (yielded last); notes from ``tick`` on the way."""
        deadline = time.monotonic() + timeout
        while True:
            for note in self.tick():
                yield Beat("note", note)
            note = self.watcher.supervise()
            if note:
                yield Beat("note", note)
            try:
                found = check()
            except AfkitError as exc:  # Airflow restarting a component: ask again
                found = None
                yield Beat("note", f"asked Airflow again ({exc})")
            if found:
                yield found
                return
            if time.monotonic() > deadline:
                raise AirflowServerError(f"the story stalled: {what} did not happen within "
                                         f"{format_duration(timeout)} (logs in {self.watcher.home / 'logs'})")
            time.sleep(self.poll)

    def _before(self) -> Iterator[Beat]:
        seen = 0
        timeout = self.real(BEFORE_MINUTES) * (self.before_events + 2) + 120

        def more():
            events = self._live_events()
            return events if len(events) > seen else None

        while seen < self.before_events:
            for item in self._wait(f"{self.before_events} runs of stripe_ingest", timeout, more):
                if isinstance(item, Beat):
                    yield item
                    continue
                for index in range(seen, len(item)):
                    event, seen = item[index], index + 1
                    gap = "" if index == 0 else \
                        f", {format_duration((event.timestamp - item[index - 1].timestamp).total_seconds())} after the last"
                    yield Beat("event", f"{event.timestamp:%H:%M:%S} {UPSTREAM} event {seen}{gap} "
                                        f"(run {event.source_run_id})")
        yield Beat("step", f"{seen} events every {BEFORE_MINUTES} story minutes: that is the \"before\".",
                   look=(self.afkit(f"cadence show {UPSTREAM}"), "TUI: Cadence pane (c)"))

    def _close_batches(self) -> dict[str, int]:
        """How many stripe.payments events each close run consumed."""
        return consumed_counts(self._live_events(), CLOSE)

    def _reruns(self) -> Iterator[Beat]:
        """While a close is running, the payments team re-runs the ingest twice (a bad deploy, say): the next close
        batches both events, and takes longer. That is how afkit's what-if learns what one batch costs the close."""
        for _ in range(RERUN_TRIES):
            before = set(self._close_batches())
            for item in self._wait("a close to start", self.real(BEFORE_MINUTES) * 2 + 60, self._fresh_close):
                if isinstance(item, Beat):
                    yield item
            for _ in range(RERUNS):
                self.client.dag_runs.trigger(INGEST, note="re-run by hand (afkit demo --story)")

            def batched():
                done = {r.run_id for r in self.client.dag_runs.recent(CLOSE)}
                counts = {k: v for k, v in self._close_batches().items() if k not in before and k in done}
                return counts if any(v >= RERUNS for v in counts.values()) or len(counts) >= RERUNS + 1 else None

            for item in self._wait("the close to batch the re-runs", self.real(BEFORE_MINUTES) * 3 + 60, batched):
                if isinstance(item, Beat):
                    yield item
                    continue
                if max(item.values()) >= RERUNS:
                    yield Beat("step", f"The payments team re-runs {INGEST} {RERUNS} times by hand while a close is "
                                       f"running; the next close reconciles all {max(item.values())} batches in one "
                                       "run, and takes that much longer.",
                               look=(self.afkit(f"cadence show {UPSTREAM}"),))
                    return
        yield Beat("note", "the re-runs never landed during a close: afkit's what-if will say it cannot tell how a "
                           "close grows with its batch")

    def _fresh_close(self):
        latest = self.client.dag_runs.latest(CLOSE)
        if latest is None or latest.state != "running" or latest.start_date is None:
            return None
        running_for = (datetime.now(timezone.utc) - latest.start_date).total_seconds()
        return latest if running_for < self.real(RERUN_WINDOW_MINUTES) else None

    def _what_if(self) -> Iterator[Beat]:
        """Before the change ships: what afkit says a 5-minute ingest would do to the close."""
        story_day = timedelta(seconds=self.real(24 * 60))
        sim = simulate(self.client, UPSTREAM, Rhythm(every=timedelta(seconds=self.real(AFTER_MINUTES))),
                       horizon=story_day, loop=SCHEDULER_LOOP)
        close = next((c for c in sim.proposed.consumers if c.dag_id == CLOSE), None)
        was = next((c for c in sim.current.consumers if c.dag_id == CLOSE), None) if sim.current else None
        if close is None:
            yield Beat("note", f"afkit cadence simulate found no {CLOSE} downstream of {UPSTREAM}")
            return
        per_story_day = close.runs_per_day / self.scale
        before = f"{was.runs_per_day / self.scale:.0f}" if was else "?"
        fate = "keeps up" if close.keeps_up else "cannot keep up: each close batches more than the last"
        slas = "; ".join(f"{o.asset} would go {o.status.replace('_', ' ')}" for o in close.at_risk) or "no SLA at risk"
        yield Beat("step", f"Before anyone ships it, afkit asks what a {AFTER_MINUTES}-minute ingest would do: "
                           f"{CLOSE} would run {per_story_day:.0f} times a story day instead of {before}, and "
                           f"{fate}; {slas}. (This is the postmortem's question, asked in advance.)",
                   look=(self.afkit(f"cadence simulate {UPSTREAM} --every {AFTER_MINUTES}m") + "  (the same "
                         "question in real minutes; the story asked it on its own clock)",),
                   data={"simulation": sim})

    def _switch(self) -> Iterator[Beat]:
        self.switched_at = datetime.now(timezone.utc)
        self.posts_at_switch = len(self.inbox.posts)
        self.client.variables.set(CADENCE_VARIABLE, str(AFTER_MINUTES),
                                  "Minutes between stripe_ingest runs (the postmortem changed it to 5)")
        yield Beat("step", f"The payments team sets the Variable {CADENCE_VARIABLE} from {BEFORE_MINUTES} to "
                           f"{AFTER_MINUTES}, as in the incident: a good change for them. Airflow picks it up at "
                           f"the next parse of stripe_ingest.py, which now runs every {AFTER_MINUTES} story minutes "
                           f"({format_duration(self.real(AFTER_MINUTES))} here).",
                   look=(f"Airflow UI: {self.ui_url}/variable/list", "by hand in the plain demo: airflow variables "
                                                                     f"set {CADENCE_VARIABLE} 5"))

    def _message_beat(self, post: dict) -> Beat:
        message = render(post)
        return Beat("message", "\n".join([message.title, *message.lines]),
                    data={"post": post, "mentions": message.mentions})

    def _changed_report(self):
        (report,) = cadence_reports(self.client, asset=UPSTREAM)
        return report if report.change is not None else None

    def _after(self) -> Iterator[Beat]:
        """From the switch until the finance SLA is late and the cadence alert is out, whichever comes first: the
        model seeing the change, each message reaching the inbox (a close that catches up for a moment recovers its
        SLA, and the next, bigger batch puts it at risk again)."""
        timeout = self.real(AFTER_MINUTES) * 30 + self.real(300) + 120
        deadline = time.monotonic() + timeout
        shown = 0
        seen_model = announced = late = False
        told: set[str] = set()
        while not (announced and late):
            if not seen_model:
                for item in self._wait("the cadence change to show in the model", deadline - time.monotonic(),
                                       self._changed_report):
                    if isinstance(item, Beat):
                        yield item
                        continue
                    seen_model = True
                    after = [e for e in self._live_events() if e.timestamp >= self.switched_at]
                    yield Beat("step", f"afkit's cadence model sees the change {len(after)} event(s) after the "
                                       f"switch ({self.story_time(self._since_switch())} of story time), not "
                                       "confirmed yet: a burst of re-runs looks the same at first. The seam report: "
                                       f"{item.message}",
                               look=(self.afkit(f"cadence show {UPSTREAM}"), "TUI: Cadence pane (c)",
                                     f"page: {self.ui_url}/plugin/afkit (Cadence changes)"),
                               data={"report": item, "events_after_switch": len(after)})
            for item in self._wait("the next Slack message", deadline - time.monotonic(),
                                   lambda: len(self.inbox.posts) > shown):
                if isinstance(item, Beat):
                    yield item
            for post in list(self.inbox.posts)[shown:]:
                since_switch = shown >= self.posts_at_switch  # an alert from before the switch is not the story's
                shown += 1
                text = str(post.get("text", ""))
                kind = story_part(text)
                if kind and kind not in told and since_switch:
                    told.add(kind)
                    yield self._told(kind)
                announced = announced or (since_switch and kind == "cadence")
                late = late or (since_switch and kind == "late")
                yield self._message_beat(post)

    def _since_switch(self) -> float:
        return (datetime.now(timezone.utc) - self.switched_at).total_seconds()

    def _told(self, kind: str) -> Beat:
        sla_status = f"AFKIT_STATE_URL=sqlite:///{self.watcher.home / 'afkit-state.db'} {self.afkit('sla status')}"
        when = f"{self.story_time(self._since_switch())} of story time after the switch"
        if kind == "cadence":
            return Beat("step", f"The cadence alert goes out, {when}: the new rhythm has lasted long enough to be "
                                "confirmed. It is addressed to both sides of the seam: the producer's owners and "
                                "daily_finance_close's.",
                        look=("TUI: Demo inbox pane (i)", f"page: {self.ui_url}/plugin/afkit (Demo Slack inbox)"))
        if kind == "at_risk":
            return Beat("step", f"{DOWNSTREAM}'s SLA is at risk, {when}: each close now reconciles a bigger batch "
                                "than the last, so the ledger falls behind. The alert names the cadence change as "
                                "its cause and copies the payments team.",
                        look=(sla_status, "TUI: Freshness pane (f)", f"page: {self.ui_url}/plugin/afkit (Freshness SLAs)"))
        if kind == "recovered":
            return Beat("step", "A close finished and the SLA recovered for a moment (a reply in the alert's "
                                "thread), but the batch waiting for the next one is bigger still.",
                        look=("TUI: Demo inbox pane (i): replies are indented under their alert",))
        return Beat("step", f"{DOWNSTREAM}'s SLA is late, {when}: the close can no longer keep up with a batch "
                            "every 5 minutes. This is the postmortem.", look=(sla_status,))

    def _summary(self) -> Iterator[Beat]:
        backfills = [b for dag_id in STORY_DAGS for b in self.client.backfills.list_for_dag(dag_id)]
        elapsed = time.monotonic() - self.started
        by_hand = sum(r.run_type == "manual" for dag_id in STORY_DAGS for r in self.client.dag_runs.list(dag_id))
        yield Beat("step", f"The story took {format_duration(elapsed)} ({self.story_time(elapsed)} of story time); "
                           f"{len(self.inbox.posts)} message(s) reached the inbox; {len(backfills)} backfill(s): "
                           f"every run was scheduled by Airflow but the {by_hand} re-run(s) by hand.",
                   data={"backfills": len(backfills), "messages": len(self.inbox.posts), "elapsed": elapsed})

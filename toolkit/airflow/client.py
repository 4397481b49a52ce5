"""The transport of the REST boundary: :class:`AirflowClient` is the one connection afkit makes to Airflow.

Built on apache-airflow-client. This module owns the base URL, authentication (username/password exchanged at
``/auth/token`` for a JWT, renewed before it expires and once more on a 401; or a given token), timeouts, paging,
retries (idempotent reads only) and the translation of every transport or HTTP failure into ``toolkit.errors``.
The resources (``client.dags``, ``client.backfills`` …) are the classes of :mod:`toolkit.airflow.operations`, built
here; they reach Airflow only through :meth:`AirflowClient.call`, :meth:`~AirflowClient.paged` and
:meth:`~AirflowClient.get_json`.

The generated client is imported and built only when an operation that needs it is first used: importing it takes
0.7 s, and a command served by the afkit plugin (the token exchange, the version probe and the plugin's JSON) never
needs it; those requests go through urllib3 directly.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, TypeVar
from urllib.parse import urlencode

import urllib3

from toolkit.airflow.call import PAGE_SIZE, Call, ErrorAnswer
from toolkit.airflow.plugin_operations import PluginOperations
from toolkit.config import ConnectionSettings
from toolkit.errors import (
    AfkitError,
    AirflowServerError,
    AirflowUnreachable,
    AuthenticationFailed,
    BadInput,
    Conflict,
    NotAirflow3,
    NotFound,
    PermissionDenied,
)

if TYPE_CHECKING:
    from airflow_client.client import ApiClient

    from toolkit.airflow.operations import (AssetOperations, BackfillOperations, DagOperations, DagRunOperations,
                                            MonitorOperations, PoolOperations, TaskInstanceOperations,
                                            VariableOperations)

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

TOKEN_RENEW_MARGIN_SECONDS = 30
RETRYABLE_STATUSES = frozenset({502, 503, 504})
_NO_RETRIES = urllib3.util.Retry(total=0, connect=0, read=0, redirect=0, status=0)


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT as a Unix time, read without verifying (the server verifies; we only plan renewal)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        exp = json.loads(base64.urlsafe_b64decode(payload)).get("exp")
        return float(exp) if exp is not None else None
    except (IndexError, ValueError, TypeError, AttributeError):
        return None


def _detail(answer: ErrorAnswer) -> str:
    """Airflow's own explanation from an error body (FastAPI puts it in ``detail``), without echoing headers."""
    body = answer.body
    if not body:
        return answer.reason or ""
    try:
        detail = json.loads(body).get("detail", body)
    except (ValueError, AttributeError):
        return str(body)[:300]
    if isinstance(detail, list):  # validation errors: [{"loc": ["body", "field"], "msg": ...}]
        return "; ".join(_validation_item(item) for item in detail)
    if isinstance(detail, dict):
        return detail.get("reason") or detail.get("message") or json.dumps(detail)
    return str(detail)


def _error_answer(exc: Exception) -> ErrorAnswer | None:
    """The HTTP answer behind a failed request, ``None`` when the answer could not be read; anything else is raised
    again. The generated client's exceptions are looked at only when it raised one, so it is loaded already."""
    if isinstance(exc, ErrorAnswer):
        return exc
    if isinstance(exc, ValueError):  # JSON that does not parse, or a model that does not validate (pydantic's too)
        return None
    from airflow_client.client.exceptions import ApiException, OpenApiException

    if isinstance(exc, ApiException):
        return ErrorAnswer(exc.status, exc.body, exc.reason)
    if isinstance(exc, OpenApiException):
        return None
    raise exc


def _validation_item(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = [str(p) for p in item.get("loc", [])]
    if loc and loc[0] in ("body", "query", "path"):
        loc = loc[1:]
    return f"{'.'.join(loc)}: {item.get('msg')}" if loc else str(item.get("msg"))


class _Resource(Generic[R]):
    """One of the client's REST resources (``client.dags`` …), built on first use and kept: the operations import
    the generated client, which a command served by the afkit plugin never needs."""

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, client: AirflowClient | None, owner: type | None = None) -> R:
        if client is None:
            return self  # type: ignore[return-value]
        from toolkit.airflow import operations

        built = getattr(operations, self.class_name)(client)
        client.__dict__[self.name] = built  # an instance attribute from now on: the next read skips this
        return built


class AirflowClient:
    """A connection to one Airflow 3 API server. Thread-safe for token renewal; cheap to create."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        read_retries: int = 2,
        retry_backoff: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._read_retries = read_retries
        self._retry_backoff = retry_backoff
        self._clock = clock
        # No transport-level retries: afkit decides what is safe to retry (idempotent reads only).
        self._http = urllib3.PoolManager(retries=_NO_RETRIES, maxsize=(os.cpu_count() or 1) * 5)
        self._lock = threading.Lock()  # the token, and handing it to the generated client
        self._building = threading.Lock()
        self._api: ApiClient | None = None  # the generated client, once an operation needs it
        self._token: str | None = settings.token
        self._token_expiry: float | None = _jwt_expiry(settings.token) if settings.token else None
        self._server_checked = False
        self._airflow_version: str | None = None
        self.plugins = PluginOperations(self)

    # -- the resources, built on the generated client when first used ------------------------------------------------

    dags: _Resource[DagOperations] = _Resource("DagOperations")
    pools: _Resource[PoolOperations] = _Resource("PoolOperations")
    backfills: _Resource[BackfillOperations] = _Resource("BackfillOperations")
    monitor: _Resource[MonitorOperations] = _Resource("MonitorOperations")
    variables: _Resource[VariableOperations] = _Resource("VariableOperations")
    dag_runs: _Resource[DagRunOperations] = _Resource("DagRunOperations")
    assets: _Resource[AssetOperations] = _Resource("AssetOperations")
    task_instances: _Resource[TaskInstanceOperations] = _Resource("TaskInstanceOperations")

    # -- low level -------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def api_client(self) -> ApiClient:
        """The generated client's ``ApiClient`` the operations build their ``*Api`` objects on: one per client, built
        when first asked for (operations are first used from several threads at once while a plan is made)."""
        with self._building:
            if self._api is None:
                from airflow_client.client import ApiClient, Configuration

                config = Configuration(host=self.settings.url)
                config.retries = _NO_RETRIES
                api = ApiClient(config)
                api.user_agent = "afkit"
                with self._lock:
                    config.access_token = self._token
                    self._api = api
            return self._api

    def close(self) -> None:
        self._http.clear()
        if self._api is not None:
            self._api.rest_client.pool_manager.clear()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raw(self, method: str, path: str, body: dict | None = None, *, auth: bool,
             timeout: float | None = None) -> urllib3.BaseHTTPResponse:
        """One HTTP request outside the generated operations (token exchange, version probe, the plugin's JSON)."""
        headers = {"Accept": "application/json", "User-Agent": "afkit"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return self._http.request(method, self.url + path, headers=headers,
                                  body=json.dumps(body) if body is not None else None,
                                  timeout=urllib3.Timeout(total=timeout or self.settings.timeout))

    def _unreachable(self, exc: BaseException) -> AirflowUnreachable:
        reason = getattr(exc, "reason", None) or exc
        text = str(reason)
        # urllib3 puts the object address in some messages; keep the useful tail.
        if ">:" in text:
            text = text.split(">:", 1)[1].strip()
        return AirflowUnreachable(
            f"cannot reach Airflow at {self.url} ({text}). Is the Airflow API server running at {self.url}?"
        )

    def check_server(self) -> str:
        """Confirm the URL is an Airflow 3 API server and return its version. Done once per client."""
        if self._server_checked and self._airflow_version:
            return self._airflow_version
        try:
            answer = self._raw("GET", "/api/v2/version", auth=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unreachable(exc) from None
        status, data = answer.status, answer.data
        version = None
        if status == 200:
            try:
                version = json.loads(data).get("version")
            except (ValueError, AttributeError):
                version = None
        if status == 200 and isinstance(version, str):
            if not version.startswith("3."):
                raise NotAirflow3(f"afkit needs Airflow 3.x; {self.url} answered with Airflow {version}")
            self._airflow_version = version
            self._server_checked = True
            return version
        # Not an Airflow 3 answer: find out what it is, to say something useful.
        try:
            v1 = self._raw("GET", "/api/v1/version", auth=False)
            v1_version = json.loads(v1.data).get("version") if v1.status in (200, 401, 403) else None
        except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError):
            v1_version = None
        if isinstance(v1_version, str):
            raise NotAirflow3(f"afkit needs Airflow 3.x; {self.url} answered with Airflow {v1_version} (API v1)")
        snippet = data[:80].decode("utf-8", "replace").strip().replace("\n", " ")
        raise NotAirflow3(
            f"afkit needs Airflow 3.x; {self.url} answered HTTP {status} to /api/v2/version "
            f"({snippet or 'empty body'!s}) — is this the Airflow API server URL?"
        )

    def _fetch_token(self) -> None:
        """Exchange username/password for a JWT at ``/auth/token`` (SimpleAuthManager and FAB both serve it)."""
        body = {"username": self.settings.username, "password": self.settings.password}
        try:
            answer = self._raw("POST", "/auth/token", body, auth=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._unreachable(exc) from None
        status, data = answer.status, answer.data
        if status in (200, 201):
            try:
                token = json.loads(data)["access_token"]
            except (ValueError, KeyError, TypeError):
                raise AirflowServerError(f"Airflow at {self.url} returned no access_token from /auth/token") from None
            self._token = token
            self._token_expiry = _jwt_expiry(token)
            log.debug("obtained a token for %s (expires %s)", self.settings.username, self._token_expiry)
            return
        if status in (400, 401, 403, 422):
            raise AuthenticationFailed(
                f"Airflow at {self.url} rejected the credentials of user {self.settings.username!r} "
                f"(HTTP {status}); check --username/--password, AFKIT_USERNAME/AFKIT_PASSWORD or the profile"
            )
        if status == 404:
            raise AuthenticationFailed(
                f"Airflow at {self.url} has no /auth/token endpoint (its auth manager does not issue tokens "
                "for passwords); get a token from your identity provider and pass --token"
            )
        raise AirflowServerError(f"Airflow at {self.url} failed to issue a token (HTTP {status})")

    def _ensure_token(self) -> None:
        with self._lock:
            self.check_server()
            can_renew = bool(self.settings.username and self.settings.password)
            expiring = (
                self._token_expiry is not None and self._token_expiry - TOKEN_RENEW_MARGIN_SECONDS <= self._clock()
            )
            if can_renew and (self._token is None or expiring):
                self._fetch_token()
            self._hand_token_over()

    def _renew_after_401(self) -> bool:
        if not (self.settings.username and self.settings.password):
            return False
        with self._lock:
            self._fetch_token()
            self._hand_token_over()
        return True

    def _hand_token_over(self) -> None:
        """The generated client, once built, sends the token afkit holds (called with the lock held)."""
        if self._api is not None:
            self._api.configuration.access_token = self._token

    def call(self, call: Call, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one generated-client operation with auth, retries and error translation."""
        kwargs.setdefault("_request_timeout", self.settings.timeout)
        attempts = 1 + (self._read_retries if call.idempotent else 0)
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            self._ensure_token()
            try:
                return fn(*args, **kwargs)
            except AfkitError:
                raise
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt < attempts:
                    time.sleep(self._retry_backoff * attempt)
                    continue
                raise self._unreachable(exc) from None
            except Exception as exc:
                answer = _error_answer(exc)
                if answer is None:
                    raise AirflowServerError(
                        f"Airflow at {self.url} returned a response afkit cannot read while trying to {call.what}: "
                        f"{type(exc).__name__}"
                    ) from None
                if answer.status == 401 and not renewed and self._renew_after_401():
                    renewed = True
                    attempt -= 1
                    continue
                if answer.status in RETRYABLE_STATUSES and attempt < attempts:
                    time.sleep(self._retry_backoff * attempt)
                    continue
                raise self._translate(call, answer) from None

    def _translate(self, call: Call, answer: ErrorAnswer) -> AfkitError:
        status, detail = answer.status, _detail(answer)
        if status == 401:
            if self.settings.token and not self.settings.username:
                return AuthenticationFailed(
                    f"Airflow at {self.url} rejected the token (HTTP 401: {detail}); it may have expired — "
                    "get a new one or use --username/--password so afkit can renew it"
                )
            if not self._token:
                return AuthenticationFailed(
                    f"Airflow at {self.url} requires authentication: give --username/--password or --token"
                )
            return AuthenticationFailed(f"Airflow at {self.url} rejected the session (HTTP 401: {detail})")
        if status == 403 and "invalid jwt" in detail.lower():
            return AuthenticationFailed(f"Airflow at {self.url} rejected the token as invalid (HTTP 403: {detail})")
        if status == 403:
            needed = call.permission or f"permission to {call.what}"
            who = f"user {self.settings.username!r}" if self.settings.username else "this token"
            return PermissionDenied(f"{who} lacks {needed} on Airflow at {self.url} (HTTP 403 while trying to {call.what})")
        if status == 404:
            if call.resource:
                return NotFound(f"{call.resource} does not exist on Airflow at {self.url} ({detail})")
            return NotFound(f"Airflow at {self.url} answered 404 while trying to {call.what}: {detail}")
        if status == 409:
            return Conflict(f"Airflow refused to {call.what} (HTTP 409): {detail}")
        if status in (400, 422):  # Airflow refused the request as invalid: nothing was changed
            return BadInput(f"Airflow rejected the request to {call.what} (HTTP {status}): {detail}")
        if status is not None and status >= 500:
            return AirflowServerError(f"Airflow at {self.url} failed while trying to {call.what} (HTTP {status}): {detail}")
        return AirflowServerError(f"unexpected HTTP {status} from Airflow while trying to {call.what}: {detail}")

    def paged(self, call: Call, fn: Callable[..., Any], items: str, **kwargs: Any) -> Iterator[Any]:
        """Yield every item of a list endpoint, page by page (``limit``/``offset``)."""
        offset = 0
        while True:
            page = self.call(call, fn, limit=PAGE_SIZE, offset=offset, **kwargs)
            batch = getattr(page, items) or []
            yield from batch
            offset += len(batch)
            if not batch or offset >= (page.total_entries or 0):
                return

    def get_json(self, call: Call, path: str, query: dict[str, Any]) -> Any:
        """GET a JSON endpoint outside the public API (Airflow's UI API, the afkit plugin): same server, same auth."""
        return json.loads(self.get_json_bytes(call, path, query))

    def post_json(self, call: Call, path: str, body: dict[str, Any]) -> Any:
        """POST JSON to an endpoint outside the public API (the afkit plugin); errors mapped like every call's."""
        def request(**kwargs: Any) -> Any:
            response = self._raw("POST", path, body, auth=True, timeout=kwargs.get("_request_timeout"))
            if response.status != 200:
                raise ErrorAnswer(response.status, response.data.decode("utf-8", "replace"), response.reason)
            return json.loads(response.data)

        return self.call(call, request)

    def get_json_bytes(self, call: Call, path: str, query: dict[str, Any]) -> bytes:
        """``get_json``'s answer undecoded, for a caller that decodes it into its own types."""
        target = f"{path}?{urlencode(query)}" if query else path

        def request(**kwargs: Any) -> bytes:
            response = self._raw("GET", target, auth=True, timeout=kwargs.get("_request_timeout"))
            if response.status != 200:
                raise ErrorAnswer(response.status, response.data.decode("utf-8", "replace"), response.reason)
            kind = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
            if kind != "application/json":
                # Airflow answers a path no plugin serves with its web page (HTTP 200, text/html): for a JSON
                # endpoint that means the endpoint does not exist here.
                raise NotFound(f"{call.what}: {path} is not served by this Airflow "
                               f"(it answered {kind or 'without a content type'})")
            return response.data

        return self.call(call, request)

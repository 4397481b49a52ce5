"""What the operations and the client share: a :class:`Call` (what a request is for), the page size, the
:class:`ErrorAnswer` of a failed request, and the :class:`Transport` the operations run their requests through.

A leaf module, so the dependencies run one way: ``client`` builds the ``operations`` and both import this; the
operations never import the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol, TypeVar

if TYPE_CHECKING:
    from airflow_client.client import ApiClient

T = TypeVar("T")

PAGE_SIZE = 100


@dataclass(frozen=True)
class Call:
    """What a request is for, so a failure can say so: ``what`` is a phrase ("list pools"), ``resource`` names what
    a 404 means ("DAG 'x'"), ``permission`` names what a 403 means ("read access to pools")."""

    what: str
    resource: str | None = None
    permission: str | None = None
    idempotent: bool = True


class ErrorAnswer(Exception):
    """Airflow's answer to a request that did not succeed: what the client translates into ``toolkit.errors`` (the
    generated client's ``ApiException`` is read into one, and so is a failed request made without it)."""

    def __init__(self, status: int | None, body: str | bytes | None, reason: str | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body, self.reason = status, body, reason


class Transport(Protocol):
    """What an operations class needs from :class:`~toolkit.airflow.client.AirflowClient`."""

    @property
    def api_client(self) -> ApiClient: ...

    def check_server(self) -> str: ...

    def call(self, call: Call, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    def paged(self, call: Call, fn: Callable[..., Any], items: str, **kwargs: Any) -> Iterator[Any]: ...

    def get_json(self, call: Call, path: str, query: dict[str, Any]) -> Any: ...

    def get_json_bytes(self, call: Call, path: str, query: dict[str, Any]) -> bytes: ...

    def post_json(self, call: Call, path: str, body: dict[str, Any]) -> Any: ...

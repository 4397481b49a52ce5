"""Worker threads and the event loop: handing a result over safely when the user has moved on (:func:`to_ui`),
and one periodic read at a time (:class:`OneRead`).

A read of Airflow can take seconds; meanwhile the user may leave the screen that asked for it or quit the app. The
answer must then be dropped, and the check must run on the event loop, where the DOM cannot change under it: checked
in the worker thread, a screen could still go (or the app begin to close its screens) before the loop ran the callback,
which then queried widgets that no longer exist.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

from textual.dom import DOMNode


def to_ui(node: DOMNode, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``callback(*args, **kwargs)`` on the event loop from a worker thread and return its result, or ``None``
    without running it when ``node`` has left the DOM or the app has begun to quit."""
    if not node.is_attached:  # gone already (and a worker thread finds the app only through the node's parents)
        return None
    app = node.app

    def still_wanted() -> Any:
        if not app.is_running or not node.is_attached:
            return None
        return callback(*args, **kwargs)

    try:
        return app.call_from_thread(still_wanted)
    except RuntimeError:
        if app.is_running:  # not the app stopping before the loop took the call: a real error
            raise
        return None


class OneRead:
    """A read a timer asks for every few seconds: a tick that comes while the last read is still running is skipped.

    When Airflow is slow (a busy host, an api-server just restarted), one read can outlast the interval. Started
    anyway, the reads pile up, each adds to Airflow's load, and every one of them then waits out the client's timeout:
    the app never recovers on its own (seen in CI, refreshes 2 s apart against a restarted api-server). Textual's
    ``exclusive`` workers do not prevent it, as cancelling a thread worker does not stop its thread. A read the user
    asks for (a key, an action) is not skipped.
    """

    def __init__(self) -> None:
        self._running = 0
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._running > 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Wraps the read in its worker thread."""
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1

    def tick(self, start: Callable[[], Any]) -> None:
        """For a timer: ``start()`` the read unless one is still running."""
        if not self.running:
            start()

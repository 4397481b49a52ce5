"""Handing a worker thread's result to the event loop, safely when the user has moved on.

A read of Airflow can take seconds; meanwhile the user may leave the screen that asked for it or quit the app. The
answer must then be dropped, and the check must run on the event loop, where the DOM cannot change under it: checked
in the worker thread, a screen could still go (or the app begin to close its screens) before the loop ran the callback,
which then queried widgets that no longer exist.
"""

from __future__ import annotations

from typing import Any, Callable

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

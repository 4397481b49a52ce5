"""The tests' Slack: the demo's shipped inbox (``toolkit.devserver.slack_inbox``) with a fixed test token."""

from __future__ import annotations

from toolkit.devserver.slack_inbox import SlackInbox, _Handler, running_inbox

TOKEN = "xoxb-test-secret-token"

__all__ = ["TOKEN", "FakeSlack", "_Handler", "running_fake_slack"]


class FakeSlack(SlackInbox):
    def __init__(self) -> None:
        super().__init__(TOKEN)


def running_fake_slack():
    return running_inbox(TOKEN)

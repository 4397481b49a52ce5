"""Suite-wide settings: no test may read or write the real user's afkit profiles or configuration."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    for name in ("AFKIT_URL", "AFKIT_USERNAME", "AFKIT_PASSWORD", "AFKIT_TOKEN", "AFKIT_PROFILE", "AFKIT_CONFIG"):
        monkeypatch.delenv(name, raising=False)

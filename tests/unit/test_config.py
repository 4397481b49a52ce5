"""Connection settings: flag > environment > profile, and the profile file's safety."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from toolkit.config import load_profiles, resolve_settings, save_profile
from toolkit.errors import ConfigError, ExitCode


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    path = tmp_path / "afkit" / "profiles.toml"
    save_profile(path, "prod", {"url": "http://prod:8080", "username": "p-user", "password": "p-pass"})
    save_profile(path, "stage", {"url": "http://stage:8080", "token": "s-token"})
    return path


def test_profile_used_when_nothing_else_given(profiles):
    settings = resolve_settings({}, env={}, path=profiles)
    assert (settings.url, settings.username, settings.password, settings.profile) == (
        "http://prod:8080", "p-user", "p-pass", "prod"
    )  # the first profile saved became the default


def test_environment_beats_profile(profiles):
    env = {"AFKIT_URL": "http://env:1", "AFKIT_PASSWORD": "env-pass"}
    settings = resolve_settings({}, env=env, path=profiles)
    assert (settings.url, settings.username, settings.password) == ("http://env:1", "p-user", "env-pass")


def test_flag_beats_environment_and_profile(profiles):
    env = {"AFKIT_URL": "http://env:1", "AFKIT_USERNAME": "env-user"}
    settings = resolve_settings({"url": "http://flag:2/", "username": "flag-user"}, env=env, path=profiles)
    assert (settings.url, settings.username, settings.password) == ("http://flag:2", "flag-user", "p-pass")


def test_profile_chosen_by_flag_then_environment(profiles):
    assert resolve_settings({}, env={"AFKIT_PROFILE": "stage"}, path=profiles).url == "http://stage:8080"
    chosen = resolve_settings({"profile": "prod"}, env={"AFKIT_PROFILE": "stage"}, path=profiles)
    assert chosen.url == "http://prod:8080"


def test_unknown_profile_lists_the_known_ones(profiles):
    with pytest.raises(ConfigError, match=r"profile 'nope' is not in .* \(known profiles: prod, stage\)") as caught:
        resolve_settings({"profile": "nope"}, env={}, path=profiles)
    assert caught.value.exit_code == ExitCode.BAD_INPUT


def test_missing_url_says_how_to_give_one(tmp_path):
    with pytest.raises(ConfigError, match="pass --url, set AFKIT_URL, or create a profile"):
        resolve_settings({}, env={}, path=tmp_path / "none.toml")


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://x", "http://"])
def test_bad_url_is_rejected(url, tmp_path):
    with pytest.raises(ConfigError, match="is not an http"):
        resolve_settings({"url": url}, env={}, path=tmp_path / "none.toml")


def test_api_suffix_and_slashes_are_stripped(tmp_path):
    assert resolve_settings({"url": "http://a:1/api/v2/"}, env={}, path=tmp_path / "x").url == "http://a:1"


def test_user_without_password_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="user 'ops' has no password"):
        resolve_settings({"url": "http://a:1", "username": "ops"}, env={}, path=tmp_path / "x")


def test_bad_timeout(tmp_path):
    with pytest.raises(ConfigError, match="timeout '-1' must be a positive number"):
        resolve_settings({"url": "http://a:1", "timeout": "-1"}, env={}, path=tmp_path / "x")


def test_profile_file_is_owner_only_and_keeps_other_profiles(profiles):
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    save_profile(profiles, "prod", {"url": "http://prod2:8080", "username": "u", "password": "secret \"quoted\""})
    data = load_profiles(profiles)
    assert set(data["profiles"]) == {"prod", "stage"}
    assert data["profiles"]["prod"]["password"] == 'secret "quoted"'
    assert data["default"] == "prod"


def test_settings_repr_hides_secrets(profiles):
    settings = resolve_settings({}, env={}, path=profiles)
    assert "p-pass" not in repr(settings) and "p-pass" not in settings.describe()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "is not valid TOML"),
        ('[profiles.a]\nurl = "http://a"\nsecret = "x"\n', "unknown key"),
        ("[profiles.a]\nurl = 5\n", "must be a string"),
    ],
)
def test_broken_profile_file_is_named(tmp_path, text, message):
    path = tmp_path / "profiles.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_settings({}, env={}, path=path)
    assert str(path) in str(caught.value)

"""Connection settings: flag > environment > profile, and the profile file's safety."""

from __future__ import annotations

import os
import stat
import tomllib
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


# -- the writer: a real TOML writer, so whatever a person types reads back as typed ------------------------------------

AWKWARD = {
    "emoji": "pass 😀 word 🚀",
    "accents": "Zoë Ångström-Müller, ñandú",
    "quotes": 'say "hi" and \'bye\'',
    "backslashes": "C:\\new\\table \\u0041 \\\\",
    "newlines": "line one\nline two\r\nthree",
    "controls": "nul\x00 bell\x07 esc\x1b del\x7f tab\t unit-sep\x1f",
    "toml-syntax": '"""\n[profiles.evil]\nurl = "http://evil"\n#',
}


@pytest.mark.parametrize("kind", sorted(AWKWARD))
def test_awkward_values_round_trip_through_the_file(tmp_path, kind):
    path = tmp_path / "profiles.toml"
    value = AWKWARD[kind]
    save_profile(path, "prod", {"url": "http://prod:8080", "username": value, "password": value, "token": value})
    assert load_profiles(path)["profiles"] == {
        "prod": {"url": "http://prod:8080", "username": value, "password": value, "token": value}}
    assert set(tomllib.loads(path.read_text(encoding="utf-8"))) == {"default", "profiles"}  # nothing injected
    settings = resolve_settings({}, env={}, path=path)
    assert (settings.username, settings.token) == (value, value)


def test_every_awkward_value_at_once_in_many_profiles(tmp_path):
    """Saving one profile rewrites the file: the others, and the default, must survive every rewrite intact."""
    path = tmp_path / "profiles.toml"
    for n, (kind, value) in enumerate(sorted(AWKWARD.items())):
        save_profile(path, f"p{n}", {"url": f"http://h{n}:1", "username": value, "password": value})
    profiles = load_profiles(path)
    assert profiles["default"] == "p0"
    assert {name: values["password"] for name, values in profiles["profiles"].items()} == {
        f"p{n}": value for n, (_, value) in enumerate(sorted(AWKWARD.items()))}


def test_non_ascii_profile_names_are_written_as_valid_toml(tmp_path):
    path = tmp_path / "profiles.toml"
    save_profile(path, "produção", {"url": "http://a:1"})
    save_profile(path, "staging-2", {"url": "http://b:1"}, make_default=True)
    data = load_profiles(path)
    assert set(data["profiles"]) == {"produção", "staging-2"} and data["default"] == "staging-2"
    assert resolve_settings({"profile": "produção"}, env={}, path=path).url == "http://a:1"


def test_a_value_that_is_not_unicode_text_is_refused_and_nothing_is_written(tmp_path):
    """Undecodable bytes in an argument reach Python as lone surrogates, which UTF-8 cannot hold."""
    path = tmp_path / "profiles.toml"
    save_profile(path, "prod", {"url": "http://prod:8080"})
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="the password of profile 'stage' holds characters that are not valid "
                                          "Unicode text") as caught:
        save_profile(path, "stage", {"url": "http://s:1", "username": "u", "password": "bad\udcffbyte"})
    assert "bad" not in str(caught.value)  # a secret, even a broken one, is not echoed
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["profiles.toml"]


def test_the_file_is_replaced_atomically_and_stays_owner_only(tmp_path):
    path = tmp_path / "afkit" / "profiles.toml"
    save_profile(path, "prod", {"url": "http://prod:8080"})
    path.chmod(0o644)  # even if someone loosened it
    save_profile(path, "stage", {"url": "http://stage:8080"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["profiles.toml"]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "profiles.toml"
    save_profile(path, "prod", {"url": "http://prod:8080"})
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ConfigError, match=r"profile file .* cannot be written: No space left on device"):
        save_profile(path, "stage", {"url": "http://stage:8080"})
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["profiles.toml"]


# -- a broken profile file: reported, and in the way only of commands that need it -------------------------------------

# What the first profile writer (json.dumps, ASCII only) wrote for a password with an emoji: TOML refuses it.
OLD_WRITER_FILE = 'default = "prod"\n\n[profiles.prod]\npassword = "pw \\ud83d\\ude00"\nurl = "http://prod:8080"\n'
BROKEN = {
    "old-writer-emoji": OLD_WRITER_FILE,
    "not-toml": "not toml [",
    "unknown-key": '[profiles.a]\nurl = "http://a"\nsecret = "x"\n',
    "not-utf8": b"\xff\xfe[profiles]",
}


@pytest.fixture(params=sorted(BROKEN))
def broken(request, tmp_path) -> Path:
    path = tmp_path / "profiles.toml"
    content = BROKEN[request.param]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_a_broken_file_does_not_block_a_url_and_token_from_flags(broken):
    settings = resolve_settings({"url": "http://flag:1", "token": "t"}, env={}, path=broken)
    assert (settings.url, settings.token, settings.profile) == ("http://flag:1", "t", None)
    (warning,) = settings.warnings
    assert warning.startswith(f"profile file {broken}") and "ignored (the Airflow URL comes from --url)" in warning


def test_a_broken_file_does_not_block_afkit_variables(broken):
    env = {"AFKIT_URL": "http://env:1", "AFKIT_USERNAME": "ops", "AFKIT_PASSWORD": "pw"}
    settings = resolve_settings({}, env=env, path=broken)
    assert (settings.url, settings.username, settings.password) == ("http://env:1", "ops", "pw")
    assert "comes from AFKIT_URL" in settings.warnings[0] and str(broken) in settings.warnings[0]


@pytest.mark.parametrize(
    ("flags", "env"),
    [({}, {}), ({"profile": "prod"}, {}), ({}, {"AFKIT_PROFILE": "prod"}),
     ({"url": "http://flag:1", "profile": "prod"}, {}), ({}, {"AFKIT_URL": "http://env:1", "AFKIT_PROFILE": "prod"}),
     ({}, {"AFKIT_URL": ""})],  # an empty variable is unset
    ids=["nothing-given", "profile-flag", "profile-variable", "url-and-profile-flag", "url-and-profile-variable",
         "empty-url-variable"],
)
def test_a_broken_file_blocks_a_command_that_needs_it(broken, flags, env):
    with pytest.raises(ConfigError) as caught:
        resolve_settings(flags, env=env, path=broken)
    assert str(caught.value).startswith(f"profile file {broken}") and caught.value.exit_code == ExitCode.BAD_INPUT


def test_the_old_writers_emoji_escapes_are_explained(tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text(OLD_WRITER_FILE)
    with pytest.raises(ConfigError, match=r"not valid TOML: .*earlier afkit versions wrote non-ASCII characters as "
                                          r"\\uD83D-style escapes.*add it again"):
        load_profiles(path)


def test_saving_never_replaces_a_file_it_cannot_read(broken):
    before = broken.read_bytes()
    with pytest.raises(ConfigError) as caught:
        save_profile(broken, "new", {"url": "http://new:1"})
    message = str(caught.value)
    assert message.startswith(f"profile file {broken}") and "nothing was written (fix or move that file" in message
    assert broken.read_bytes() == before
    assert sorted(p.name for p in broken.parent.iterdir()) == ["profiles.toml"]

"""How the operator side finds and authenticates to Airflow.

Precedence is flag > environment (``AFKIT_*``) > profile. A profile is a named table in
``$XDG_CONFIG_HOME/afkit/profiles.toml`` (``~/.config/afkit/profiles.toml``); the file holds secrets, so it is written
with owner-only permissions and never printed.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

import tomli_w

from toolkit.errors import BadInput, ConfigError
from toolkit.files import read_text_limited

ENV_PREFIX = "AFKIT_"
PROFILE_KEYS = ("url", "username", "password", "token")
SECRET_KEYS = frozenset({"password", "token"})
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 3600.0
LEVELS = ("flag", "environment", "profile")
MAX_PROFILE_FILE_BYTES = 1024 * 1024  # profiles are a few lines each
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")  # how afkit's first profile writer spelled emoji


@dataclass(frozen=True)
class ConnectionSettings:
    """Where Airflow is and how to authenticate. Secrets are excluded from ``repr`` so they cannot leak into logs."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    profile: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    # Problems found on the way that did not stop the command (a broken profile file it did not need); each edge
    # shows them. Not part of the settings' identity.
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def describe(self) -> str:
        """One line naming the target and the auth method, safe to print."""
        if self.token:
            how = "with a token"
        elif self.username:
            how = f"as {self.username!r}"
        else:
            how = "without credentials"
        source = f" (profile {self.profile!r})" if self.profile else ""
        return f"{self.url} {how}{source}"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".config")
    return Path(base) / "afkit"


def profiles_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "profiles.toml"


def normalise_url(url: str, what: str = "Airflow URL") -> str:
    """Validate an Airflow base URL and strip trailing slashes and an accidental ``/api/v2`` suffix."""
    url = url.strip().rstrip("/")
    if url.endswith("/api/v2"):
        url = url[: -len("/api/v2")]
    example = "an http(s) URL such as http://localhost:8080"
    if not url:
        raise ConfigError(f"{what} is empty: give {example}")
    if "@" in url.partition("://")[2].partition("/")[0]:  # checked first: no message may quote such a URL
        raise ConfigError(f"{what} holds a user name or password (user:password@…): give the URL without them, and "
                          "the credentials as a username and password, or a token")
    shown = url if len(url) <= 80 else url[:77] + "…"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ConfigError(f"{what} {shown!r} contains spaces or control characters: give {example}")
    try:
        parsed = urlparse(url)
        port = parsed.port  # raises ValueError for a port that is not a number or above 65535
    except ValueError as exc:
        raise ConfigError(f"{what} {shown!r} is not valid ({exc}): give {example}") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"{what} {shown!r} is not {example}")
    if port == 0:
        raise ConfigError(f"{what} {shown!r}: port 0 is not a port to connect to")
    if parsed.query or parsed.fragment:
        raise ConfigError(f"{what} {shown!r} has a query or fragment: give only the base URL, {example}")
    return url


def _no_profiles() -> dict:
    return {"default": None, "profiles": {}}


def load_profiles(path: Path) -> dict:
    """Read the profile file: ``{"default": name | None, "profiles": {name: {key: value}}}``."""
    if not path.exists() and not path.is_symlink():
        return _no_profiles()
    try:
        text = read_text_limited(path, "profile file", limit=MAX_PROFILE_FILE_BYTES)
    except BadInput as exc:  # a configuration error, in the bounded reader's words
        raise ConfigError(str(exc)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        hint = ""
        if SURROGATE_ESCAPE.search(text):
            hint = (" (earlier afkit versions wrote non-ASCII characters as \\uD83D-style escapes, which TOML refuses: "
                    "remove that profile's lines and add it again)")
        raise ConfigError(f"profile file {path} is not valid TOML: {exc}{hint}") from None
    profiles = data.get("profiles", {})
    default = data.get("default")
    if not isinstance(profiles, dict) or (default is not None and not isinstance(default, str)):
        raise ConfigError(f"profile file {path}: expected `default = \"name\"` and [profiles.NAME] tables")
    for name, values in profiles.items():
        if not isinstance(values, dict):
            raise ConfigError(f"profile file {path}: [profiles.{name}] must be a table")
        unknown = sorted(set(values) - set(PROFILE_KEYS))
        if unknown:
            raise ConfigError(
                f"profile file {path}: [profiles.{name}] has unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(PROFILE_KEYS)}"
            )
        for key, value in values.items():
            if not isinstance(value, str):
                raise ConfigError(f"profile file {path}: [profiles.{name}] {key} must be a string")
    return {"default": default, "profiles": profiles}


def save_profile(path: Path, name: str, values: Mapping[str, str | None], *, make_default: bool = False) -> None:
    """Add or replace one profile, keeping the others; the file is replaced atomically with mode 0600.

    A profile file that cannot be read is refused, not overwritten: it may hold the user's other profiles.
    """
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"profile name {name!r} must be letters, digits, '-' or '_'")
    kept = {k: v for k, v in values.items() if v is not None and k in PROFILE_KEYS}
    for key, value in kept.items():
        if not _is_unicode_text(value):  # e.g. undecodable bytes in an argument: TOML files are UTF-8
            raise ConfigError(f"the {key} of profile {name!r} holds characters that are not valid Unicode text")
    try:
        data = load_profiles(path)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; nothing was written (fix or move that file, then save the profile again)") from None
    data["profiles"][name] = kept
    if make_default or not data["default"]:
        data["default"] = name
    text = tomli_w.dumps({"default": data["default"],
                          "profiles": {pname: dict(sorted(data["profiles"][pname].items()))
                                       for pname in sorted(data["profiles"])}})
    _write_owner_only(path, text)


def _is_unicode_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _write_owner_only(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a temporary file renamed over it), readable by the owner only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".profiles.", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"profile file {path} cannot be written: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"profile file {path} cannot be written: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve_settings(
    flags: Mapping[str, str | None],
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> ConnectionSettings:
    """Merge flags, ``AFKIT_*`` environment variables and the chosen profile (in that order of precedence).

    ``flags`` may hold ``url, username, password, token, profile, timeout``; ``None`` means "not given". A flag that
    is given is used as given: an empty one is refused, never replaced by the environment's or the profile's value
    (an empty environment variable counts as unset). The way to authenticate comes from the first level that gives a
    token or a password: a ``--token`` is never completed with a password from the environment or a profile (an
    expired token then fails as such instead of silently logging in as someone else), and a ``--password`` is never
    overridden by a stored token.
    """
    env = os.environ if env is None else env
    for key in (*PROFILE_KEYS, "profile", "timeout"):
        value = flags.get(key)
        if value is not None and not str(value).strip():
            fallback = "the profile file's default" if key == "profile" else "the profile"
            raise ConfigError(f"--{key} is empty: give a value, or leave the option out "
                              f"to use AFKIT_{key.upper()} or {fallback}")
    path = profiles_path(env) if path is None else path
    data, warnings = _profiles_if_needed(path, flags, env)
    profile_name = flags.get("profile") or env.get(f"{ENV_PREFIX}PROFILE") or data["default"]
    profile: Mapping[str, str] = {}
    if profile_name:
        if profile_name not in data["profiles"]:
            known = ", ".join(sorted(data["profiles"])) or "none"
            raise ConfigError(f"profile {profile_name!r} is not in {path} (known profiles: {known})")
        profile = data["profiles"][profile_name]

    def found(key: str) -> tuple[str | None, int]:
        """The value of ``key`` and its level (0 flag, 1 environment, 2 profile; 3 when nowhere)."""
        for level, value in enumerate((flags.get(key), env.get(f"{ENV_PREFIX}{key.upper()}"), profile.get(key))):
            if value:
                return value, level
        return None, len(LEVELS)

    url, url_level = found("url")
    if not url:
        raise ConfigError(
            "no Airflow URL: pass --url, set AFKIT_URL, or create a profile (`afkit profile add NAME --url …`)"
        )
    timeout_raw = flags.get("timeout") or env.get(f"{ENV_PREFIX}TIMEOUT")
    try:
        timeout = float(timeout_raw) if timeout_raw else DEFAULT_TIMEOUT_SECONDS
        if not math.isfinite(timeout) or not 0 < timeout <= MAX_TIMEOUT_SECONDS:
            raise ValueError
    except ValueError:
        what = "--timeout" if flags.get("timeout") else "AFKIT_TIMEOUT"
        raise ConfigError(f"{what} {timeout_raw!r} must be a positive number of seconds, at most "
                          f"{MAX_TIMEOUT_SECONDS:g}") from None
    (username, user_level), (password, password_level), (token, token_level) = (
        found("username"), found("password"), found("token"))
    if token and token_level < password_level:  # the token is the chosen way: nothing from below completes it
        password = None
        if user_level > token_level:
            username = None
    elif password and password_level < token_level:
        token = None
    if username and not password and not token:
        raise ConfigError(f"user {username!r} has no password: pass --password, set AFKIT_PASSWORD or use a profile")
    what = {0: "--url", 1: "AFKIT_URL", 2: f"url of profile {profile_name!r}"}[url_level]
    return ConnectionSettings(
        url=normalise_url(url, what),
        username=username,
        password=password,
        token=token,
        profile=profile_name,
        timeout=timeout,
        warnings=warnings,
    )


def _profiles_if_needed(path: Path, flags: Mapping[str, str | None],
                        env: Mapping[str, str]) -> tuple[dict, tuple[str, ...]]:
    """The profile file's content, and the warnings to show about it.

    A file that cannot be read stops the command only when the command needs it: a profile is chosen by name, or no
    URL is given otherwise. When the flags or the environment give the URL, the file is skipped with a warning, so
    one bad edit (or a file from an older afkit) does not lock the user out of every command.
    """
    try:
        return load_profiles(path), ()
    except ConfigError as exc:
        if flags.get("profile") or env.get(f"{ENV_PREFIX}PROFILE"):
            raise
        given_by = "--url" if flags.get("url") else f"{ENV_PREFIX}URL" if env.get(f"{ENV_PREFIX}URL") else None
        if given_by is None:
            raise
        return _no_profiles(), (f"{exc}; its profiles are ignored (the Airflow URL comes from {given_by})",)


def redacted(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """A copy safe to print: secrets replaced by ``***``."""
    return {k: ("***" if k in SECRET_KEYS and v else v) for k, v in values.items()}


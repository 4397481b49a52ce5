"""How the operator side finds and authenticates to Airflow.

Precedence is flag > environment (``AFKIT_*``) > profile. A profile is a named table in
``$XDG_CONFIG_HOME/afkit/profiles.toml`` (``~/.config/afkit/profiles.toml``); the file holds secrets, so it is written
with owner-only permissions and never printed.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

from toolkit.errors import ConfigError

ENV_PREFIX = "AFKIT_"
PROFILE_KEYS = ("url", "username", "password", "token")
SECRET_KEYS = frozenset({"password", "token"})
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ConnectionSettings:
    """Where Airflow is and how to authenticate. Secrets are excluded from ``repr`` so they cannot leak into logs."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    profile: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS

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


def normalise_url(url: str) -> str:
    """Validate an Airflow base URL and strip trailing slashes and an accidental ``/api/v2`` suffix."""
    url = url.strip().rstrip("/")
    if url.endswith("/api/v2"):
        url = url[: -len("/api/v2")]
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"Airflow URL {url!r} is not an http(s) URL such as http://localhost:8080")
    return url


def load_profiles(path: Path) -> dict:
    """Read the profile file: ``{"default": name | None, "profiles": {name: {key: value}}}``."""
    if not path.exists():
        return {"default": None, "profiles": {}}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"profile file {path} cannot be read: {exc}") from None
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


def _toml_string(value: str) -> str:
    # A JSON string with only \" \\ \n \t \uXXXX escapes is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def save_profile(path: Path, name: str, values: Mapping[str, str | None], *, make_default: bool = False) -> None:
    """Add or replace one profile, keeping the others; the file is replaced atomically with mode 0600."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"profile name {name!r} must be letters, digits, '-' or '_'")
    data = load_profiles(path)
    data["profiles"][name] = {k: v for k, v in values.items() if v is not None and k in PROFILE_KEYS}
    if make_default or not data["default"]:
        data["default"] = name
    lines = [f"default = {_toml_string(data['default'])}", ""]
    for pname in sorted(data["profiles"]):
        lines.append(f"[profiles.{pname}]")
        lines.extend(f"{key} = {_toml_string(val)}" for key, val in sorted(data["profiles"][pname].items()))
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".profiles.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve_settings(
    flags: Mapping[str, str | None],
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> ConnectionSettings:
    """Merge flags, ``AFKIT_*`` environment variables and the chosen profile (in that order of precedence).

    ``flags`` may hold ``url, username, password, token, profile, timeout``; ``None`` means "not given".
    """
    env = os.environ if env is None else env
    path = profiles_path(env) if path is None else path
    data = load_profiles(path)
    profile_name = flags.get("profile") or env.get(f"{ENV_PREFIX}PROFILE") or data["default"]
    profile: Mapping[str, str] = {}
    if profile_name:
        if profile_name not in data["profiles"]:
            known = ", ".join(sorted(data["profiles"])) or "none"
            raise ConfigError(f"profile {profile_name!r} is not in {path} (known profiles: {known})")
        profile = data["profiles"][profile_name]

    def pick(key: str) -> str | None:
        for value in (flags.get(key), env.get(f"{ENV_PREFIX}{key.upper()}"), profile.get(key)):
            if value:
                return value
        return None

    url = pick("url")
    if not url:
        raise ConfigError(
            "no Airflow URL: pass --url, set AFKIT_URL, or create a profile (`afkit profile add NAME --url …`)"
        )
    timeout_raw = flags.get("timeout") or env.get(f"{ENV_PREFIX}TIMEOUT")
    try:
        timeout = float(timeout_raw) if timeout_raw else DEFAULT_TIMEOUT_SECONDS
        if timeout <= 0:
            raise ValueError
    except ValueError:
        raise ConfigError(f"timeout {timeout_raw!r} must be a positive number of seconds") from None
    username, password, token = pick("username"), pick("password"), pick("token")
    if username and not password and not token:
        raise ConfigError(f"user {username!r} has no password: pass --password, set AFKIT_PASSWORD or use a profile")
    return ConnectionSettings(
        url=normalise_url(url),
        username=username,
        password=password,
        token=token,
        profile=profile_name,
        timeout=timeout,
    )


def redacted(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """A copy safe to print: secrets replaced by ``***``."""
    return {k: ("***" if k in SECRET_KEYS and v else v) for k, v in values.items()}


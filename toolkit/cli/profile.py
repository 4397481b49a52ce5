"""``afkit profile``: named connection settings in the user's config directory (file mode 0600)."""

from __future__ import annotations

import click

from toolkit.cli.options import echo_json, json_option
from toolkit.config import load_profiles, normalise_url, profiles_path, save_profile
from toolkit.errors import ConfigError
from toolkit.render import table


@click.group()
def profile() -> None:
    """Manage connection profiles."""


@profile.command("add")
@click.argument("name")
@click.option("--url", required=True, help="Airflow base URL.")
@click.option("--username", help="Airflow user.")
@click.option("--password", help="Password (prompted when --username is given without it).")
@click.option("--token", help="A bearer token instead of a password.")
@click.option("--default", "make_default", is_flag=True, help="Use this profile when none is chosen.")
@json_option("profile (its name), path (the profile file) and default (whether it was made the default).")
def add(name: str, url: str, username: str | None, password: str | None, token: str | None, make_default: bool,
        as_json: bool) -> None:
    """Add or replace profile NAME.

    \b
    Example:
      afkit profile add prod --url https://airflow.example.com --username ops
    """
    for flag, value in (("--username", username), ("--password", password), ("--token", token)):
        if value is not None and not value.strip():
            raise ConfigError(f"{flag} is empty: give a value, or leave the option out")  # never stored, never sent
    if username is None and password is not None:
        raise ConfigError("--password needs --username: a password belongs to a user")
    if username and password is None and token is None:
        password = click.prompt(f"Password for {username}", hide_input=True)
        if not password.strip():
            raise ConfigError(f"the password for {username!r} is empty")
    path = profiles_path()
    save_profile(path, name, {"url": normalise_url(url, "--url"), "username": username, "password": password, "token": token},
                 make_default=make_default)
    if as_json:
        echo_json({"profile": name, "path": str(path), "default": make_default})
    else:
        click.echo(f"Saved profile {name!r} in {path}")


def _auth(values: dict) -> str:
    """How a profile authenticates, named without its secret."""
    return "token" if values.get("token") else ("password" if values.get("password") else "none")


@profile.command("list")
@json_option("default (the default profile's name, or null) and profiles: one object per profile with name, url, "
             "username, auth (token | password | none) and default; secrets are never shown.")
def list_profiles(as_json: bool) -> None:
    """List profiles (secrets are never shown)."""
    data = load_profiles(profiles_path())
    profiles = [{"name": name, "url": values.get("url"), "username": values.get("username"), "auth": _auth(values),
                 "default": name == data["default"]} for name, values in sorted(data["profiles"].items())]
    if as_json:
        echo_json({"default": data["default"], "profiles": profiles})
        return
    rows = [("*" if p["default"] else "", p["name"], p["url"] or "", p["username"] or "", p["auth"]) for p in profiles]
    click.echo(table(["default", "profile", "url", "username", "auth"], rows) if rows else "No profiles.")

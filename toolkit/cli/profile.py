"""``afkit profile``: named connection settings in the user's config directory (file mode 0600)."""

from __future__ import annotations

import click

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
def add(name: str, url: str, username: str | None, password: str | None, token: str | None, make_default: bool) -> None:
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
    click.echo(f"Saved profile {name!r} in {path}")


@profile.command("list")
def list_profiles() -> None:
    """List profiles (secrets are never shown)."""
    data = load_profiles(profiles_path())
    rows = [
        ("*" if name == data["default"] else "", name, values.get("url", ""), values.get("username", ""),
         "token" if values.get("token") else ("password" if values.get("password") else "none"))
        for name, values in sorted(data["profiles"].items())
    ]
    click.echo(table(["default", "profile", "url", "username", "auth"], rows) if rows else "No profiles.")

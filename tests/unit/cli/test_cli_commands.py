"""The ``afkit`` command group: subcommands load lazily and the help lists each with its own description."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from toolkit.cli.main import COMMANDS, cli


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_help_is_the_commands_own_first_line(name):
    command = cli.get_command(None, name)
    assert command is not None and command.name == name
    assert COMMANDS[name][1] == command.get_short_help_str(limit=200)


def test_help_lists_every_command_and_unknown_ones_are_refused():
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for name, (_, short) in COMMANDS.items():
        assert f"{name}" in result.output and short in result.output
    refused = runner.invoke(cli, ["backfil"])
    assert refused.exit_code == 2 and "No such command 'backfil'" in refused.output

"""``afkit completion bash|zsh|fish``: click's completion script for the shell, calling afkit back through
``_AFKIT_COMPLETE``; and that call answers with afkit's own commands."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from toolkit.cli.completion import COMPLETE_VAR, SHELLS
from toolkit.cli.main import cli


@pytest.mark.parametrize("shell", SHELLS)
def test_the_script_of_each_shell_calls_afkit_back(shell):
    result = CliRunner().invoke(cli, ["completion", shell], prog_name="afkit")
    assert result.exit_code == 0, result.output
    assert f"{COMPLETE_VAR}={shell}_complete" in result.stdout


def test_the_help_says_how_to_install_it():
    result = CliRunner().invoke(cli, ["completion", "--help"], prog_name="afkit")
    assert "~/.bashrc" in result.stdout and "fish/completions/afkit.fish" in result.stdout and "_afkit" in result.stdout


def test_completing_lists_the_commands_and_a_commands_options():
    def complete(words: str, cword: int) -> list[str]:
        env = {COMPLETE_VAR: "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        result = CliRunner().invoke(cli, [], env=env, prog_name="afkit")
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]

    assert set(complete("afkit ba", 1)) == {"backfill"}
    assert {"--max-active-runs", "--json"} <= set(complete("afkit backfill plan --", 3))
    assert set(complete("afkit completion ", 2)) == set(SHELLS)

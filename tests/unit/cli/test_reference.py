"""docs/cli.md and docs/exit-codes.md are generated from the code (``toolkit.cli.reference``): they say every
command, option, default and --json shape, and every exit code; a test fails when either file drifts."""

from __future__ import annotations

import re

import pytest

from toolkit.cli import reference
from toolkit.cli.main import cli
from toolkit.errors import EXIT_CODES, ExitCode


@pytest.mark.parametrize("name", sorted(reference.GENERATORS))
def test_the_generated_docs_are_up_to_date(name):
    path = reference.DOCS / name
    assert path.is_file(), f"{path} is missing: run {reference.REGENERATE}"
    assert path.read_text(encoding="utf-8") == reference.GENERATORS[name](), (
        f"{path} differs from what the code defines: run {reference.REGENERATE} and commit the result")


def test_the_check_names_a_stale_file_and_write_fixes_it(tmp_path, capsys):
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 1
    assert "cli.md is out of date: run python -m toolkit.cli.reference --write" in capsys.readouterr().err
    assert reference.main(["--write", "--docs", str(tmp_path)]) == 0
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 0
    (tmp_path / "exit-codes.md").write_text("edited by hand\n")
    assert reference.stale(tmp_path) == [tmp_path / "exit-codes.md"]


def test_the_cli_reference_has_every_command_option_default_and_json_shape():
    text = reference.cli_reference()
    for ctx, command in reference.walk(cli):
        assert f"`{ctx.command_path}`" in text
        shape = reference.json_shape(command)
        if shape is not None:
            assert f"**`--json`** prints {shape.replace('``', '`')}" in text
    assert "| `--max-active-runs INTEGER` | `10` | Runs of one DAG at a time" in text
    assert "| `--reprocess [none\\|failed\\|completed]` | `none` |" in text
    assert "Sentinel" not in text and "RANGE" not in text


def test_every_exit_code_has_a_meaning_and_a_row():
    assert set(EXIT_CODES) == set(ExitCode) and all(EXIT_CODES.values())
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+) \|$", reference.exit_codes_reference(), re.MULTILINE)
    assert [(int(code), name) for code, name, _ in rows] == [(int(c), c.name) for c in ExitCode]

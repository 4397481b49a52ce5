"""docs/configuration.md against the code: every afkit.toml key the parser accepts and every ``AFKIT_*`` variable the
code reads is in the page's tables, nothing else is, and the page's examples are valid for the real parsers.

The keys come from the parser's own definitions (``service_config.KNOWN_SECTIONS``, ``throttle.POOLS_KEYS`` and
``POOL_KEYS``, ``service_config.NOTIFIER_CLASS_KEY``, ``config.PROFILE_KEYS``); the variables from a scan of the
source of toolkit/, plugins/ and dags/ for ``AFKIT_*`` names in string literals. Variables only the tests read
(``AFKIT_TEST_*``, ``AFKIT_STACK_*``) belong to docs/testing.md and are left out here.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from toolkit import config
from toolkit.core.throttle import POOL_KEYS, POOLS_KEYS
from toolkit.devserver import clock
from toolkit.service_config import KNOWN_SECTIONS, NOTIFIER_CLASS_KEY, parse_service_config

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "configuration.md"
SOURCES = ("toolkit", "plugins", "dags")
TEST_ONLY = ("AFKIT_TEST_", "AFKIT_STACK_")  # documented in docs/testing.md
# An AFKIT_ name, whole: not the tail of another name (click's _AFKIT_COMPLETE, set by the completion script it
# prints) and not a prefix or wildcard (``AFKIT_SLACK_*``, ``AFKIT_{key}``).
VARIABLE = re.compile(r"(?<![A-Za-z0-9_])AFKIT_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_*{])")
BACKTICKED = re.compile(r"`([^`]+)`")

# afkit.toml as its parser defines it: each table's heading on the page -> the keys the parser accepts in it.
# KNOWN_SECTIONS has every section; [pools] is free-form there (toolkit.core.throttle parses it: its own keys, and
# every other entry is a [pools.NAME] table).
TABLES: dict[str, set[str]] = {name: set(keys) for name, keys in KNOWN_SECTIONS.items() if keys is not None}
TABLES["pools"] = set(POOLS_KEYS)
TABLES["pools.NAME"] = set(POOL_KEYS)
TABLES["alerts.notifiers.NAME"] = {NOTIFIER_CLASS_KEY}
FREE_FORM = {"alerts.notifiers.NAME"}  # every key but class is passed to the notifier: one "any other key" row


# -- reading the page ----------------------------------------------------------------------------------------------


@dataclass
class Section:
    level: int
    title: str
    body: str


def sections(text: str) -> list[Section]:
    """The page cut at its headings (lines in fenced code blocks are not headings)."""
    found: list[Section] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"(#+) (.*)", line)
        if heading:
            found.append(Section(len(heading.group(1)), heading.group(2).strip(), ""))
        elif found:
            found[-1].body += line + "\n"
    return found


def cells(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def tables(body: str) -> list[tuple[list[str], list[list[str]]]]:
    """Each markdown table in ``body``: its header cells and its rows' cells."""
    found, current = [], None
    for line in body.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        if current is None:
            current = (cells(line), [])
            found.append(current)
        elif not re.fullmatch(r"\|[\s|:-]+\|?", line.strip()):
            current[1].append(cells(line))
    return found


def fenced_blocks(body: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", body, flags=re.M | re.S)


TEXT = PAGE.read_text(encoding="utf-8")
SECTIONS = sections(TEXT)


def section(title: str) -> Section:
    matches = [s for s in SECTIONS if s.title == title]
    assert len(matches) == 1, f"{PAGE.name} should have one heading {title!r}, has {len(matches)}"
    return matches[0]


def key_table(title: str) -> list[list[str]]:
    found = tables(section(title).body)
    assert found, f"{PAGE.name}: no table under {title!r}"
    return found[0][1]


def toml_tables() -> dict[str, list[list[str]]]:
    """The page's afkit.toml tables: the heading (``### `[governor]` `` -> ``governor``) -> its table's rows."""
    start = SECTIONS.index(section("afkit.toml"))
    found = {}
    for sec in SECTIONS[start + 1:]:
        if sec.level <= 2:
            break
        name = re.fullmatch(r"`\[([^\]]+)\]`", sec.title)
        if name:
            found[name.group(1)] = key_table(sec.title)
    return found


def keys_of(rows: list[list[str]]) -> list[str]:
    """The keys a table's rows document: the backticked names in their first cells."""
    return [key for row in rows for key in BACKTICKED.findall(row[0])]


# -- reading the code ----------------------------------------------------------------------------------------------


def source_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in (ROOT / folder).rglob("*.py"))


def variables_in(tree: ast.AST, where: str) -> tuple[dict[str, set[str]], list[str]]:
    """The ``AFKIT_*`` names a module spells in its string literals, and the places that build one at run time
    (``f"{ENV_PREFIX}{key.upper()}"``, ``"AFKIT_" + name``), which a scan cannot name."""
    names: dict[str, set[str]] = {}
    dynamic: list[str] = []

    def add(name: str, node: ast.AST) -> None:
        names.setdefault(name, set()).add(f"{where}:{node.lineno}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # f-strings' literal parts too
            for name in VARIABLE.findall(node.value):
                add(name, node)
        elif isinstance(node, ast.JoinedStr):
            parts = node.values
            for part, after in zip(parts, [*parts[1:], None]):
                prefix = (isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name)
                          and part.value.id == "ENV_PREFIX")
                if prefix and isinstance(after, ast.Constant) and re.match(r"[A-Z0-9_]*[A-Z0-9]", after.value):
                    add("AFKIT_" + re.match(r"[A-Z0-9_]*[A-Z0-9]", after.value).group(), node)
                elif prefix or (isinstance(part, ast.Constant) and part.value.endswith("AFKIT_")
                                and isinstance(after, ast.FormattedValue)):
                    dynamic.append(f"{where}:{node.lineno}")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and (
                (isinstance(node.left, ast.Constant) and str(node.left.value).endswith("AFKIT_"))
                or (isinstance(node.left, ast.Name) and node.left.id == "ENV_PREFIX")):
            dynamic.append(f"{where}:{node.lineno}")
    return names, dynamic


def variables_read() -> dict[str, set[str]]:
    """Every ``AFKIT_*`` name the code reads (test-only ones left out), with where it is spelled."""
    names: dict[str, set[str]] = {}
    dynamic: list[str] = []
    for path in source_files():
        where = path.relative_to(ROOT).as_posix()
        found, built = variables_in(ast.parse(path.read_text(encoding="utf-8")), where)
        for name, places in found.items():
            names.setdefault(name, set()).update(places)
        dynamic += built
    # toolkit/config.py builds its names from the connection settings: AFKIT_<KEY> for every profile key (the flags'
    # environment level in resolve_settings). Anywhere else a built name is one this test cannot see: spell it.
    unresolved = [place for place in dynamic if not place.startswith("toolkit/config.py:")]
    assert not unresolved, (f"AFKIT_* names built at run time at {', '.join(unresolved)}: spell each variable in a "
                            "string literal, or teach this test how to name them")
    if dynamic:
        for key in config.PROFILE_KEYS:
            names.setdefault(config.ENV_PREFIX + key.upper(), set()).add("toolkit/config.py (PROFILE_KEYS)")
    return {name: places for name, places in names.items() if not name.startswith(TEST_ONLY)}


def variable_rows() -> list[tuple[str, list[str]]]:
    """The ``AFKIT_*`` rows of the page's variable tables (first header cell ``variable``): (name, cells)."""
    rows = []
    for sec in SECTIONS:
        for header, body in tables(sec.body):
            if header[0] == "variable":
                rows += [(name, row) for row in body for name in VARIABLE.findall(row[0])]
    return rows


# -- afkit.toml ----------------------------------------------------------------------------------------------------


def test_the_page_has_a_table_for_every_afkit_toml_section_and_no_other():
    documented = set(toml_tables())
    missing, unknown = sorted(set(TABLES) - documented), sorted(documented - set(TABLES))
    assert not missing, f"afkit.toml tables the parser reads that have no heading on the page: {missing}"
    assert not unknown, f"afkit.toml tables on the page that the parser does not know: {unknown}"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_table_lists_exactly_the_keys_the_parser_accepts(table):
    rows = toml_tables().get(table)
    assert rows is not None, f"{PAGE.name} has no `[{table}]` heading"
    # A key whose value is a table of named tables has its own heading instead of a row ([alerts] notifiers).
    expected = {k for k in TABLES[table] if f"{table}.{k}.NAME" not in TABLES}
    documented = keys_of(rows)
    assert not expected - set(documented), f"[{table}] keys missing from the page: {sorted(expected - set(documented))}"
    assert not set(documented) - expected, (f"[{table}] keys on the page that the parser does not accept: "
                                            f"{sorted(set(documented) - expected)}")
    assert len(documented) == len(set(documented)), f"[{table}] lists a key twice: {documented}"
    free = [row for row in rows if not BACKTICKED.search(row[0])]
    if table in FREE_FORM:
        assert len(free) == 1 and "other key" in free[0][0], f"[{table}] needs one row for any other key"
    else:
        assert not free, f"[{table}] has rows that name no key: {free}"


def test_the_parser_refuses_a_key_the_page_does_not_list():
    """What the tables above rely on: the parser's definitions are what it enforces."""
    for table in sorted(set(TABLES) - FREE_FORM):
        heading = table.replace("NAME", "example")
        errors = parse_service_config(f"[{heading}]\nnot_a_key = 1\n").errors
        assert any("not_a_key" in e for e in errors), f"[{heading}] accepts a key it does not define: {errors}"
    errors = parse_service_config("[nope]\n").errors
    assert any("[nope]" in e for e in errors), f"an unknown section is accepted: {errors}"


def test_the_complete_example_is_valid_and_sets_every_key():
    blocks = fenced_blocks(section("afkit.toml").body, "toml")
    assert blocks, "the afkit.toml section has no ```toml example"
    text = blocks[0]
    data = tomllib.loads(text)
    parsed = parse_service_config(text)
    assert parsed.errors == (), f"the page's afkit.toml example is refused by the parser: {parsed.errors}"
    parsed.require_valid()

    def keys(value: dict, path: tuple[str, ...] = ()):
        """(table heading, key) for every value the example sets; a named table ([pools.warehouse]) as NAME."""
        for key, item in value.items():
            if isinstance(item, dict):
                inner = ".".join((*path, key))
                named = not any(t == inner or t.startswith(inner + ".") for t in TABLES)
                yield from keys(item, (*path, "NAME" if named else key))
            else:
                yield ".".join(path), key

    used = {f"{table}.{key}" for table, key in keys(data)}
    wanted = {f"{t}.{k}" for t, ks in TABLES.items() for k in ks if f"{t}.{k}.NAME" not in TABLES}
    assert not wanted - used, f"the complete example leaves out {sorted(wanted - used)}"


def literal(cell: str) -> str | None:
    """A cell that is one backticked TOML value (`10`, `"25%"`), as TOML text; None otherwise."""
    match = re.fullmatch(r"`([^`]+)`", cell.strip())
    if not match:
        return None
    try:
        tomllib.loads(f"v = {match.group(1)}")
    except tomllib.TOMLDecodeError:
        return None
    return match.group(1)


def key_rows(where=lambda row: True) -> list:
    """pytest params (table, key, {column: cell}) for every keyed row of the afkit.toml tables that ``where`` picks."""
    found = []
    for table, rows in toml_tables().items():
        header = tables(section(f"`[{table}]`").body)[0][0]
        for row in rows:
            for key in BACKTICKED.findall(row[0]):
                if where(dict(zip(header, row))):
                    found.append(pytest.param(table, key, dict(zip(header, row)), id=f"{table}.{key}"))
    return found


def document(table: str, key: str, value: str) -> str:
    heading = table.replace("NAME", "example")
    extra = f'{NOTIFIER_CLASS_KEY} = "a.b.C"\n' if table in FREE_FORM and key != NOTIFIER_CLASS_KEY else ""
    return f"[{heading}]\n{extra}{key} = {value}\n"


@pytest.mark.parametrize(("table", "key", "row"), key_rows())
def test_each_key_example_is_valid_and_each_literal_default_is_the_parser_default(table, key, row):
    example = literal(row["example"])
    assert example is not None, f"[{table}] {key}: the example {row['example']!r} is not one backticked TOML value"
    errors = parse_service_config(document(table, key, example)).errors
    assert errors == (), f"[{table}] {key} = {example}, the page's example, is refused: {errors}"
    default = literal(row["default"])
    if default is not None and "NAME" not in table:  # a default in words (`[pools] default_reserve`) is not checked
        assert parse_service_config(document(table, key, default)) == parse_service_config(""), (
            f"[{table}] {key} = {default}, the page's default, is not what the parser uses without the key")


@pytest.mark.parametrize(("table", "key", "row"),
                         key_rows(lambda row: re.search(r"above 0, at most \d+", row["type"])))
def test_each_range_on_the_page_is_the_parsers(table, key, row):
    most = int(re.search(r"at most (\d+)", row["type"]).group(1))
    assert parse_service_config(document(table, key, str(most))).errors == (), f"[{table}] {key} = {most} refused"
    for refused in (0, most + 1):
        errors = parse_service_config(document(table, key, str(refused))).errors
        assert any(key in e for e in errors), f"[{table}] {key} = {refused} accepted, the page says above 0 up to {most}"


# -- the profile file ----------------------------------------------------------------------------------------------


def test_the_profile_table_lists_exactly_the_profile_keys_and_its_example_loads(tmp_path):
    rows = key_table("The profile file")
    documented = [k for k in keys_of(rows) if not k.startswith("[")]
    expected = {*config.PROFILE_KEYS, "default"}  # "default": the file's one top-level key (load_profiles)
    assert set(documented) == expected and len(documented) == len(expected), (
        f"profile keys: missing {sorted(expected - set(documented))}, unknown {sorted(set(documented) - expected)}")
    example = tmp_path / "profiles.toml"
    example.write_text(fenced_blocks(section("The profile file").body, "toml")[0], encoding="utf-8")
    loaded = config.load_profiles(example)
    assert loaded["default"] in loaded["profiles"]


# -- environment variables -----------------------------------------------------------------------------------------


def test_every_variable_the_code_reads_has_a_row_and_every_row_is_read():
    read = variables_read()
    rows = [name for name, _ in variable_rows()]
    missing = {name: sorted(read[name]) for name in sorted(set(read) - set(rows))}
    assert not missing, f"AFKIT_* variables the code reads that no table row of {PAGE.name} documents: {missing}"
    unknown = sorted(set(rows) - set(read))
    assert not unknown, f"AFKIT_* variables documented in {PAGE.name} that the code does not read: {unknown}"
    twice = sorted({name for name in rows if rows.count(name) > 1})
    assert not twice, f"AFKIT_* variables with more than one row: {twice}"


def test_every_row_has_a_type_a_default_an_example_and_a_meaning():
    for name, row in variable_rows():
        assert len(row) == 5 and all(row[1:]), f"{name}: the row needs a type, a default, an example and a meaning"


def test_the_numbers_of_the_variable_rows_are_the_codes():
    rows = dict(variable_rows())
    timeout = rows["AFKIT_TIMEOUT"]
    assert f"at most {config.MAX_TIMEOUT_SECONDS:g}" in timeout[1], timeout
    assert timeout[2] == f"`{config.DEFAULT_TIMEOUT_SECONDS:g}`", timeout
    assert f"1 to {clock.MAX_SCALE}" in rows[clock.TIME_SCALE_ENV][1], rows[clock.TIME_SCALE_ENV]


def test_the_page_names_no_variable_the_code_does_not_read():
    """Prose too: a variable named anywhere on the page is a real one (test-only ones are docs/testing.md's)."""
    read = variables_read()
    named = {n for n in VARIABLE.findall(TEXT) if not n.startswith(TEST_ONLY)}
    assert not named - set(read), f"{PAGE.name} names variables the code does not read: {sorted(named - set(read))}"
    listed = {name for name, _ in variable_rows() if name.startswith(TEST_ONLY)}
    assert not listed, f"test-only variables belong in docs/testing.md, not in a table here: {sorted(listed)}"


def test_the_other_variables_are_read_by_the_code():
    rows = key_table("Other variables afkit reads")
    code = "\n".join(p.read_text(encoding="utf-8") for p in source_files())
    for name in keys_of(rows):
        spelled = name.rstrip("*")
        assert f'"{spelled}' in code, f"{name} is documented as read by afkit, but no string in the code names it"


def test_the_scan_finds_literals_prefixed_names_and_refuses_names_it_cannot_see():
    names, dynamic = variables_in(ast.parse(
        'A = "AFKIT_ONE"\nB = f"{ENV_PREFIX}TWO"\nC = "set AFKIT_THREE=1, not _AFKIT_FOUR nor AFKIT_FIVE_*"\n'
        'D = f"{ENV_PREFIX}{key.upper()}"\nE = "AFKIT_" + key\nF = f"use AFKIT_{key}"\n'), "m.py")
    assert set(names) == {"AFKIT_ONE", "AFKIT_TWO", "AFKIT_THREE"}
    assert sorted(dynamic) == ["m.py:4", "m.py:5", "m.py:6"]

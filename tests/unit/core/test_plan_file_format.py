"""The plan file format: files written by earlier afkit versions still load, the published JSON Schema and the docs
say what the reader does, and the issue's leaks are closed.

``plan_files/v1-*.json`` were written by the writer of format 1 before the reader moved to a schema library; they are
kept as they were written, never regenerated.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

from toolkit.config import normalise_url
from toolkit.core.planfile import (
    FINGERPRINT_KEY,
    PlanFile,
    decode_plan,
    decode_plan_text,
    plan_file_schema,
    plan_file_schema_text,
    plan_file_text,
    plan_from_dict,
)
from toolkit.errors import BadInput, ConfigError, ExitCode
from toolkit.files import read_plan
from toolkit import plan_schema

from .test_planfile_validation import PLANS, saved

ROOT = Path(__file__).resolve().parents[3]
WRITTEN_BEFORE = sorted((Path(__file__).parent / "plan_files").glob("v1-*.json"))
SCHEMA_FILE = ROOT / "docs" / "plan-file.schema.json"
DOC = ROOT / "docs" / "plan-file.md"


# -- files written by earlier versions -------------------------------------------------------------------------------


def test_the_corpus_of_earlier_files_is_there():
    assert {p.stem for p in WRITTEN_BEFORE} >= {"v1-pipeline", "v1-partition-range", "v1-unlimited-pool",
                                                  "v1-reprocess-failed"}


@pytest.mark.parametrize("path", WRITTEN_BEFORE, ids=lambda p: p.stem)
def test_a_plan_file_written_by_the_earlier_writer_loads_unedited_and_writes_back_identically(path):
    loaded = read_plan(path)
    assert loaded.edited is False and loaded.why == ""
    assert plan_file_text(loaded.plan) == path.read_text(encoding="utf-8")  # nothing lost, nothing reinterpreted


@pytest.mark.parametrize("path", WRITTEN_BEFORE, ids=lambda p: p.stem)
def test_files_from_before_carved_pools_conditions_and_fingerprints_still_load(path):
    """The optional keys: budgets[].carved, impacts[].needs and the fingerprint came later than the format."""
    data = json.loads(path.read_text())
    for budget in data["budgets"]:
        del budget["carved"]
    for impact in data["impacts"]:
        del impact["needs"]
    del data[FINGERPRINT_KEY]
    loaded = decode_plan(data, path.name)
    assert loaded.edited and "no fingerprint" in loaded.why
    assert all(not b.carved for b in loaded.plan.budgets) and all(i.needs == () for i in loaded.plan.impacts)
    assert loaded.plan == read_plan(path).plan


def test_the_writer_and_the_schema_have_the_same_keys():
    """Every key the writer writes is in the schema, and the reader knows no key the writer never writes (a key
    with a default could otherwise drift out of the writer unnoticed)."""

    def keys(kind, value, path="$"):
        kind = msgspec.inspect.type_info(kind) if not isinstance(kind, msgspec.inspect.Type) else kind
        while isinstance(kind, (msgspec.inspect.UnionType, msgspec.inspect.Metadata)):
            kind = next(t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)) if isinstance(
                kind, msgspec.inspect.UnionType) else kind.type
        found = []
        if isinstance(kind, msgspec.inspect.StructType) and value is not None:
            # every key the writer writes is known; it leaves out only keys the reader has a default for
            assert set(value) <= {f.encode_name for f in kind.fields}, path
            assert {f.encode_name for f in kind.fields if f.required} <= set(value), path
            for f in (f for f in kind.fields if f.encode_name in value):
                found += [f"{path}.{f.encode_name}", *keys(f.type, value[f.encode_name], f"{path}.{f.encode_name}")]
        elif isinstance(kind, (msgspec.inspect.VarTupleType, msgspec.inspect.ListType)):
            for item in value:
                found += keys(kind.item_type, item, f"{path}[]")
        elif isinstance(kind, msgspec.inspect.DictType):
            for item in value.values():
                found += keys(kind.value_type, item, f"{path}{{}}")
        return found

    seen = set()
    for plan in PLANS.values():
        seen.update(keys(PlanFile, saved(plan)))
    assert {"$.dags[].partitions[].run_id", "$.options.policy.pools{}.backfill_cap", "$.budgets[].carved",
            "$.impacts[].needs", "$.fingerprint", "$.options.start_after", "$.sla_risks[].fixes[].at",
            "$.sla_risks[].fixes[].reserve"} <= seen
    assert every_key(PlanFile) == seen  # some real plan writes each key the reader knows


def every_key(kind, path="$") -> set[str]:
    """Every key path of the format, as ``keys`` above names them."""
    kind = msgspec.inspect.type_info(kind) if not isinstance(kind, msgspec.inspect.Type) else kind
    while isinstance(kind, (msgspec.inspect.UnionType, msgspec.inspect.Metadata)):
        kind = next(t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)) if isinstance(
            kind, msgspec.inspect.UnionType) else kind.type
    if isinstance(kind, msgspec.inspect.StructType):
        return {k for f in kind.fields for k in (f"{path}.{f.encode_name}", *every_key(f.type, f"{path}.{f.encode_name}"))}
    if isinstance(kind, (msgspec.inspect.VarTupleType, msgspec.inspect.ListType)):
        return every_key(kind.item_type, f"{path}[]")
    if isinstance(kind, msgspec.inspect.DictType):
        return every_key(kind.value_type, f"{path}{{}}")
    return set()


# -- the issue's cases -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["dags"][1].update(upstream=[1, None]), "$.dags[1].upstream[0]: expected str, got 1"),
        (lambda d: d["dags"][1].update(upstream=["raw_ingest", None]), "$.dags[1].upstream[1]: expected str, got null"),
        (lambda d: d.update(warnings=[{}]), "$.warnings[0]: expected str, got an object"),
        (lambda d: d["impacts"][0].update(owners=[42]), "$.impacts[0].owners[0]: expected str, got 42"),
        (lambda d: d["options"].update(max_active_runs=-5), "$.options.max_active_runs: expected int >= 1, got -5"),
        (lambda d: d.update(force=True), "$.force: unknown field"),
        (lambda d: d["dags"][0]["steps"][0].update(dag_id="x"), "$.dags[0].steps[0].dag_id: unknown field"),
    ],
    ids=["upstream-number", "upstream-null", "warnings-object", "owners-number", "max-active-runs-negative",
         "unknown-top-key", "unknown-nested-key"],
)
def test_the_issues_cases_are_refused_with_the_field_path(tmp_path, edit, message):
    data = saved()
    edit(data)
    path = tmp_path / "x.json"
    path.write_text(json.dumps(data, indent=2))
    with pytest.raises(BadInput) as caught:
        read_plan(path)
    assert str(caught.value) == f"plan file {path}: {message}"
    assert caught.value.exit_code == ExitCode.BAD_INPUT


def test_a_newer_format_asks_for_a_newer_afkit():
    data = saved()
    data["schema_version"] = 2
    with pytest.raises(BadInput, match=r"^plan file p.json has schema version 2; this afkit reads up to 1: upgrade "):
        plan_from_dict(data, "p.json")


def test_the_core_messages_name_no_command_line_flag():
    """The reader is core: its messages say what is wrong in the file, each edge says what to type."""
    for message in _refusals():
        assert not re.search(r"(?<![\w$.])--[a-z]", message), message


def _refusals():
    for edit in (lambda d: d["options"].update(max_active_runs=0), lambda d: d["options"].update(reprocess="all"),
                 lambda d: d["options"]["partitions"].update(first="2026-11-01"),
                 lambda d: d["dags"][0]["steps"][0].update(runs=9), lambda d: d.update(schema_version=7)):
        data = saved()
        edit(data)
        try:
            plan_from_dict(data, "p.json")
        except BadInput as exc:
            yield str(exc)
        else:
            raise AssertionError("accepted")


# -- credentials never reach a plan file -----------------------------------------------------------------------------


def test_a_plan_file_with_credentials_in_its_url_is_refused_without_quoting_them():
    data = saved()
    data["airflow_url"] = "http://ops:hunter2@airflow:8080"
    with pytest.raises(BadInput, match=r"\$\.airflow_url: holds a user name or password") as caught:
        plan_from_dict(data, "p.json")
    assert "hunter2" not in str(caught.value)


def test_a_url_with_credentials_is_refused_before_any_plan_is_made():
    """The plan's airflow_url is the connection's URL: refused there, it can never be written into a plan."""
    with pytest.raises(ConfigError, match="holds a user name or password") as caught:
        normalise_url("http://ops:hunter2@airflow:8080", "--url")
    assert "hunter2" not in str(caught.value)


def test_no_written_plan_holds_a_secret_of_the_settings():
    for plan in PLANS.values():
        text = plan_file_text(plan).lower()
        assert not any(word in text for word in ("password", "token", "secret", "hooks.slack", "authorization"))


# -- the published schema and the docs -------------------------------------------------------------------------------


def test_the_published_schema_is_the_readers():
    committed = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    assert committed == plan_file_schema_text(), (
        "docs/plan-file.schema.json differs from the plan file reader's schema: regenerate it with "
        "`python -m toolkit.plan_schema` and commit it")


def test_the_schema_generator_writes_the_file(tmp_path, capsys):
    target = tmp_path / "schema.json"
    assert plan_schema.main([str(target)]) == ExitCode.OK
    assert target.read_text() == plan_file_schema_text() and str(target) in capsys.readouterr().out
    assert plan_schema.main(["a", "b"]) == ExitCode.BAD_INPUT
    assert plan_schema.main([str(tmp_path / "missing" / "x.json")]) == ExitCode.BAD_INPUT
    assert "cannot write the plan file schema" in capsys.readouterr().err


def _validator():
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (an Airflow dependency) is not installed")
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_every_real_plan_is_valid_under_the_published_schema():
    validator = _validator()
    for name, plan in PLANS.items():
        errors = [e.message for e in validator.iter_errors(saved(plan))]
        assert errors == [], name
    for path in WRITTEN_BEFORE:
        assert [e.message for e in validator.iter_errors(json.loads(path.read_text()))] == [], path.name


@pytest.mark.parametrize(
    "edit",
    [lambda d: d["dags"][1].update(upstream=[1, None]), lambda d: d.update(warnings=[{}]),
     lambda d: d["impacts"][0].update(owners=[42]), lambda d: d["options"].update(max_active_runs=-5),
     lambda d: d.update(force=True), lambda d: d["dags"][0].update(dag_id="../x"),
     lambda d: d["dags"][0].update(dag_id="raw_ingest\n"), lambda d: d.update(plan_id="0123456789abcdef\n"),
     lambda d: d["budgets"][0].update(slots=-2), lambda d: d.update(schema_version=2)],
    ids=["upstream", "warnings", "owners", "max-active-runs", "unknown-key", "dag-id-path", "dag-id-newline",
         "plan-id-newline", "slots", "version"],
)
def test_the_published_schema_refuses_what_the_reader_refuses(edit):
    """Other tools validating against the published schema see the same types, ranges and keys as afkit."""
    validator = _validator()
    data = saved()
    edit(data)
    assert list(validator.iter_errors(data)), "the schema accepted it"
    with pytest.raises(BadInput):
        plan_from_dict(data, "p.json")


def test_the_doc_describes_every_field_of_the_schema():
    doc = DOC.read_text(encoding="utf-8")
    definitions = plan_file_schema()["$defs"]
    missing = sorted(f"{name}.{field}" for name, definition in definitions.items()
                     for field in definition["properties"] if f"`{field}`" not in doc)
    assert missing == [], f"docs/plan-file.md does not describe {missing}"


def test_the_docs_example_is_a_real_plan_file():
    doc = DOC.read_text(encoding="utf-8")
    example = re.search(r"## Example\n.*?```json\n(.*?)```", doc, re.DOTALL)[1]
    assert example == (Path(__file__).parent / "plan_files" / "v1-partition-range.json").read_text()
    assert decode_plan_text(example, "docs/plan-file.md").edited is False


def test_the_docs_sample_messages_are_the_readers():
    """The refusals quoted in docs/plan-file.md are what the reader says (for the pipeline plan they were made on)."""
    doc = DOC.read_text(encoding="utf-8")
    quoted = re.findall(r"^Error: plan file plan\.json: (.*)$", doc, re.MULTILINE)
    assert len(quoted) >= 5
    edits = {
        "$.dags[1].upstream[1]": lambda d: d["dags"][1].update(upstream=["raw_ingest", None]),
        "$.options.max_active_runs": lambda d: d["options"].update(max_active_runs=-5),
        "$.impacts[0].owners[0]": lambda d: d["impacts"][0].update(owners=[42]),
        "$.options.max_active_run": lambda d: d["options"].update(max_active_run=5),
        "$.dags[0].pool_demand.warehouse": lambda d: d["dags"][0]["pool_demand"].update(warehouse=-2),
        "$.dags[0].steps": lambda d: d["dags"][0]["steps"][0].update(runs=9),
    }
    for line in quoted:
        data = saved()
        edits[line.split(":")[0]](data)
        with pytest.raises(BadInput) as caught:
            plan_from_dict(data, "plan.json")
        assert str(caught.value) == f"plan file plan.json: {line}"

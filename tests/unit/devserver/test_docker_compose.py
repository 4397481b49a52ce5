"""docker/: the compose file and the Dockerfile, checked without a Docker engine (none runs on the build machines).

What can be checked here is checked against the real thing rather than against a copy of it: Airflow commands are
parsed by Airflow's own CLI parser, afkit commands by afkit's click group, AFKIT_* variables by afkit's own settings
readers, Airflow settings against Airflow's configuration reference, versions against constraints.txt and
toolkit.__version__. Values that Compose would interpolate from the host are filled in here from ``HOST_ENV``
(placeholders, not secrets).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

import click
import pytest
import yaml

from toolkit import __version__ as afkit_version  # the one version (pyproject.toml reads it)
from toolkit import config as afkit_config
from toolkit import slack, state
from toolkit.devserver import launcher

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
IMAGE_AIRFLOW_HOME = "/opt/airflow"  # AIRFLOW_HOME of the official apache/airflow image

CORE_SERVICES = {"postgres", "airflow-init", "api-server", "scheduler", "dag-processor", "triggerer", "afkit-watch"}
CELERY_SERVICES = {"redis", "celery-worker-1", "celery-worker-2"}
ONE_SHOT_SERVICES = {"airflow-init"}
SECRET_SETTINGS = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY",
                   "AIRFLOW_ADMIN_PASSWORD", "AFKIT_PASSWORD")
WATCH_NEEDS = {"AFKIT_URL", "AFKIT_USERNAME", "AFKIT_PASSWORD", "AFKIT_STATE_URL"}
SLACK_SETTINGS = {"AFKIT_SLACK_TOKEN", "AFKIT_SLACK_CHANNEL", "AFKIT_SLACK_WEBHOOK_URL", "AFKIT_SLACK_CONN_ID"}

# What `docker compose` would read from the host or docker/.env: placeholders only.
HOST_ENV = {
    "AIRFLOW_FERNET_KEY": "placeholder-fernet-key",
    "AIRFLOW_JWT_SECRET": "placeholder-jwt-secret",
    "AIRFLOW_API_SECRET_KEY": "placeholder-api-secret-key",
    "AIRFLOW_ADMIN_PASSWORD": "placeholder-admin-password",
}

# -- reading the compose file as Compose would ----------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariable(KeyError):
    pass


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation (``$$``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and the forms
    without colon). Stricter than Compose in one way: a plain ``${VAR}`` that is unset is an error, not empty."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg, current = match.group("op"), match.group("arg"), env.get(name)
        if op in (":-", "-"):
            use_default = not current if op == ":-" else current is None
            return arg if use_default else current
        if op in (":?", "?"):
            if (not current) if op == ":?" else current is None:
                raise MissingVariable(f"{name}: {arg}")
            return current
        if current is None:
            raise MissingVariable(name)
        return current

    return _INTERPOLATION.sub(substitute, value)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    return node


@pytest.fixture(scope="module")
def raw() -> dict:
    """The compose file as written (YAML anchors and merge keys applied, ``${…}`` not yet interpolated)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(raw: dict) -> dict:
    """Every service with the host's variables interpolated from ``HOST_ENV``."""
    return resolve(raw["services"], HOST_ENV)


def service_env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def script_invocations(script: str) -> list[list[str]]:
    """The airflow and afkit commands a shell script runs (one command per line, optionally after ``exec``)."""
    found = []
    for line in script.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line)
        if words[:1] == ["exec"]:
            words = words[1:]
        if words[:1] in (["airflow"], ["afkit"]):
            found.append(words)
    return found


def command_invocations(command: list[str] | str) -> list[list[str]]:
    """What a service's command runs through the official image's entrypoint: ``bash``/``python`` run as given,
    anything else is an airflow subcommand (with or without a leading ``airflow``)."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["bash", "-c"]:
        return script_invocations(words[2])
    if words[:1] == ["python"]:
        return []
    if words[:1] == ["airflow"]:
        words = words[1:]
    return [["airflow", *words]]


def healthcheck_invocations(service: dict) -> list[list[str]]:
    test = (service.get("healthcheck") or {}).get("test") or []
    if isinstance(test, str):
        return script_invocations(test)
    if test[:1] == ["CMD"]:
        return [list(test[1:])] if test[1:2] in (["airflow"], ["afkit"]) else []
    if test[:1] == ["CMD-SHELL"]:
        return script_invocations(test[1])
    return []


def all_invocations(services: dict) -> dict[str, list[list[str]]]:
    return {
        name: (command_invocations(svc["command"]) if "command" in svc else []) + healthcheck_invocations(svc)
        for name, svc in services.items()
    }


def is_airflow_service(service: dict) -> bool:
    return "build" in service


def constraint_pin(package: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{package} is not pinned in constraints.txt")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    logical, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        logical.append(pending + line)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text.strip() else "")
            for text in logical]


def airflow_config_reference() -> dict:
    spec = importlib.util.find_spec("airflow")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("apache-airflow is not installed (the 'airflow' extra)")
    path = Path(list(spec.submodule_search_locations)[0]) / "config_templates" / "config.yml"
    return yaml.safe_load(path.read_text())


# -- services, profiles, images --------------------------------------------------------------------------------------


def test_core_services_run_by_default_and_celery_ones_only_under_the_celery_profile(services):
    default = {name for name, svc in services.items() if not svc.get("profiles")}
    assert default == CORE_SERVICES
    profiled = {name: svc["profiles"] for name, svc in services.items() if svc.get("profiles")}
    assert profiled == {name: ["celery"] for name in CELERY_SERVICES}

    workers = [name for name, calls in all_invocations(services).items() if ["airflow", "celery", "worker"] in calls]
    assert sorted(workers) == ["celery-worker-1", "celery-worker-2"]


def test_compose_spec_without_version_and_common_settings_from_one_anchor(raw, services):
    assert "version" not in raw
    common = raw["x-airflow-common"]
    assert "&airflow-common" in COMPOSE_FILE.read_text()
    airflow_services = {name for name, svc in services.items() if is_airflow_service(svc)}
    assert airflow_services == (CORE_SERVICES | CELERY_SERVICES) - {"postgres", "redis"}
    common_env = service_env(resolve(common, HOST_ENV))
    for name in airflow_services:
        svc = services[name]
        assert svc["image"] == common["image"] and svc["build"] == common["build"], name
        env = service_env(svc)
        assert {k: env.get(k) for k in common_env} == common_env, f"{name} lost common settings"


def test_every_image_is_pinned_to_an_exact_version(raw, services):
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag and tag != "latest", f"{name}: {image} is not pinned"
        if is_airflow_service(svc):
            assert image == f"afkit-airflow:{afkit_version}", name
        elif repository == "postgres":  # PostgreSQL 10+ versions are MAJOR.MINOR
            assert re.fullmatch(r"\d+\.\d+(-[a-z0-9.]+)?", tag), f"{name}: {image}"
        else:
            assert re.fullmatch(r"\d+\.\d+\.\d+(-[a-z0-9.]+)?", tag), f"{name}: {image}"
    assert raw["services"]["postgres"]["image"].startswith("postgres:16.")


def test_dockerfile_extends_the_official_image_of_the_pinned_airflow_and_python():
    airflow_pin = constraint_pin("apache-airflow")
    header = re.search(r"--python-version (\d+\.\d+)", (ROOT / "constraints.txt").read_text())
    assert header, "constraints.txt no longer says which Python it was compiled for"
    steps = dockerfile_instructions()
    froms = [i for i, (instruction, _) in enumerate(steps) if instruction == "FROM"]
    assert [steps[i][1] for i in froms] == ["${AIRFLOW_BASE_IMAGE}"]
    # The base is a build argument (docker/stack_test.py builds on a local equivalent) declared before FROM, whose
    # default is the official image of the pinned Airflow and Python.
    base_args = [i for i, (instruction, args) in enumerate(steps)
                 if instruction == "ARG" and args.split("=", 1)[0] == "AIRFLOW_BASE_IMAGE"]
    assert len(base_args) == 1 and base_args[0] < froms[0]
    assert steps[base_args[0]][1] == f"AIRFLOW_BASE_IMAGE=apache/airflow:{airflow_pin}-python{header.group(1)}"
    assert airflow_pin == "3.3.2"


def test_dockerfile_installs_afkit_as_the_airflow_user_with_the_constraints():
    steps = dockerfile_instructions()
    copies = [args.split() for instruction, args in steps if instruction == "COPY"]
    for words in copies:
        for source in [w for w in words[:-1] if not w.startswith("--")]:
            assert (ROOT / source).exists(), f"COPY source {source} is not in the repository (the build context)"
    constraints_copied = any("constraints.txt" in words[:-1] for words in copies)
    assert constraints_copied

    users = [(i, args.strip()) for i, (instruction, args) in enumerate(steps) if instruction == "USER"]
    pip = [i for i, (instruction, args) in enumerate(steps) if instruction == "RUN" and "pip install" in args]
    assert len(pip) == 1 and users and users[0][1] == "airflow" and users[0][0] < pip[0]
    assert all(user == "airflow" for _, user in users), "pip must run as the airflow user"
    install = shlex.split(steps[pip[0]][1].split("&&")[0])
    assert install[install.index("-c") + 1].endswith("/constraints.txt")
    assert any(word.endswith("[airflow]") for word in install), "the plugin needs afkit's 'airflow' extra"
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in steps[pip[0]][1]


def test_dockerfile_writes_airflow_local_settings_with_the_launchers_own_function(tmp_path):
    runs = [args for instruction, args in dockerfile_instructions() if instruction == "RUN"]
    assert any("from toolkit.devserver.launcher import write_local_settings" in args for args in runs)
    # The function the image calls puts the module where Airflow looks: $AIRFLOW_HOME/config, on Airflow's sys.path.
    written = launcher.write_local_settings(tmp_path)
    assert written == tmp_path / "config" / "airflow_local_settings.py"
    assert any("check_image.py" in args for args in runs)


def test_the_image_check_fails_without_airflow_local_settings_and_passes_with_it(tmp_path):
    pytest.importorskip("airflow", reason="the check imports apache-airflow (the 'airflow' extra)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               PYTHONWARNINGS="ignore")
    check = [sys.executable, str(DOCKER / "check_image.py"), "--without-celery"]

    missing = subprocess.run(check, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "no airflow_local_settings module is importable" in missing.stderr

    launcher.write_local_settings(tmp_path)
    ok = subprocess.run(check, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "plugin, policy, airflow_local_settings" in ok.stdout


# -- commands ----------------------------------------------------------------------------------------------------------

PARSE_WITH_AIRFLOW = r"""
import json, sys
from airflow.cli import cli_parser
parser = cli_parser.get_parser()
failures = {}
for argv in json.loads(sys.argv[1]):
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        failures[" ".join(argv)] = exc.code
print(json.dumps(failures))
"""


def parse_with_airflow(commands: list[list[str]], tmp_path: Path, executor: str = "LocalExecutor") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__EXECUTOR=executor, AIRFLOW__CORE__LOAD_EXAMPLES="False",
               PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, "-c", PARSE_WITH_AIRFLOW, json.dumps(commands)], env=env,
                            capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_airflow_commands_and_healthchecks_parse_with_airflows_own_cli(services, tmp_path):
    pytest.importorskip("airflow", reason="needs apache-airflow (the 'airflow' extra)")
    commands = [call[1:] for calls in all_invocations(services).values() for call in calls
                if call[0] == "airflow" and call[1:2] != ["celery"]]
    assert {c[0] for c in commands} >= {"db", "api-server", "scheduler", "dag-processor", "triggerer", "jobs"}
    # Two misspelt commands ride along: the check must reject exactly those, so it really rejects what Airflow
    # does not know (one parser run for all: building Airflow's parser takes seconds).
    misspelt = [["api-server", "--wokers", "2"], ["dag-processors"]]
    assert set(parse_with_airflow(commands + misspelt, tmp_path)) == {" ".join(c) for c in misspelt}


def test_celery_worker_command_parses_with_the_celery_provider(services, tmp_path):
    if importlib.util.find_spec("airflow.providers.celery") is None:
        pytest.skip("apache-airflow-providers-celery is not installed here; it ships in the official image, where "
                    "docker/check_image.py imports it at build time")
    commands = [call[1:] for calls in all_invocations(services).values() for call in calls if call[1:2] == ["celery"]]
    assert commands and parse_with_airflow(commands, tmp_path, executor="CeleryExecutor") == {}


def check_afkit_command(argv: list[str]) -> None:
    """Resolve ``afkit …`` in afkit's click group and parse its options, without running it."""
    from toolkit.cli.main import cli

    assert argv[0] == "afkit"
    command: click.Command = cli
    name, args = "afkit", argv[1:]
    while isinstance(command, click.Group):
        assert args and not args[0].startswith("-"), f"{argv}: expected a subcommand"
        name, args = args[0], args[1:]
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"{argv}: afkit has no command {name!r}"
        command = sub
    command.make_context(name, list(args))  # raises click.UsageError on an unknown option or a bad value


def test_afkit_commands_exist_with_the_options_used(services):
    calls = [call for calls in all_invocations(services).values() for call in calls if call[0] == "afkit"]
    assert ["afkit", "watch"] in calls and ["afkit", "status", "--json"] in calls
    for call in calls:
        check_afkit_command(call)
    with pytest.raises(click.UsageError):
        check_afkit_command(["afkit", "watch", "--no-such-option"])
    with pytest.raises(AssertionError):
        check_afkit_command(["afkit", "watcher"])


def test_api_server_runs_two_workers_on_the_port_everyone_else_uses(services):
    (call,) = [c for c in command_invocations(services["api-server"]["command"]) if c[:2] == ["airflow", "api-server"]]
    assert call[call.index("--workers") + 1] == "2"
    port = int(call[call.index("--port") + 1])

    probed = [urlparse(u) for u in re.findall(r"http://\S+", services["api-server"]["healthcheck"]["test"][-1])]
    assert [(u.port, u.path) for u in probed] == [(port, "/api/v2/monitor/health"), (port, "/execution/health")]
    assert any(str(mapping).endswith(f":{port}") for mapping in services["api-server"]["ports"])
    for name, key in (("afkit-watch", "AFKIT_URL"), ("scheduler", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL")):
        url = urlparse(service_env(services[name])[key])
        assert (url.hostname, url.port) == ("api-server", port), f"{name} {key}"


def test_the_api_server_is_healthy_only_once_its_execution_api_has_built_its_routes(services):
    """Airflow builds the execution API's routes on each api-server process's first call, for seconds (see the
    launcher's EXECUTION_API_TIMEOUT_SECONDS): the healthcheck pays that before workers start, as the launcher does,
    and every task process waits as long as the launcher's do."""
    check = services["api-server"]["healthcheck"]
    script = check["test"][1]
    calls = re.search(r"for \w+ in \$\(seq (\d+)\); do curl (.*?)--max-time (\d+) (\S+) \|\| exit 1; done", script)
    assert calls, script
    assert int(calls.group(1)) == launcher.EXECUTION_API_WARMUP_ANSWERS
    assert int(calls.group(3)) == launcher.EXECUTION_API_TIMEOUT_SECONDS and "--fail" in calls.group(2)
    assert urlparse(calls.group(4)).path == "/execution/health"
    two_builds_under_load = 2 * 20
    assert int(check["timeout"].rstrip("s")) >= two_builds_under_load + 10
    for name, svc in services.items():
        if is_airflow_service(svc):
            assert service_env(svc)["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"] == str(
                launcher.EXECUTION_API_TIMEOUT_SECONDS), name


def test_health_checks_that_import_airflow_have_time_to_finish_on_a_busy_host(services):
    """`airflow jobs check` and `celery inspect ping` start Python and import Airflow (5-10 s of CPU): with less
    than a minute, a starved host kills each check before it finishes, and the service never becomes healthy."""
    importing = {name: svc["healthcheck"] for name, svc in services.items() if "healthcheck" in svc
                 and re.search(r"\bairflow jobs check\b|\bcelery --app\b", " ".join(svc["healthcheck"]["test"]))}
    assert set(importing) >= {"dag-processor", "triggerer", "celery-worker-1", "celery-worker-2"}
    for name, check in importing.items():
        assert int(check["timeout"].rstrip("s")) >= 60, name


def test_every_long_running_airflow_service_takes_its_health_check_timing_from_one_anchor(raw, services):
    """One definition of the start period every Airflow-importing service needs on a busy host (300 s): a service
    that wrote its own, or left the anchor out, would be called unhealthy while it still boots."""
    shared = raw["x-airflow-healthcheck"]
    assert int(shared["start_period"].rstrip("s")) >= 300
    assert COMPOSE_FILE.read_text().count("start_period: 300s") == 1
    long_running = {name for name, svc in services.items() if is_airflow_service(svc)} - ONE_SHOT_SERVICES
    assert long_running >= {"api-server", "scheduler", "dag-processor", "triggerer", "afkit-watch",
                            "celery-worker-1", "celery-worker-2"}
    for name in long_running:
        assert services[name]["healthcheck"]["start_period"] == shared["start_period"], name


def test_long_running_services_have_healthchecks_and_wait_for_what_they_need(services):
    for name, svc in services.items():
        if name in ONE_SHOT_SERVICES:
            assert svc.get("restart") == "no" and "healthcheck" not in svc
            continue
        test = (svc.get("healthcheck") or {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name} has no healthcheck"
        assert not svc["healthcheck"].get("disable"), name
        assert svc.get("restart") in ("always", "unless-stopped"), name
    for name, svc in services.items():
        for target, condition in (svc.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            expected = "service_completed_successfully" if target in ONE_SHOT_SERVICES else "service_healthy"
            assert condition["condition"] == expected, f"{name} -> {target}"
        if is_airflow_service(svc) and name not in ONE_SHOT_SERVICES:
            assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["afkit-watch"]["depends_on"]["api-server"]["condition"] == "service_healthy"


# -- settings ----------------------------------------------------------------------------------------------------------


def test_local_executor_by_default_and_celery_by_one_variable(raw, services):
    executors = {service_env(svc)["AIRFLOW__CORE__EXECUTOR"] for svc in services.values() if is_airflow_service(svc)}
    assert executors == {"LocalExecutor"}
    celery = resolve(raw["services"], {**HOST_ENV, "AIRFLOW_EXECUTOR": "CeleryExecutor"})
    assert {service_env(svc)["AIRFLOW__CORE__EXECUTOR"] for svc in celery.values() if is_airflow_service(svc)} == {
        "CeleryExecutor"}
    broker = urlparse(service_env(services["scheduler"])["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.hostname in CELERY_SERVICES and broker.hostname == "redis" and broker.port == 6379
    # A worker started without CeleryExecutor refuses to run rather than idling.
    script = services["celery-worker-1"]["command"][2]
    assert '"${AIRFLOW__CORE__EXECUTOR}" != CeleryExecutor' in script and "exit 2" in script


def test_airflow_settings_are_options_airflow_knows(services):
    reference = airflow_config_reference()
    celery_options = {"broker_url", "result_backend"}  # [celery] belongs to the Celery provider, not to core
    seen = set()
    for name, svc in services.items():
        for key in service_env(svc):
            if not key.startswith("AIRFLOW__"):
                continue
            section, option = (part.lower() for part in key.removeprefix("AIRFLOW__").split("__", 1))
            seen.add(key)
            if section == "celery":
                assert option in celery_options, f"{name}: {key}"
            else:
                assert option in reference.get(section, {}).get("options", {}), f"{name}: {key} is not an Airflow option"
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in seen
    # The auth manager is the one afkit's launcher configures for the demo and the tests.
    auth = {service_env(svc)["AIRFLOW__CORE__AUTH_MANAGER"] for svc in services.values() if is_airflow_service(svc)}
    assert auth == {launcher.SIMPLE_AUTH_MANAGER}
    assert service_env(services["api-server"])["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(
        IMAGE_AIRFLOW_HOME + "/")


def afkit_names_read_by_the_code() -> set[str]:
    """AFKIT_* names in afkit's source, plus those built from ``ENV_PREFIX`` and the profile keys."""
    names = set()
    for path in (ROOT / "toolkit").rglob("*.py"):
        names.update(re.findall(r"\bAFKIT_[A-Z][A-Z_]*[A-Z]\b", path.read_text(encoding="utf-8")))
    names.update(f"{afkit_config.ENV_PREFIX}{key.upper()}" for key in afkit_config.PROFILE_KEYS)
    return names


def test_every_afkit_variable_in_compose_is_one_afkit_reads(services):
    known = afkit_names_read_by_the_code()
    used = {key for svc in services.values() for key in service_env(svc) if key.startswith("AFKIT_")}
    assert used, "no AFKIT_* variables in the compose file"
    assert used <= known, f"afkit does not read {sorted(used - known)}"
    assert WATCH_NEEDS | SLACK_SETTINGS <= set(service_env(services["afkit-watch"]))


def test_watch_settings_resolve_through_afkits_own_readers(services, tmp_path):
    env = service_env(services["afkit-watch"])
    settings = afkit_config.resolve_settings({}, env=env, path=tmp_path / "no-profiles.toml")
    assert (settings.url, settings.username, settings.password) == (
        "http://api-server:8080", "admin", HOST_ENV["AIRFLOW_ADMIN_PASSWORD"])

    url = state.default_state_url(env)
    assert url == env["AFKIT_STATE_URL"] and url.startswith("postgresql+psycopg2://")
    parsed = urlparse(url)
    assert parsed.hostname == "postgres" and parsed.hostname in services
    # The state database is created by the SQL file mounted into the postgres image's init directory.
    mounts = [m.split(":") for m in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in m]
    assert len(mounts) == 1
    sql = (DOCKER / mounts[0][0]).read_text()
    assert re.search(r"CREATE DATABASE (\w+)", sql).group(1) == parsed.path.lstrip("/")


def test_slack_settings_pass_through_from_the_host_and_reach_afkits_slack_reader(raw, services):
    watch_raw = raw["services"]["afkit-watch"]["environment"]
    for name in SLACK_SETTINGS:
        assert watch_raw[name] == f"${{{name}:-}}", f"{name} must come from the host environment"

    def watch_env(host: dict) -> dict:
        return service_env(resolve(raw["services"], {**HOST_ENV, **host})["afkit-watch"])

    assert slack.target_from_env(watch_env({})) is None  # unset on the host: empty, and afkit treats it as unset
    target = slack.target_from_env(watch_env({"AFKIT_SLACK_TOKEN": "placeholder", "AFKIT_SLACK_CHANNEL": "#ops"}))
    assert (target.token, target.channel) == ("placeholder", "#ops")
    target = slack.target_from_env(watch_env({"AFKIT_SLACK_WEBHOOK_URL": "http://slack.invalid/hook"}))
    assert target.webhook_url == "http://slack.invalid/hook"
    looked_up = []
    target, source = slack.resolve_target(
        watch_env({"AFKIT_SLACK_CONN_ID": "ops_slack", "AFKIT_SLACK_CHANNEL": "#ops"}),
        lookup=lambda conn_id: looked_up.append(conn_id) or slack.SlackConnection(conn_id, "slack", "placeholder"),
    )
    assert looked_up == ["ops_slack"] and target.channel == "#ops" and "ops_slack" in source


def test_secrets_come_from_the_environment_and_none_is_written_down(raw):
    required = re.compile(r"\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}")
    found = 0
    for name, svc in raw["services"].items():
        env = svc.get("environment") or {}
        for key in SECRET_SETTINGS:
            if key in env:
                found += 1
                assert required.fullmatch(str(env[key])), f"{name}: {key} must be ${{VAR:?message}}"
    assert found >= len(SECRET_SETTINGS)
    for variable in HOST_ENV:  # Compose refuses to start without each of them
        with pytest.raises(MissingVariable, match=variable):
            resolve(raw["services"], {k: v for k, v in HOST_ENV.items() if k != variable})

    slack_token = re.compile(r"xox[a-z]-[A-Za-z0-9-]+")
    webhook = re.compile(r"hooks\.slack\.com/", re.IGNORECASE)
    private_key = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
    files = [p for p in DOCKER.rglob("*") if p.is_file() and p.name != ".env"]
    assert COMPOSE_FILE in files and DOCKERFILE in files
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pattern in (slack_token, webhook, private_key):
            assert not pattern.search(text), f"{path.relative_to(ROOT)} contains {pattern.pattern}"


# -- volumes -----------------------------------------------------------------------------------------------------------


def test_example_dags_are_mounted_read_only_where_airflow_looks(raw, services):
    reference = airflow_config_reference()
    dags_default = reference["core"]["options"]["dags_folder"]["default"].replace("{AIRFLOW_HOME}", IMAGE_AIRFLOW_HOME)
    logs_default = reference["logging"]["options"]["base_log_folder"]["default"].replace(
        "{AIRFLOW_HOME}", IMAGE_AIRFLOW_HOME)
    named = set(raw.get("volumes") or {})
    for name, svc in services.items():
        if not is_airflow_service(svc):
            continue
        mounts = [v.split(":") for v in svc["volumes"]]
        (dags,) = [m for m in mounts if m[1] == dags_default]
        source = (DOCKER / dags[0]).resolve()
        assert source == ROOT / "dags" and source.is_dir(), name
        assert any("DAG(" in p.read_text() for p in source.glob("*.py")), "no DAG in the mounted folder"
        assert dags[2:] == ["ro"], f"{name}: DAGs must be mounted read-only"
        (logs,) = [m for m in mounts if m[1] == logs_default]
        assert logs[0] in named, f"{name}: logs must be on a named volume"
    (data,) = [v.split(":") for v in services["postgres"]["volumes"] if v.endswith("/var/lib/postgresql/data")]
    assert data[0] in named

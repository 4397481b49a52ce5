"""afkit as a user gets it: the sdist and the wheel built by ``python -m build`` without a warning, the wheel installed
with its ``airflow`` extra into a fresh virtualenv, and ``afkit demo`` booted from there, with the example DAGs the
wheel ships (no clone, no ``--dags``), listed by Airflow's REST API; SIGINT stops it and everything it started.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

import toolkit
from toolkit.devserver.demo import DEMO_DAGS
from toolkit.devserver.launcher import descendants, free_port, pid_alive

from .conftest import REPO, raw_token, stop_demo_keeping_logs, wait_for

pytestmark = pytest.mark.integration

VERSION = toolkit.__version__
FILE_OPERATION = re.compile(r"^(copying|adding|creating|hard linking|removing|writing|reading) ")


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path
    output: str  # what `python -m build` printed, stdout and stderr together


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without this checkout's virtualenv, Airflow or afkit settings: as a new user's shell has it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AFKIT_", "AIRFLOW")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return env | extra


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' package is not installed (afkit's dev extra has it); cannot build the dists")
    out = tmp_path_factory.mktemp("dist")
    # PYTHONDONTWRITEBYTECODE in the caller's environment makes setuptools print "byte-compiling is disabled": a
    # note about that environment, not about the project, so the build runs without it.
    env = {k: v for k, v in clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], env=env, cwd=out,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert done.returncode == 0, done.stdout
    return Dists(wheel=out / f"afkit-{VERSION}-py3-none-any.whl", sdist=out / f"afkit-{VERSION}.tar.gz",
                 output=done.stdout)


def test_the_build_prints_no_warning(dists: Dists) -> None:
    warnings = [line for line in dists.output.splitlines()
                if not FILE_OPERATION.match(line) and re.search(r"warn|deprecat|^!!$", line, re.IGNORECASE)]
    assert warnings == [], "\n".join(warnings)


def test_the_wheel_holds_the_example_dags_the_page_and_the_license(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"afkit-{VERSION}.dist-info/METADATA").decode()
    assert {f"toolkit/example_dags/{dag.name}" for dag in (REPO / "dags").glob("*.py")} <= names
    assert {f"toolkit/plugin/static/{f.name}" for f in (REPO / "toolkit" / "plugin" / "static").iterdir()} <= names
    assert f"afkit-{VERSION}.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith(("tests/", "dags/"))]
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "\nLicense-Expression: Apache-2.0\n" in metadata
    assert "\nClassifier: Framework :: Apache Airflow\n" in metadata


def test_the_sdist_holds_the_dags_the_tests_and_the_changelog(dists: Dists) -> None:
    top = f"afkit-{VERSION}/"
    with tarfile.open(dists.sdist) as sdist:
        names = {n.removeprefix(top) for n in sdist.getnames()}
    tests = {str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*.py") if "__pycache__" not in p.parts}
    dags = {str(p.relative_to(REPO)) for p in (REPO / "dags").glob("*.py")}
    assert dags and tests and dags | tests <= names, sorted((dags | tests) - names)[:10]
    assert {"LICENSE", "CHANGELOG.md", "README.md", "constraints.txt", "pyproject.toml", "MANIFEST.in"} <= names
    assert not [n for n in names if n.endswith((".pyc", "/.env")) or "__pycache__" in n]


@pytest.fixture(scope="module")
def installed(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the built wheel and its 'airflow' extra, pinned by constraints.txt: its bin folder."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (./dev setup installs it into .venv); cannot install the wheel")
    venv = tmp_path_factory.mktemp("fresh-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                    "-c", str(REPO / "constraints.txt"), f"{dists.wheel}[airflow]"],
                   env=clean_env(), check=True, timeout=900)
    return venv / "bin"


def test_the_installed_afkit_prints_its_version_from_its_own_package(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run([installed / "afkit", "--version"], env=clean_env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"afkit, version {VERSION}\n", "")
    where = subprocess.run([installed / "python", "-c", "import toolkit; print(toolkit.__file__)"], env=clean_env(),
                           cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(installed.parent.resolve()), f"afkit imported from {where}"


@pytest.mark.timeout(1200)
def test_afkit_demo_from_the_wheel_runs_the_example_dags_it_ships(installed: Path, tmp_path: Path) -> None:
    port, home, output = free_port(), tmp_path / "home", tmp_path / "demo.out"
    env = clean_env(XDG_CONFIG_HOME=str(tmp_path / "config"), PATH=f"{installed}{os.pathsep}{os.environ['PATH']}")
    with open(output, "w") as out:
        proc = subprocess.Popen([installed / "afkit", "demo", "--no-seed", "--home", str(home), "--port", str(port)],
                                cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    owned: set[int] = set()

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the demo exited ({proc.returncode}) before it was ready:\n{output.read_text()}")
        owned.update(descendants(proc.pid))
        return "The demo is ready." in output.read_text()

    try:
        wait_for(ready, 600, "the demo's ready line", every=0.5)
        owned.update(descendants(proc.pid))
        url = f"http://127.0.0.1:{port}"
        token = raw_token(SimpleNamespace(url=url), "admin", json.loads((home / "passwords.json").read_text())["admin"])
        request = urllib.request.Request(f"{url}/api/v2/dags?limit=100", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            dags = {d["dag_id"]: d for d in json.loads(response.read())["dags"]}
    finally:
        code = stop_demo_keeping_logs(proc, home, "packaging-demo")
    assert set(DEMO_DAGS) <= set(dags), sorted(dags)
    shipped = (installed.parent / "lib").resolve()
    for dag_id in DEMO_DAGS:
        fileloc = Path(dags[dag_id]["fileloc"]).resolve()
        assert fileloc.parent.name == "example_dags" and fileloc.is_relative_to(shipped), f"{dag_id}: {fileloc}"
    text = output.read_text()
    assert code == 0, text
    assert "Traceback" not in text and text.rstrip().endswith("Stopped."), text
    assert owned and [pid for pid in owned if pid_alive(pid)] == []

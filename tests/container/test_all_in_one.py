"""One container, the image's default command (`pixelrun serve` with one worker, tiny
weights, CPU torch): the README's curl flow through the published port, the output
downloads, other commands run in the same image, and a stop is clean and quick.

One test over one container, its steps in order (the last one stops it): pytest-xdist
spreads a module's tests over its workers, and each would start a container of its own."""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from e2e.server import free_port, wait_for

from .podman import BUILD_TIMEOUT_SECONDS, ROOT, Container, podman

pytestmark = [pytest.mark.container, pytest.mark.timeout(BUILD_TIMEOUT_SECONDS + 300)]

#: The grace `podman stop` gives before its SIGKILL (whose 137 would fail the exit-code check).
GRACE_SECONDS = 30


def readme_curl_flow(base_url: str, key: str) -> tuple[str, str]:
    """The README's "Your first edit" curl command and its download command, pointed at `base_url`."""
    readme = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if "KEY=px_" in b]
    create = re.sub(r"^KEY=px_\S*.*$", f"KEY={key}", block, flags=re.M).replace(
        "http://127.0.0.1:8000", base_url
    )
    (download,) = re.findall(r"`(curl -o out\.png \"URL\")`", readme)
    return create, download


@pytest.fixture
def server(pixelrun_image: str) -> Iterator[tuple[Container, str]]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    container = Container(
        pixelrun_image,
        [],  # the image's default command
        options=["-p", f"127.0.0.1:{port}:8000"],
        env={"PIXELRUN_PUBLIC_BASE_URL": base_url, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    ).run()
    try:
        container.key()

        def ready() -> bool:
            assert not container.exited(), container.logs()[-4000:]
            try:
                return requests.get(base_url + "/v1/readiness", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(ready, timeout=180, interval=0.5)
        yield container, base_url
    finally:
        container.remove()


def test_one_container_serves_the_readme_flow_and_stops_cleanly(
    server: tuple[Container, str], pixelrun_image: str, tmp_path: Path
) -> None:
    the_readme_curl_flow_answers_through_the_published_port(server, tmp_path)
    the_image_is_non_root_with_volumes_a_healthcheck_and_no_build_leftovers(server, pixelrun_image)
    every_other_command_runs_in_the_same_image(server)
    a_stop_is_a_clean_exit_within_the_grace_period(server)


def the_readme_curl_flow_answers_through_the_published_port(
    server: tuple[Container, str], tmp_path: Path
) -> None:
    container, base_url = server
    create, download = readme_curl_flow(base_url, container.key())
    answer = subprocess.run(["bash", "-c", create], capture_output=True, text=True, timeout=120, check=True)
    run = json.loads(answer.stdout)
    assert run["status_code"] == "succeeded", (run, container.logs()[-3000:])
    (item,) = run["output"]["outputs"]
    assert item["url"].startswith(f"{base_url}/v1/files/runs/{run['id']}/0.png?")
    command = download.replace("URL", item["url"])
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True, timeout=60, capture_output=True)
    data = (tmp_path / "out.png").read_bytes()
    assert len(data) == item["file_size"]
    assert Image.open(io.BytesIO(data)).size == (item["width"], item["height"])


def the_image_is_non_root_with_volumes_a_healthcheck_and_no_build_leftovers(
    server: tuple[Container, str], pixelrun_image: str
) -> None:
    container, _ = server
    (config,) = json.loads(podman("image", "inspect", pixelrun_image).stdout)
    settings = config["Config"]
    assert settings["User"] == "10001:10001"
    assert set(settings["Volumes"]) == {"/data", "/models"}
    assert settings["Entrypoint"] == ["/usr/bin/tini", "-e", "143", "--", "pixelrun"]
    assert settings["Cmd"][0] == "serve"
    healthcheck = config.get("Healthcheck") or settings["Healthcheck"]  # podman | docker
    assert "/v1/health" in " ".join(healthcheck["Test"])
    assert podman("healthcheck", "run", container.name, check=False).returncode == 0
    assert container.exec("id", "-u").stdout.strip() == "10001"
    # No compiler, no headers, no pip cache, no apt lists in the final image.
    leftovers = container.exec(
        "sh",
        "-c",
        "command -v gcc cc make g++; ls /usr/include/python3.11 /root/.cache /data/.cache 2>/dev/null;"
        " ls /var/lib/apt/lists | grep -v -x -e lock -e partial -e auxfiles",
        user="0",
    )
    assert leftovers.stdout.strip() == ""


def every_other_command_runs_in_the_same_image(server: tuple[Container, str]) -> None:
    container, base_url = server
    created = container.exec("pixelrun", "keys", "create", "--owner", "second")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    me = requests.get(f"{base_url}/v1/auth/me", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert me.status_code == 200, me.text
    check = container.exec("pixelrun", "weights", "check", "/models/nothing-here")
    assert check.returncode == 1 and "nothing-here" in check.stdout + check.stderr


def a_stop_is_a_clean_exit_within_the_grace_period(server: tuple[Container, str]) -> None:
    container, _ = server
    code, seconds = container.stop(GRACE_SECONDS)
    # 0: pixelrun exited on SIGTERM (tini reports its 143 as 0); 137 would be the SIGKILL after the grace.
    assert code == 0, container.logs()[-3000:]
    assert seconds < GRACE_SECONDS
    assert re.search(r"worker \S+: stopped", container.logs()), container.logs()[-3000:]

"""`pixelrun run` and `pixelrun runs ...` as subprocesses against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

from e2e.server import wait_for

from .conftest import IMAGE_DATA_URI, Live, png_bytes
from .runs import create_blocker, create_run


def cli_env(live: Live, columns: int = 200) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELRUN_")}
    env.update({"PIXELRUN_BASE_URL": live.base_url, "PIXELRUN_API_KEY": live.key, "COLUMNS": str(columns)})
    return env


def pixelrun(
    live: Live, *args: str, timeout: float = 120, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixelrun.cli", *args],
        env=cli_env(live, columns),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_uploads_shows_progress_and_writes_the_images(live: Live, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes(64, 40))
    out = tmp_path / "result" / "edited.webp"
    result = pixelrun(
        live,
        "run",
        "--image", str(source),
        "--image", IMAGE_DATA_URI,
        "--prompt", "make it blue",
        "-o", str(out),
        "--steps", "3",
        "--size", "256x256",
        "--seed", "5",
        "--num-images", "2",
        "--acceleration", "none",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    second = out.with_name("edited-2.webp")
    for path in (out, second):
        with Image.open(path) as image:
            assert image.format == "WEBP" and image.size == (256, 256)
    assert "3/3" in result.stderr and "━" in result.stderr  # the progress bar, at its end
    lines = result.stdout.strip().splitlines()
    assert lines[:2] == [str(out), str(second)]
    assert "seed 5" in lines[-1] and "cost $0.00" in lines[-1]
    run_id = lines[-1].split()[1]
    run = httpx.get(f"{live.base_url}/v1/runs/{run_id}", headers=live.headers()).json()
    assert run["status_code"] == "succeeded" and run["input"]["image_urls"][0].startswith("asset://")


def test_run_keeps_the_latest_preview_in_a_file(live: Live, tmp_path: Path) -> None:
    preview = tmp_path / "watch" / "preview.jpg"
    result = pixelrun(
        live,
        "run", "-i", IMAGE_DATA_URI, "-p", "make it blue", "-o", str(tmp_path / "out.png"),
        "--steps", "4", "--size", "256x256", "--preview", str(preview),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Image.open(preview) as image:
        assert image.format == "JPEG" and image.size == (32, 32)
    assert [path.name for path in preview.parent.iterdir()] == ["preview.jpg"]  # no partial file left
    run_id = result.stdout.strip().splitlines()[-1].split()[1]
    run = httpx.get(f"{live.base_url}/v1/runs/{run_id}", headers=live.headers()).json()
    assert run["input"]["preview_every"] == 1


def test_ctrl_c_cancels_the_run_on_the_server(live: Live, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes())
    process = subprocess.Popen(
        [
            sys.executable, "-m", "pixelrun.cli", "run",
            "-i", str(source), "-p", "slow", "-o", str(tmp_path / "never.png"),
            "--size", "1024x1024", "--steps", "50", "--acceleration", "none",
        ],
        env=cli_env(live),
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first.startswith("run "), first
        run_id = first.split()[1]

        def running() -> bool:
            run = httpx.get(f"{live.base_url}/v1/runs/{run_id}", headers=live.headers()).json()
            return run["status_code"] == "running"

        wait_for(running, timeout=60)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert f"canceled run {run_id}" in stderr
    run = httpx.get(f"{live.base_url}/v1/runs/{run_id}", headers=live.headers()).json()
    assert run["status_code"] == "canceled"
    assert not (tmp_path / "never.png").exists()


def test_runs_list_get_cancel_logs(live: Live) -> None:
    # Three runs of this test's own: under xdist the other tests may run elsewhere.
    for _ in range(2):
        create_run(live, num_inference_steps=1)
    run = create_run(live, num_inference_steps=1)
    httpx.post(
        f"{live.base_url}/v1/runs/{run['id']}/cancellation", headers=live.headers(), timeout=10
    )  # may already be done
    listed = pixelrun(live, "runs", "list", "--limit", "3", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert len(items) == 3 and items[0]["id"] == run["id"]
    table = pixelrun(live, "runs", "list", "--limit", "2")
    assert run["id"] in table.stdout and "status" in table.stdout

    got = pixelrun(live, "runs", "get", run["id"], "--json")
    assert json.loads(got.stdout)["id"] == run["id"]
    assert "status_code" in pixelrun(live, "runs", "get", run["id"]).stdout

    canceled = pixelrun(live, "runs", "cancel", run["id"], "--json")
    assert canceled.returncode == 0 and json.loads(canceled.stdout)["status_code"] in (
        "canceled",
        "succeeded",
    )

    logs = pixelrun(live, "runs", "logs", run["id"], "--json")
    assert logs.returncode == 0 and all(line["run_id"] == run["id"] for line in json.loads(logs.stdout))
    pixelrun(live, "runs", "logs", run["id"])

    missing = pixelrun(live, "runs", "get", "01900000-0000-7000-8000-000000000000")
    assert missing.returncode == 1 and "RUN_NOT_FOUND" in missing.stderr
    bad = pixelrun(live, "run", "-i", "/nonexistent.png", "-p", "x")
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_at_80_columns_ids_and_urls_are_whole_and_a_finished_run_is_not_canceled(live: Live) -> None:
    run = create_run(live, num_inference_steps=1)
    wait_for(
        lambda: (
            httpx.get(f"{live.base_url}/v1/runs/{run['id']}", headers=live.headers()).json()["status_code"]
            == "succeeded"
        ),
        timeout=120,
    )
    listed = pixelrun(live, "runs", "list", "--limit", "3", columns=80)
    assert listed.returncode == 0, listed.stderr
    header, first, *_ = listed.stdout.splitlines()
    assert header.split()[0] == "id" and first.split()[:2] == [run["id"], "succeeded"]

    got = pixelrun(live, "runs", "get", run["id"], columns=80)
    assert got.returncode == 0, got.stderr
    (line,) = [line for line in got.stdout.splitlines() if line.startswith("output 1")]
    url = line.split()[-1]  # whole: the signed URL downloads the image
    assert len(url) > 80 and httpx.get(url, timeout=30).content.startswith(b"\x89PNG")

    canceled = pixelrun(live, "runs", "cancel", run["id"], columns=80)
    assert canceled.returncode == 0, canceled.stderr
    assert f"run {run['id']} had already succeeded" in canceled.stderr
    assert "nothing changed (only a queued or running run can be canceled)" in canceled.stderr
    assert "status_code   succeeded" in canceled.stdout


def test_the_bar_shows_the_queue_position_while_queued(live: Live, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes())
    blocker = create_blocker(live)
    env = {**cli_env(live), "TTY_COMPATIBLE": "1"}  # rich draws the live bar as on a terminal
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "pixelrun.cli", "run", "-i", str(source), "-p", "x",
             "-o", str(tmp_path / "out.png"), "--size", "256x256", "--steps", "2"],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(4)
    finally:
        httpx.post(
            f"{live.base_url}/v1/runs/{blocker['id']}/cancellation", headers=live.headers(), timeout=10
        )
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "queued (position 1)" in stderr and "2/2" in stderr

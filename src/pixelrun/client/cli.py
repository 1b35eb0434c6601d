"""The CLI's client commands: `pixelrun run` and `pixelrun runs list|get|cancel|logs`.

They drive a Pixelrun server through the SDK and import nothing of the server, so they
work with the light base install.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from pixelrun.client._core import DEFAULT_MODEL, is_url
from pixelrun.client._sync import Pixelrun
from pixelrun.client.errors import APIConnectionError, APIError, RunError
from pixelrun.client.models import Preview, Run, StreamEvent

err = Console(stderr=True)
out = Console()

ServerOption = Annotated[
    str | None,
    typer.Option("--server", help="Server URL (default: $PIXELRUN_BASE_URL, else http://127.0.0.1:8000)."),
]
KeyOption = Annotated[str | None, typer.Option("--key", help="API key (default: $PIXELRUN_API_KEY).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TERMINAL = ("succeeded", "failed", "canceled")
_FINISHED = {"succeeded": "succeeded", "failed": "failed", "canceled": "been canceled"}
QUEUE_REFRESH_SECONDS = 2.0
#: `--preview` without `--preview-every`: a preview after every step, which costs the run well
#: under 1 % of a step (docs/api.md#previews).
DEFAULT_PREVIEW_EVERY = 1
FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}

runs_app = typer.Typer(help="Runs on a Pixelrun server.", no_args_is_help=True)


def register_client_commands(app: typer.Typer) -> None:
    app.command("run")(run)
    app.add_typer(runs_app, name="runs")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def run(
    image: Annotated[
        list[str], typer.Option("--image", "-i", help="A local file or an http(s) URL; repeat for up to 4.")
    ],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The edit instruction.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file (.png, .jpg, .webp); several: NAME-2.png, ...")
    ] = Path("out.png"),
    model: Annotated[str, typer.Option("--model", help="Model id.")] = DEFAULT_MODEL,
    steps: Annotated[int | None, typer.Option(help="Denoising steps (1..50).")] = None,
    size: Annotated[str | None, typer.Option(help="Preset (square_hd, ...) or WxH.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    acceleration: Annotated[str | None, typer.Option(help="none | regular | high")] = None,
    num_images: Annotated[int | None, typer.Option(help="Outputs (1..4).")] = None,
    negative_prompt: Annotated[str | None, typer.Option(help="What to steer away from.")] = None,
    preview: Annotated[
        Path | None,
        typer.Option(
            "--preview",
            help="Keep the latest preview of the image forming in this file (a JPEG) while it runs.",
        ),
    ] = None,
    preview_every: Annotated[
        int | None, typer.Option(help="Previews every N steps (with --preview, default 1).")
    ] = None,
    server: ServerOption = None,
    key: KeyOption = None,
) -> None:
    """Edit images on a Pixelrun server: uploads local files, shows live progress, writes the results.

    Ctrl-C cancels the run on the server before exiting.
    """
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise _fail("--output must end in .png, .jpg, .jpeg or .webp", 2)
    if len(image) > 4:
        raise _fail("at most 4 --image", 2)
    for source in image:
        if not is_url(source) and not Path(source).is_file():
            raise _fail(f"--image {source}: no such file", 2)
    extra = {
        "num_inference_steps": steps,
        "image_size": size,
        "seed": seed,
        "acceleration": acceleration,
        "num_images": num_images,
        "negative_prompt": negative_prompt,
        "preview_every": preview_every
        if preview_every is not None or preview is None
        else DEFAULT_PREVIEW_EVERY,
    }
    input_fields = {name: value for name, value in extra.items() if value is not None}
    with Pixelrun(base_url=server, api_key=key) as px:
        try:
            urls = []
            for source in image:
                if is_url(source):
                    urls.append(source)
                else:
                    with err.status(f"uploading {source}…"):
                        urls.append(px.assets.upload(source).url)
            created = px.runs.create(
                model, input={"prompt": prompt, "image_urls": urls, "output_format": fmt, **input_fields}
            )
            err.print(f"run {created.id} {created.status_code}", highlight=False)
            try:
                finished = _follow_with_progress(px, created, preview)
            except KeyboardInterrupt:
                canceled = px.runs.cancel(created.id)
                err.print(f"canceled run {created.id} ({canceled.status_code})", highlight=False)
                raise typer.Exit(130) from None
            if finished.status_code != "succeeded":
                raise RunError(finished)
            paths = _write_outputs(finished, output)
        except RunError as error:
            raise _fail(str(error)) from None
        except (APIError, APIConnectionError) as error:
            raise _fail(str(error)) from None
    for path in paths:
        out.print(str(path), highlight=False)
    assert finished.output is not None
    out.print(
        f"run {finished.id}  seed {finished.output.seed}  cost ${finished.cost}",
        highlight=False,
        soft_wrap=True,
    )


def _follow_with_progress(px: Pixelrun, created: Run, preview: Path | None = None) -> Run:
    """Follow the stream with a bar on stderr: queue position while queued, steps while running;
    each preview replaces the file `preview`."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task(_describe(created), total=created.input.get("num_inference_steps"))
        state = {"status": created.status_code}
        stop = threading.Event()
        # The stream says when the run leaves the queue, not when runs ahead of it do:
        # while queued, the position is refreshed from GET /v1/runs/{id}.
        watcher = threading.Thread(
            target=_watch_queue, args=(px, created.id, bar, task, state, stop), daemon=True
        )
        watcher.start()
        try:
            for event in px.runs.stream(created.id):
                if event.event in ("status", "done"):
                    state["status"] = event.data.status_code
                if event.event == "preview" and preview is not None:
                    _write_preview(preview, event.data)
                _show(bar, task, event)
                if event.event == "done":
                    return event.data
        finally:
            stop.set()
    return px.runs.get(created.id)


def _write_preview(path: Path, preview: Preview) -> None:
    """Replace `path` at once (a viewer that reloads it never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(preview.image_bytes())
    os.replace(partial, path)


def _watch_queue(
    px: Pixelrun, run_id: str, bar: Progress, task: TaskID, state: dict[str, str], stop: threading.Event
) -> None:
    while not stop.wait(QUEUE_REFRESH_SECONDS) and state["status"] == "queued":
        try:
            run = px.runs.get(run_id)
        except (APIError, APIConnectionError):
            continue
        if run.status_code == "queued" and state["status"] == "queued":
            bar.update(task, description=_describe(run))


def _show(bar: Progress, task: TaskID, event: StreamEvent) -> None:
    if event.event == "progress":
        bar.update(task, completed=event.data.step, total=event.data.steps, description="running")
    elif event.event in ("status", "done"):
        bar.update(task, description=_describe(event.data))
    elif event.event == "log" and event.data.level_code in ("warning", "error"):
        bar.console.print(f"[yellow]{event.data.level_code}:[/] {event.data.message}", highlight=False)


def _describe(run: Run) -> str:
    if run.status_code == "queued" and run.queue_position:
        return f"queued (position {run.queue_position})"
    return run.status_code


def _write_outputs(run: Run, output: Path) -> list[Path]:
    assert run.output is not None
    images = run.output.outputs
    paths = []
    for index, item in enumerate(images, start=1):
        path = (
            output
            if len(images) == 1 or index == 1
            else output.with_name(f"{output.stem}-{index}{output.suffix}")
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_download(item.url))
        paths.append(path)
    return paths


def _download(url: str) -> bytes:
    if url.startswith("data:"):
        return base64.b64decode(url.split(",", 1)[1])
    # Output URLs are signed: no API key needed.
    response = httpx.get(url, timeout=60, follow_redirects=True)
    response.raise_for_status()
    return response.content


# pixelrun runs ...


def _client(server: str | None, key: str | None) -> Pixelrun:
    return Pixelrun(base_url=server, api_key=key)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _run_lines(run: Run) -> list[str]:
    """`name  value` lines. Plain text, not a table: a table fits its columns to the
    terminal and cut the output URLs at 80 columns; these lines are never cut."""
    rows: list[tuple[str, str]] = []
    for name in (
        "id",
        "model_id",
        "status_code",
        "created_at",
        "started_at",
        "completed_at",
        "duration_ms",
        "cost",
        "queue_position",
        "failure_code",
        "failure_message",
    ):
        value = getattr(run, name)
        if value is not None:
            rows.append((name, str(value)))
    if run.progress is not None:
        rows.append(("progress", f"{run.progress.step}/{run.progress.steps}"))
    if run.output is not None:
        rows.append(("seed", str(run.output.seed)))
        for index, item in enumerate(run.output.outputs, start=1):
            rows.append((f"output {index}", item.url))
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {value}" for name, value in rows]


@contextlib.contextmanager
def _calling(server: str | None, key: str | None) -> Iterator[Pixelrun]:
    """A client whose API and connection errors end the command with one `error:` line."""
    with _client(server, key) as px:
        try:
            yield px
        except (APIError, APIConnectionError) as error:
            raise _fail(str(error)) from None


def _show_run(run: Run, as_json: bool) -> None:
    if as_json:
        _print_json(run.model_dump(mode="json"))
    else:
        for line in _run_lines(run):
            typer.echo(line)


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20,
    status: Annotated[str | None, typer.Option(help="Only runs in this status.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only runs of this model.")] = None,
    as_json: JsonOption = False,
    server: ServerOption = None,
    key: KeyOption = None,
) -> None:
    """List your runs, newest first."""
    with _calling(server, key) as px:
        pages = px.runs.list(status=status, model_id=model, page_size=min(max(limit, 1), 500))
        runs = list(itertools.islice(pages, max(limit, 0)))
    if as_json:
        _print_json([item.model_dump(mode="json") for item in runs])
        return
    # Plain aligned columns rather than a table fitted to the terminal, which cut the ids at
    # 80 columns: ids first and whole (`runs get ID`), the model last (it may wrap).
    rows = [
        (
            item.id,
            item.status_code,
            item.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            item.cost or "-",
            item.model_id,
        )
        for item in runs
    ]
    header = ("id", "status", "created (UTC)", "cost", "model")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
    for row in [header, *rows]:
        typer.echo(
            "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        )


@runs_app.command("get")
def runs_get(
    run_id: str, as_json: JsonOption = False, server: ServerOption = None, key: KeyOption = None
) -> None:
    """Show one run."""
    with _calling(server, key) as px:
        item = px.runs.get(run_id)
    _show_run(item, as_json)


@runs_app.command("cancel")
def runs_cancel(
    run_id: str, as_json: JsonOption = False, server: ServerOption = None, key: KeyOption = None
) -> None:
    """Cancel a run (a running run stops at its next denoising step); a finished run is left as it is."""
    with _calling(server, key) as px:
        before = px.runs.get(run_id)
        item = before if before.status_code in TERMINAL else px.runs.cancel(run_id)
    if item.status_code != "canceled" or before.status_code == "canceled":
        # The server answers a terminal run unchanged: say so, or it reads like a cancel.
        when = f" at {item.completed_at.isoformat()}" if item.completed_at else ""
        err.print(
            f"run {run_id} had already {_FINISHED.get(item.status_code, item.status_code)}{when}: "
            "nothing changed (only a queued or running run can be canceled)",
            highlight=False,
            soft_wrap=True,
        )
    _show_run(item, as_json)


@runs_app.command("logs")
def runs_logs(
    run_id: str, as_json: JsonOption = False, server: ServerOption = None, key: KeyOption = None
) -> None:
    """Show a run's log lines."""
    with _calling(server, key) as px:
        lines = px.runs.logs(run_id)
    if as_json:
        _print_json([line.model_dump(mode="json") for line in lines])
        return
    table = Table("time", "level", "message")
    for line in lines:
        table.add_row(line.timestamp.isoformat(), line.level_code, line.message)
    out.print(table)

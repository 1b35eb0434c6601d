"""The `pixelrun` command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from pixelrun.cli_settings import command_settings as _settings
from pixelrun.cli_settings import (
    log_store,
    serve_settings,
    worker_settings,
)
from pixelrun.client.cli import register_client_commands
from pixelrun.keys_cli import keys_app, owners_app
from pixelrun.weights.cli import weights_app

# Server modules (settings, torch, FastAPI, SQLAlchemy) are imported inside the server
# commands: the client commands work with the light base install (`pip install pixelrun`).
if TYPE_CHECKING:
    from pixelrun.config import Settings

app = typer.Typer(
    help="Pixelrun: a self-hosted run API for Qwen-Image-Edit-2511.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

WeightsOption = Annotated[
    str | None,
    typer.Option(
        help="'tiny' (random weights, generated offline), a Hugging Face id, or a local directory "
        "(default $PIXELRUN_WEIGHTS, else tiny)."
    ),
]
DataDirOption = Annotated[
    Path | None, typer.Option(help="Data directory (default: $PIXELRUN_DATA_DIR or ./.pixelrun).")
]
DeviceOption = Annotated[
    str | None, typer.Option(help="auto | cpu | cuda | cuda:N (default $PIXELRUN_DEVICE, else auto).")
]
CpuOffloadOption = Annotated[
    bool | None,
    typer.Option(
        "--cpu-offload/--no-cpu-offload",
        help="Model CPU offload, for GPUs with less memory (default $PIXELRUN_CPU_OFFLOAD, else off).",
        show_default=False,
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(help="Store URL (default $PIXELRUN_DATABASE_URL, else SQLite in the data dir)."),
]
ModelsOption = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated model ids the worker(s) serve (default $PIXELRUN_MODELS, else both "
        "alibaba/qwen-image-edit-2511 and alibaba/qwen-image-edit-2511-lightning)."
    ),
]


def _setup_logging(verbose: bool, settings: Settings) -> None:
    from pixelrun.log_setup import setup_logging

    setup_logging(verbose, settings.log_format)


def _weights_error(error: Exception, verbose: bool) -> None:
    """One plain line (no wrapping, no traceback); the cause's traceback with --verbose."""
    if verbose and error.__cause__ is not None:
        logging.getLogger("pixelrun").error("cause", exc_info=error.__cause__)
    typer.echo(f"error: {error}", err=True)


@app.command()
def edit(
    image: Annotated[list[Path], typer.Option("--image", "-i", help="Reference image; repeat for up to 4.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The edit instruction.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file; .png, .jpg or .webp picks the format.")
    ] = Path("out.png"),
    weights: WeightsOption = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (random when not given).")] = None,
    steps: Annotated[int, typer.Option(help="Denoising steps (1..50).")] = 28,
    guidance_scale: Annotated[float, typer.Option(help="True CFG scale (1..20); 1 turns CFG off.")] = 4.5,
    negative_prompt: Annotated[str, typer.Option(help="What to steer away from.")] = "",
    num_images: Annotated[int, typer.Option(help="Number of outputs (1..4).")] = 1,
    size: Annotated[
        str | None, typer.Option(help="Preset (square_hd, square, ...) or WxH; default ≈1 MP.")
    ] = None,
    acceleration: Annotated[str, typer.Option(help="none | regular | high")] = "regular",
    safety_checker: Annotated[
        bool | None,
        typer.Option(
            help="Black out outputs flagged as NSFW (default $PIXELRUN_LOAD_SAFETY_CHECKER, else on).",
            show_default=False,
        ),
    ] = None,
    device: DeviceOption = None,
    cpu_offload: CpuOffloadOption = None,
    data_dir: DataDirOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Edit images once, without a server, and write the result(s) to --output."""
    settings = _settings(
        weights=weights,
        device=device,
        cpu_offload=cpu_offload,
        data_dir=data_dir,
        load_safety_checker=safety_checker,
    )
    _setup_logging(verbose, settings)
    from pixelrun.engines.qwen_image_edit import EditParameters
    from pixelrun.media import ImageRejected, decode_image, encode_image

    if len(image) > 4:
        raise typer.BadParameter("at most 4 reference images", param_hint="--image")
    suffix = output.suffix.lower().lstrip(".")
    fmt = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}.get(suffix)
    if fmt is None:
        raise typer.BadParameter(
            "the output name must end in .png, .jpg, .jpeg or .webp", param_hint="--output"
        )
    try:
        parameters = EditParameters.model_validate(
            {
                "prompt": prompt,
                "seed": seed,
                "num_inference_steps": steps,
                "guidance_scale": guidance_scale,
                "negative_prompt": negative_prompt,
                "num_images": num_images,
                "image_size": size,
                "acceleration": acceleration,
                "enable_safety_checker": settings.load_safety_checker,
                "output_format": fmt,
            }
        )
    except ValidationError as error:
        for problem in error.errors():
            err.print(f"[red]error:[/] {'.'.join(map(str, problem['loc']))}: {problem['msg']}")
        raise typer.Exit(2) from None

    pictures = []
    for index, path in enumerate(image):
        try:
            pictures.append(decode_image(path.read_bytes()))
        except (OSError, ImageRejected) as error:
            err.print(f"[red]error:[/] --image #{index + 1} {path}: {error}")
            raise typer.Exit(2) from None

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pixelrun.weights.source import check_weights
    from pixelrun.weights.unavailable import WeightsUnavailable

    try:
        check_weights(settings.weights)  # before torch is imported: a wrong path fails at once
        from pixelrun.engines.qwen_image_edit import MODEL_ID
        from pixelrun.engines.qwen_image_edit.engine import UnsupportedImage
        from pixelrun.engines.qwen_image_edit.factory import build_engine

        with err.status(f"loading {settings.weights} weights…"):
            # One-shot edits use the base model: no Lightning LoRA to fetch.
            engine = build_engine(settings, [MODEL_ID])
    except WeightsUnavailable as error:
        _weights_error(error, verbose)
        raise typer.Exit(1) from None
    try:
        engine.check_images(pictures)
    except UnsupportedImage as error:
        err.print(f"[red]error:[/] --image #{error.index + 1}: {error.reason}")
        raise typer.Exit(2) from None
    with Progress(
        TextColumn("denoising"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("denoise", total=parameters.num_inference_steps)
        result = engine.edit(
            parameters, pictures, on_step=lambda step, _: progress.update(task, completed=step)
        )

    paths = (
        [output]
        if len(result.images) == 1
        else [
            output.with_name(f"{output.stem}-{index + 1}{output.suffix}")
            for index in range(len(result.images))
        ]
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    for path, picture in zip(paths, result.images, strict=True):
        path.write_bytes(encode_image(picture, fmt))
        typer.echo(str(path))
    flagged = sum(result.nsfw_flags or [])
    err.print(
        f"seed {result.seed}, {result.width}x{result.height}, "
        f"{result.transformer_forwards} transformer passes, "
        f"{result.timings_ms['inference_ms'] / 1000:.1f} s"
        + (f", {flagged} flagged as NSFW" if flagged else "")
    )


app.add_typer(keys_app, name="keys")
app.add_typer(owners_app, name="owners")
app.add_typer(weights_app, name="weights")
register_client_commands(app)


@app.command()
def worker(
    weights: WeightsOption = None,
    device: DeviceOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
    name: Annotated[str | None, typer.Option(help="Worker name shown in logs (default host:pid).")] = None,
    cpu_offload: CpuOffloadOption = None,
    models: ModelsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = True,
) -> None:
    """Run one worker (one per GPU): load the model once, then claim and run jobs from the store."""
    settings = worker_settings(
        weights=weights,
        device=device,
        database_url=database_url,
        data_dir=data_dir,
        cpu_offload=cpu_offload,
        models=models,
    )
    _setup_logging(verbose, settings)
    log_store(settings)
    from pixelrun.storage import StorageError
    from pixelrun.worker.loop import Worker

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from pixelrun.weights.unavailable import EXIT_WEIGHTS_UNAVAILABLE, WeightsUnavailable

    process = Worker(settings, name=name)
    process.install_signal_handlers()
    try:
        process.run()
    except WeightsUnavailable as error:
        _weights_error(error, False)
        raise typer.Exit(EXIT_WEIGHTS_UNAVAILABLE) from None
    except StorageError as exc:
        typer.echo(f"pixelrun worker: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default $PIXELRUN_HOST, else 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default $PIXELRUN_PORT, else 8000).")
    ] = None,
    weights: WeightsOption = None,
    workers: Annotated[int, typer.Option(help="Worker processes to start here (0: API only).")] = 1,
    device: DeviceOption = None,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
    public_base_url: Annotated[
        str | None,
        typer.Option(
            help="URL clients use to reach this server (default $PIXELRUN_PUBLIC_BASE_URL, else http://HOST:PORT)."
        ),
    ] = None,
    models: ModelsOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = True,
) -> None:
    """Serve the API, with N worker processes (one by default) on this machine."""
    settings = serve_settings(
        host=host,
        port=port,
        weights=weights,
        device=device,
        database_url=database_url,
        data_dir=data_dir,
        public_base_url=public_base_url,
        models=models,
    )
    _setup_logging(verbose, settings)
    log_store(settings)
    from pixelrun.serve import serve as run_server

    run_server(settings, workers)


@app.command("tiny-weights")
def tiny_weights(
    directory: Annotated[Path, typer.Argument(help="Where to write the checkpoint.")],
    seed: Annotated[int, typer.Option(help="Seed of the random init.")] = 0,
) -> None:
    """Generate tiny random weights of the real architecture as a diffusers directory (offline)."""
    from pixelrun.engines.qwen_image_edit.tiny_weights import save_tiny_checkpoint

    save_tiny_checkpoint(directory, seed)
    typer.echo(str(directory))


if __name__ == "__main__":
    app()

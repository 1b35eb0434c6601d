"""`pixelrun weights download|check`: weights for GPU machines without Hub access.

Download on a machine with Hub access, copy the folder, check it, serve it
(docs/weights.md). Imports stay inside the commands: `pixelrun --help` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DOWNLOAD_ADVICE = "run `pixelrun weights download` on a machine with Hub access, then copy the folder here (docs/weights.md)"

weights_app = typer.Typer(
    help="Model weights: download everything a worker needs, or check a copied folder.",
    no_args_is_help=True,
)


@weights_app.command("download")
def download(
    to: Annotated[Path, typer.Option("--to", help="Folder to write (created; resumable).")] = Path(
        "pixelrun-weights"
    ),
) -> None:
    """Fetch the base model, the Lightning LoRA and the safety classifier into one folder."""
    from huggingface_hub import hf_hub_download, snapshot_download

    from pixelrun.weights.bundle import PARTS, bundle_problems
    from pixelrun.weights.source import require_hub
    from pixelrun.weights.unavailable import WeightsUnavailable

    try:
        for part in PARTS:  # fail in seconds, before any byte, when the Hub is out of reach
            require_hub(part.repo_id, part.label, advice=DOWNLOAD_ADVICE)
    except WeightsUnavailable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    to.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        target = to / part.folder
        typer.echo(f"{part.label}: {part.repo_id} → {target}", err=True)
        if part.filename is not None:
            hf_hub_download(part.repo_id, part.filename, local_dir=target)
        else:
            snapshot_download(part.repo_id, local_dir=target)
    incomplete = {label: found for label, found in bundle_problems(to).items() if found}
    if incomplete:
        for label, found in incomplete.items():
            typer.echo(f"error: {label}: {'; '.join(found)}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"complete: copy {to} to the GPU machine, then `pixelrun weights check DIR` and "
        "`pixelrun serve --weights DIR`",
        err=True,
    )
    typer.echo(str(to))


@weights_app.command("check")
def check(
    directory: Annotated[Path, typer.Argument(help="A checkpoint, or a `weights download` folder.")],
) -> None:
    """Say whether DIR is complete (every component's config and weights); exit 1 if not."""
    from pixelrun.weights.bundle import bundle_problems, is_bundle
    from pixelrun.weights.checkpoint import checkpoint_problems, describe_problems
    from pixelrun.weights.tiny import is_tiny, regenerate_advice, tiny_problems

    if not directory.is_dir():
        typer.echo(f"error: {directory}: not a directory", err=True)
        raise typer.Exit(1)
    advice = None
    if is_bundle(directory):
        report = bundle_problems(directory)
    elif is_tiny(directory):  # what serving it needs, beside the checkpoint
        report = tiny_problems(directory)
        advice = regenerate_advice(directory)
    else:
        report = {"checkpoint": checkpoint_problems(directory)}
    for label, found in report.items():
        typer.echo(f"{label}: " + (f"INCOMPLETE: {describe_problems(found, limit=20)}" if found else "ok"))
    if any(report.values()):
        if advice:
            typer.echo(f"error: {directory}: incomplete; {advice}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{directory}: complete")

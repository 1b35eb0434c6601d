"""One `Settings` object for every process, read from `PIXELRUN_*` environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIXELRUN_", extra="ignore")

    # Where everything local lives: the SQLite file, output files, the tiny weights.
    data_dir: Path = Field(default=Path(".pixelrun"), description="Local data directory")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data directory"
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL that clients use to reach this API"
    )
    host: str = "127.0.0.1"
    port: int = 8000

    # Engine.
    weights: str = Field(default="tiny", description="tiny | Hugging Face id | local directory")
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["auto", "bfloat16", "float32", "float16"] = "auto"
    cpu_offload: bool = False
    attention_backend: str | None = Field(
        default=None, description="diffusers attention backend of the transformer; default PyTorch SDPA"
    )
    safety_weights: str | None = Field(
        default=None,
        description="NSFW classifier: HF id or directory; default: the tiny one with tiny weights, "
        "else Falconsai/nsfw_image_detection",
    )
    load_safety_checker: bool = True

    # Queue.
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    max_attempts: int = 3
    poll_interval_seconds: float = 0.2

    # Limits.
    max_body_bytes: int = 40 * 1024 * 1024
    max_image_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    fetch_connect_timeout_seconds: float = 5.0
    fetch_total_timeout_seconds: float = 30.0
    file_url_ttl_seconds: int = 7 * 24 * 3600
    run_timeout_seconds: float = 1800.0
    sync_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long POST /v1/images/edits holds its answer before a 504 (the run goes on)",
    )

    # Outbound network rules (input images and callbacks).
    allow_private_urls: bool = False
    allowed_networks: list[str] = Field(default_factory=list)
    callback_timeout_seconds: float = 10.0

    # Set by `pixelrun serve` for its workers: a worker whose parent is gone stops.
    parent_pid: int | None = None

    # API processes run the callback dispatcher and the lease reaper; off only for tests
    # that drive them by hand.
    background_tasks: bool = True

    # Secret used to sign file URLs; generated into the data dir when not set.
    signing_secret: str | None = None

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pixelrun.db').resolve()}"

    @property
    def tiny_weights_dir(self) -> Path:
        return self.data_dir / "weights" / "tiny"

"""One `Settings` object for every process, read from `PIXELRUN_*` environment variables."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIXELRUN_", extra="ignore")

    # Where everything local lives: the SQLite file, output files, the tiny weights.
    data_dir: Path = Field(default=Path(".pixelrun"), description="Local data directory")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data directory"
    )
    listen_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL for LISTEN (queue and stream wake-ups): a direct or session-mode "
        "pooler address when PIXELRUN_DATABASE_URL goes through a transaction-mode pooler; "
        "default: PIXELRUN_DATABASE_URL",
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
    models: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Model ids a worker serves (JSON list or comma-separated); default: every "
        "registered model. One set of base weights serves both Qwen models, the Lightning LoRA "
        "is loaded only when its model is listed",
    )
    lightning_lora: str = Field(
        default=(
            "lightx2v/Qwen-Image-Edit-2511-Lightning/Qwen-Image-Edit-2511-Lightning-8steps-V1.0-bf16.safetensors"
        ),
        description="The Lightning LoRA: a local .safetensors file or OWNER/REPO/FILE on the Hugging Face "
        "Hub; with tiny weights a tiny random one is generated instead",
    )
    lora_cache: int = Field(
        default=4, ge=0, description="User LoRA adapters kept loaded in a worker between runs"
    )
    max_lora_bytes: int = Field(default=1024**3, ge=1, description="Largest LoRA file a run may use")
    lora_cache_bytes: int = Field(
        default=20 * 1024**3,
        ge=0,
        description="Bytes of LoRA files a worker's data dir keeps on disk; least recently used "
        "files are deleted past it (files used in the last 5 minutes excepted)",
    )
    compile: bool = Field(
        default=False,
        description="torch.compile the transformer's repeated blocks (dynamic shapes) and warm up "
        "the common sizes at worker start",
    )
    quantize: Literal["none", "int8wo", "fp8"] = Field(
        default="none",
        description="Transformer weight quantization through torchao: int8 weight-only, or FP8 "
        "(CUDA compute capability 8.9+)",
    )
    group_offload: bool = Field(
        default=False,
        description="diffusers group offloading with CUDA streams (CUDA only; less GPU memory than "
        "cpu_offload at a smaller speed cost)",
    )

    # Live previews (docs/api.md#previews).
    preview_every: int = Field(
        default=0,
        ge=0,
        le=50,
        description="Previews every N denoising steps for runs whose input does not set "
        "preview_every; 0: only runs that ask get previews",
    )

    # Queue.
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    max_attempts: int = 3
    poll_interval_seconds: float = 0.2
    max_active_runs_per_key: int | None = Field(
        default=None,
        ge=1,
        description="Runs of one owner in progress at once; a claim passes over owners at it (docs/queue.md)",
    )

    # Run event streams (docs/api.md#streaming).
    stream_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        le=15.0,
        description="Quiet seconds before a stream sends a `: keep-alive` comment",
    )
    stream_poll_seconds: float = Field(
        default=0.1,
        gt=0,
        description="How often an API process reads new stream events on SQLite (PostgreSQL is notified)",
    )

    # Limits.
    max_body_bytes: int = 40 * 1024 * 1024
    body_read_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Time a request body has to arrive in full, from the first read, plus one second "
        "per MiB it declares; past it 408 REQUEST_TIMEOUT and the connection is closed (docs/security.md)",
    )
    body_memory_bytes: int = Field(
        default=128 * 1024 * 1024,
        ge=1024 * 1024,
        description="Request bodies over 1 MiB that one API process reads at once, in bytes; the others "
        "wait unread (503 with Retry-After if their turn does not come within the body read timeout)",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections (and tasks) one API process holds (uvicorn limit_concurrency); "
        "beyond it new requests get 503 at once",
    )
    max_json_depth: int = Field(
        default=32,
        ge=2,
        le=100,
        description="Deepest nesting of objects and lists a run's input or metadata may have; "
        "deeper is 422 naming the field",
    )
    max_metadata_bytes: int = Field(
        default=64 * 1024,
        ge=1,
        description="Largest run `metadata`, as compact JSON; larger is 422",
    )
    max_image_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    fetch_connect_timeout_seconds: float = 5.0
    fetch_total_timeout_seconds: float = 30.0
    file_url_ttl_seconds: int = 7 * 24 * 3600
    upload_url_ttl_seconds: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="How long an asset upload URL stays valid (docs/uploads.md)",
    )
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1,
        description="Largest asset a client may upload (docs/uploads.md: 50 MiB)",
    )
    max_pending_uploads: int = Field(
        default=20,
        ge=1,
        description="Unconfirmed uploads an owner may have open at once (docs/uploads.md); one more is "
        "429 RATE_LIMITED until one is confirmed, deleted or its URL expires",
    )
    run_timeout_seconds: float = 1800.0
    rate_limit_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="Creates allowed per API key and minute, counted in the store across every "
        "API replica; beyond it 429 RATE_LIMITED with Retry-After. Unset: no limit",
    )
    rate_limit_window_seconds: int = Field(
        default=60,
        ge=1,
        description="Length of the rate limit's counting window: RATE_LIMIT_PER_MINUTE creates are "
        "allowed per window. Keep 60 (tests shorten it)",
    )
    auth_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="How long an API process reuses a key lookup; a revoked key stops working "
        "within this time. 0 looks every key up on every request",
    )
    read_threads: int = Field(
        default=2,
        ge=1,
        description="Threads per API process for the parts of run reads and answers that cannot "
        "run on the event loop (signing output URLs, a SQLite read that met a lock). More threads "
        "contend for Python's lock and cost CPU per request",
    )
    sync_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long POST /v1/images/edits holds its answer before a 504 (the run goes on)",
    )

    # Outbound network rules (input images and callbacks).
    allow_private_urls: bool = False
    allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks outbound requests may reach even when private URLs are refused "
        "(JSON list or comma-separated), e.g. 10.20.0.0/16",
    )
    callback_timeout_seconds: float = 10.0

    # Set by `pixelrun serve` for its workers: a worker whose parent is gone stops.
    parent_pid: int | None = None
    worker_id: str | None = Field(
        default=None, description="Worker id in the store; set by `pixelrun serve`, default a random one"
    )

    # Weights that cannot be loaded (docs/weights.md).
    worker_restart_backoff_seconds: float = Field(
        default=2.0,
        description="`pixelrun serve`: pause before restarting a worker that exited; doubles after "
        "each load failure in a row",
    )
    worker_restart_backoff_max_seconds: float = Field(
        default=60.0, description="`pixelrun serve`: longest pause between two restarts of a worker"
    )
    worker_max_load_failures: int = Field(
        default=5,
        ge=1,
        description="`pixelrun serve`: load failures in a row after which a worker is no longer "
        "restarted (the reason stays in the store and readiness shows it)",
    )
    model_grace_seconds: float = Field(
        default=60.0,
        description="Seconds after API start-up during which runs are queued even when no worker "
        "serves the model; afterwards such creates answer 503 MODEL_UNAVAILABLE (a worker that is "
        "loading counts as serving), and queued runs of a model without a live worker for this long "
        "fail with model_unavailable. Negative: never refuse or fail them (workers started on demand)",
    )
    readiness_requires_worker: bool = Field(
        default=True,
        description="GET /v1/readiness answers 503 while no worker is ready. Off where workers are "
        "started on demand (scaled from zero with the queue): readiness then checks the store and storage",
    )

    # API processes run the callback dispatcher and the lease reaper; off only for tests
    # that drive them by hand.
    background_tasks: bool = True

    # Storage of output files and uploads.
    storage_url: str | None = Field(
        default=None,
        description="Where files live: a local directory (default: <data dir>/files) or "
        "s3://BUCKET[/PREFIX] (credentials, region, endpoint: the standard AWS variables)",
    )
    file_urls: Literal["presigned", "api"] = Field(
        default="presigned",
        description="On S3 storage: output URLs are S3 presigned GETs, or API-signed URLs "
        "the API streams from the bucket (for buckets clients cannot reach)",
    )
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="S3 bucket addressing; 'path' for most MinIO/Ceph setups"
    )
    # Secret used to sign file and upload URLs; default: one kept in the store, shared by
    # every process.
    signing_secret: str | None = Field(
        default=None,
        description="Secret that signs file and upload URLs; the same on every process. "
        "Default: generated once and kept in the store",
    )

    # Retention.
    retention_hours: float = Field(
        default=24 * 30,
        ge=0,
        description="Output files, log lines, uploaded assets (inline images included) and callback "
        "attempts older than this are deleted (run records and status events stay); 0 keeps them",
    )
    stream_retention_hours: float = Field(
        default=1.0,
        gt=0,
        description="A run's stream rows (status, progress, log and preview events) are deleted this "
        "long after it ended; its stream then answers the run and done",
    )
    janitor_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often an API process runs the retention janitor"
    )

    # Operations.
    metrics_token: str | None = Field(
        default=None, description="Bearer token that GET /metrics requires; unset: /metrics is open"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="Process log lines: text, or JSON lines (one object per line)"
    )

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pixelrun.db').resolve()}"

    @field_validator("models", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise ValueError("expected a JSON list, or comma-separated networks") from None
            else:
                value = [item for item in value.split(",") if item.strip()]
        if isinstance(value, list):
            for item in value:
                try:
                    ipaddress.ip_network(str(item).strip(), strict=False)
                except ValueError:
                    raise ValueError(f"expected networks such as 10.20.0.0/16, not {item!r}") from None
        return value

    @property
    def lora_dir(self) -> Path:
        return self.data_dir / "loras"

    @property
    def tiny_weights_dir(self) -> Path:
        return self.data_dir / "weights" / "tiny"


class InvalidSettings(ValueError):
    """Settings that cannot be used; `lines` says, one line per bad setting, which, what
    value and what is expected (the CLI prints them instead of a traceback)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


#: Settings whose values are never shown in an error line.
_SECRET = re.compile(r"secret|token|password", re.I)
_SOURCE_FIELD = re.compile(r'field "(\w+)"')


def load_settings(**overrides: Any) -> Settings:
    """`Settings` from the environment, with `overrides` (the command-line flags that were
    given; None means not given) winning. Raises `InvalidSettings`."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "?"
            lines.append(_describe(field, problem["input"], problem["msg"], field in given))
        raise InvalidSettings(lines) from None
    except SettingsError as error:  # a value the environment source could not even parse
        match = _SOURCE_FIELD.search(str(error))
        field = match.group(1) if match else "?"
        value = _environment_value(field)
        raise InvalidSettings([_describe(field, value, "expected a JSON value", False)]) from None


def _environment_value(field: str) -> str | None:
    wanted = f"PIXELRUN_{field}".upper()
    return next((value for name, value in os.environ.items() if name.upper() == wanted), None)


def _describe(field: str, value: object, message: str, from_flag: bool) -> str:
    name = f"--{field.replace('_', '-')}" if from_flag else f"PIXELRUN_{field.upper()}"
    if from_flag is False and isinstance(value, dict):
        value = _environment_value(field)  # pydantic shows the whole input: show the variable
    shown = "(hidden)" if _SECRET.search(field) else repr(str(value))[:120]
    message = message.removeprefix("Value error, ")
    message = re.sub(r"^Input should be ", "expected ", message)
    return f"invalid setting {name}={shown}: {message}"

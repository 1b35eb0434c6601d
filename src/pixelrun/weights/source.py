"""Where weights come from, checked before any library loads them (torch-free).

`--weights` is a local directory or a Hugging Face id. Failing here takes milliseconds
and says what to do; failing inside `from_pretrained` takes up to a minute of retries and
ends in a traceback. A Hub id is used from the local cache when it is complete there, so
a box without Hub access never touches the network for weights it already has.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from pixelrun.weights.bundle import BASE, is_bundle
from pixelrun.weights.checkpoint import checkpoint_problems, describe_problems
from pixelrun.weights.unavailable import WeightsUnavailable

#: How long the Hub may take to answer one metadata request before we call it unreachable.
HUB_CHECK_TIMEOUT_SECONDS = 3.0
#: `org/name`, as Hugging Face spells repository ids.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TINY = "tiny"
TRUE_VALUES = {"1", "on", "yes", "true"}

Problems = Callable[[Path], list[str]]
ADVICE = (
    "fetch it with `pixelrun weights download` on a machine with Hub access, copy it here "
    "and pass --weights DIR (docs/weights.md)"
)


def hub_offline() -> bool:
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE_VALUES or bool(
        constants.HF_HUB_OFFLINE
    )


def is_hub_id(weights: str) -> bool:
    """An `org/name` that is not an existing local path (the rule `from_pretrained` follows)."""
    return bool(HUB_ID.match(weights)) and not Path(weights).expanduser().exists()


def check_weights(weights: str) -> None:
    """Fail fast, before torch is imported, when `--weights` cannot be found (`tiny` is
    generated on demand). Raises `WeightsUnavailable`; the full load checks again."""
    if weights != TINY:
        locate_weights(weights)


def locate_weights(
    weights: str | Path,
    *,
    problems: Problems = checkpoint_problems,
    what: str = "weights",
    hub_timeout: float = HUB_CHECK_TIMEOUT_SECONDS,
) -> str | Path:
    """A local directory to load from, or a Hub id that the Hub has and will serve.

    Raises `WeightsUnavailable` with a one-line message otherwise.
    """
    text = str(weights)
    if is_hub_id(text):
        return _hub_weights(text, problems, what, hub_timeout)
    return local_weights(Path(text).expanduser(), problems, what)


def local_weights(path: Path, problems: Problems = checkpoint_problems, what: str = "weights") -> Path:
    if not path.exists():
        raise WeightsUnavailable(
            "not_found",
            f"{what} {path}: no such directory; pass a checkpoint directory, a Hugging Face id "
            "or 'tiny' (docs/weights.md)",
        )
    if not path.is_dir():
        raise WeightsUnavailable(
            "not_a_directory", f"{what} {path}: is a file, not a checkpoint directory (docs/weights.md)"
        )
    if problems is checkpoint_problems and is_bundle(path):
        path = path / BASE.folder  # the folder `pixelrun weights download` writes
    found = problems(path)
    if found:
        raise WeightsUnavailable(
            "incomplete",
            f"{what} {path}: not a complete checkpoint: {describe_problems(found)}; "
            "copy it again or re-run `pixelrun weights download`",
        )
    return path


def _cached_snapshot(repo_id: str, problems: Problems) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        snapshot = Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError) or a cache we cannot read
        return None
    return None if problems(snapshot) else snapshot


def _hub_weights(repo_id: str, problems: Problems, what: str, timeout: float) -> str | Path:
    cached = _cached_snapshot(repo_id, problems)
    if cached is not None:
        return cached
    from huggingface_hub import constants

    where = f"not a local directory nor complete in the Hugging Face cache ({constants.HF_HUB_CACHE}); "
    require_hub(repo_id, what, timeout, where=where)
    return repo_id


def require_hub(
    repo_id: str,
    what: str = "weights",
    timeout: float = HUB_CHECK_TIMEOUT_SECONDS,
    *,
    where: str = "",
    advice: str = ADVICE,
) -> None:
    """Raise `WeightsUnavailable` unless the Hub answers, quickly, that it has `repo_id`.

    `where` opens the message (what was tried locally); `advice` ends it.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    if hub_offline():
        raise WeightsUnavailable("no_hub_access", f"{what} {repo_id}: {where}HF_HUB_OFFLINE is set; {advice}")
    try:
        HfApi().model_info(repo_id, timeout=timeout)
    except RepositoryNotFoundError:
        raise WeightsUnavailable(
            "unknown_model",
            f"{what} {repo_id}: the Hugging Face Hub has no such model (or it is private or gated: "
            "set HF_TOKEN); check the id, or pass a local directory",
        ) from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "no answer"
        raise WeightsUnavailable(
            "no_hub_access",
            f"{what} {repo_id}: {where}the Hugging Face Hub answered HTTP {status}; retry later, or {advice}",
        ) from None
    except Exception as error:  # DNS, refused, timeout, proxy: the Hub is not reachable
        raise WeightsUnavailable(
            "no_hub_access",
            f"{what} {repo_id}: {where}the Hugging Face Hub ({constants.ENDPOINT}) "
            f"cannot be reached within {timeout:g} s ({type(error).__name__}: {error}); {advice}",
        ) from None

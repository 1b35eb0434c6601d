"""Is a directory a complete diffusers checkpoint? (torch-free, reads only small files)

Shared by `pixelrun weights check` and the loader's "not a complete checkpoint"
diagnosis: every component named in `model_index.json` needs its folder, its
configuration, and, for models, its weights (a single file, or an index whose shards
are all present and non-empty). A partial download or copy shows up as the list of
what is missing, instead of a library traceback deep inside `from_pretrained`.
"""

from __future__ import annotations

import json
from pathlib import Path

MODEL_INDEX = "model_index.json"
#: Configuration files one of which every component folder holds.
CONFIG_NAMES = (
    "config.json",
    "scheduler_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer_config.json",
)
#: A model component (it has `config.json`) needs one of these, or a `*.index.json`.
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def _present(path: Path) -> bool:
    # `is_file` follows symlinks: a dangling one (a Hugging Face cache snapshot whose
    # blob never finished downloading) counts as missing.
    return path.is_file() and path.stat().st_size > 0


def _weight_problems(folder: Path, name: str) -> list[str]:
    indexes = sorted(folder.glob("*.index.json"))
    if not indexes:
        if any(_present(p) for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES):
            return []
        return [f"{name}/: no weights (*.safetensors or *.bin)"]
    problems: list[str] = []
    for index in indexes:
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError):
            problems.append(f"{name}/{index.name}: unreadable weight index")
            continue
        missing = sorted({shard for shard in weight_map.values() if not _present(folder / shard)})
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            problems.append(
                f"{name}/: {len(missing)} of {len(set(weight_map.values()))} shards missing ({shown})"
            )
    return problems


def component_problems(root: Path, name: str) -> list[str]:
    folder = root / name
    if not folder.is_dir():
        return [f"{name}/ missing"]
    if not any(_present(folder / config) for config in CONFIG_NAMES):
        return [f"{name}/: no configuration ({' or '.join(CONFIG_NAMES)})"]
    if name == "tokenizer" and not (
        _present(folder / "tokenizer.json")
        or (_present(folder / "vocab.json") and _present(folder / "merges.txt"))
    ):
        return [f"{name}/: no vocabulary (tokenizer.json, or vocab.json and merges.txt)"]
    if _present(folder / "config.json"):
        return _weight_problems(folder, name)
    return []


def checkpoint_problems(root: Path) -> list[str]:
    """What keeps `root` from being a complete checkpoint; empty when it is complete."""
    index = root / MODEL_INDEX
    if not _present(index):
        return [f"{MODEL_INDEX} missing"]
    try:
        entries = json.loads(index.read_text())
    except (OSError, ValueError):
        return [f"{MODEL_INDEX} unreadable"]
    if not isinstance(entries, dict):
        return [f"{MODEL_INDEX} unreadable"]
    problems: list[str] = []
    for name, entry in sorted(entries.items()):
        # Components are `[library, class]` pairs; `_class_name` and friends are metadata,
        # and `[null, null]` marks an optional component left out.
        if name.startswith("_") or not isinstance(entry, list) or entry[-1] is None:
            continue
        problems += component_problems(root, name)
    return problems


def describe_problems(problems: list[str], limit: int = 4) -> str:
    shown = "; ".join(problems[:limit])
    return shown + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


def model_folder_problems(root: Path) -> list[str]:
    """A single transformers model folder (the safety classifier): config, preprocessor, weights."""
    if not root.is_dir():
        return [f"{root.name}/ missing"]
    problems = [
        f"{name} missing" for name in ("config.json", "preprocessor_config.json") if not _present(root / name)
    ]
    return problems + ([] if problems else _weight_problems(root, root.name))

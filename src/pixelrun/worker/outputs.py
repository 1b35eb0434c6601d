"""Encode output images and store them (or inline them for `sync_mode`)."""

from __future__ import annotations

from typing import Any

from PIL import Image

from pixelrun.media import content_type_for, encode_image, to_data_uri
from pixelrun.storage import FileStorage, layout


def output_key(run_id: str, index: int, fmt: str) -> str:
    return layout.run_output_key(run_id, index, "jpg" if fmt == "jpeg" else fmt)


def save_outputs(
    run_id: str, images: list[Image.Image], fmt: str, *, sync_mode: bool, storage: FileStorage
) -> list[dict[str, Any]]:
    """The `outputs` items of a run; stored ones hold a storage `key`, signed into a URL on read."""
    items = []
    content_type = content_type_for(fmt)
    for index, image in enumerate(images):
        data = encode_image(image, fmt)
        item: dict[str, Any] = {
            "type": "image",
            "content_type": content_type,
            "width": image.width,
            "height": image.height,
            "file_size": len(data),
        }
        if sync_mode:
            item["url"] = to_data_uri(data, content_type)
        else:
            item["key"] = storage.put(output_key(run_id, index, fmt), data, content_type).key
        items.append(item)
    return items

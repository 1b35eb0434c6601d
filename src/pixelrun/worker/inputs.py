"""Fetch and decode a run's input images: `data:` URIs, `asset://` URLs (read from storage)
and http(s) URLs under the address rules."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from pixelrun.media import ImageRejected, decode_image, parse_data_uri
from pixelrun.net import OutboundClient, OutboundError
from pixelrun.runs import is_asset_url
from pixelrun.worker.assets import AssetUnavailable, StoredAssets


class InputImageError(Exception):
    """One input image could not be used; the message names it and says why."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"image_urls[{index}]: {reason}")
        self.index = index
        self.reason = reason


@dataclass(frozen=True)
class InputLimits:
    max_bytes: int
    max_pixels: int


def load_input_images(
    urls: list[str], client: OutboundClient, limits: InputLimits, assets: StoredAssets | None = None
) -> list[Image.Image]:
    images = []
    for index, url in enumerate(urls):
        try:
            if url.startswith("data:"):
                _, data = parse_data_uri(url, max_bytes=limits.max_bytes)
            elif is_asset_url(url):
                if assets is None:
                    raise AssetUnavailable("asset URLs are not available here")
                data = assets.read(url)
            else:
                data = client.fetch(url, max_bytes=limits.max_bytes).content
            images.append(decode_image(data, max_pixels=limits.max_pixels))
        except (ImageRejected, OutboundError, AssetUnavailable) as error:
            raise InputImageError(index, str(error)) from error
    return images

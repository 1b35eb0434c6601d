"""Untrusted image decoding, output encoding and data URIs (no torch)."""

from pixelrun.media.datauri import parse_data_uri, to_data_uri
from pixelrun.media.decode import ALLOWED_FORMATS, DEFAULT_MAX_PIXELS, decode_image, image_media_type
from pixelrun.media.encode import OUTPUT_FORMATS, OutputFormat, content_type_for, encode_image
from pixelrun.media.errors import ImageRejected
from pixelrun.media.preview import PREVIEW_CONTENT_TYPE, encode_preview

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "OUTPUT_FORMATS",
    "PREVIEW_CONTENT_TYPE",
    "ImageRejected",
    "OutputFormat",
    "content_type_for",
    "decode_image",
    "encode_image",
    "encode_preview",
    "image_media_type",
    "parse_data_uri",
    "to_data_uri",
]

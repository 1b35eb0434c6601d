"""The image half of `Qwen2VLProcessor`, buildable without torchvision.

transformers 5.x builds `Qwen2VLProcessor` with a video processor that needs
torchvision; the edit pipeline only ever passes text and images, so this subclass
carries the (PIL-based) image processor and the tokenizer and nothing else.
"""

from __future__ import annotations

from typing import Any

from transformers import Qwen2VLProcessor
from transformers.processing_utils import ProcessorMixin

IMAGE_TOKEN = "<|image_pad|>"
VIDEO_TOKEN = "<|video_pad|>"


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    # ProcessorMixin derives the sub-processors from this signature: no video_processor.
    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.image_token = IMAGE_TOKEN
        self.video_token = VIDEO_TOKEN
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.video_token_id = tokenizer.convert_tokens_to_ids(VIDEO_TOKEN)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

"""NSFW image classifier: a ViT image classifier loaded through transformers.

The default model is `Falconsai/nsfw_image_detection` (Apache-2.0, ViT-base, 86 M
parameters, labels `normal`/`nsfw`): small next to the 20 B editor, fast on any
device, and an ordinary `AutoModelForImageClassification` checkpoint, so a tiny
random one of the same architecture can be built offline for tests.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from PIL import Image
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    ViTConfig,
    ViTForImageClassification,
)
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

log = logging.getLogger(__name__)

DEFAULT_SAFETY_WEIGHTS = "Falconsai/nsfw_image_detection"
NSFW_LABEL = "nsfw"


class NsfwClassifier:
    """Flags images whose probability of the `nsfw` label reaches `threshold`."""

    def __init__(
        self,
        model: ViTForImageClassification,
        processor: ViTImageProcessorPil,
        *,
        threshold: float = 0.5,
    ) -> None:
        labels = {name.lower(): index for index, name in model.config.id2label.items()}
        if NSFW_LABEL not in labels:
            raise ValueError(f"classifier has no {NSFW_LABEL!r} label: {model.config.id2label}")
        self._nsfw_index = int(labels[NSFW_LABEL])
        self.model = model.eval()
        self.processor = processor
        self.threshold = threshold

    @classmethod
    def load(
        cls, weights: str | Path, *, device: str | torch.device = "cpu", threshold: float = 0.5
    ) -> NsfwClassifier:
        source = str(weights)
        log.info("loading safety checker %s", source)
        processor = AutoImageProcessor.from_pretrained(source, backend="pil")
        model = AutoModelForImageClassification.from_pretrained(source).to(device)
        return cls(model, processor, threshold=threshold)

    def probabilities(self, images: list[Image.Image]) -> list[float]:
        inputs = self.processor(images=[image.convert("RGB") for image in images], return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(self.model.device, self.model.dtype)
        with torch.no_grad():
            logits = self.model(pixel_values=pixel_values).logits
        return logits.float().softmax(dim=-1)[:, self._nsfw_index].tolist()

    def check(self, images: list[Image.Image]) -> list[bool]:
        return [probability >= self.threshold for probability in self.probabilities(images)]


def save_tiny_classifier(directory: Path, *, seed: int = 0, nsfw_bias: float = -4.0) -> Path:
    """A tiny random ViT classifier with the real label set, saved as a normal checkpoint.

    `nsfw_bias` is added to the `nsfw` logit: the default makes the random model call
    ordinary images `normal`, as a real checker does; tests pass a large positive value
    to exercise the flagged path.
    """
    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
        id2label={0: "normal", 1: NSFW_LABEL},
        label2id={"normal": 0, NSFW_LABEL: 1},
    )
    model = ViTForImageClassification(config)
    with torch.no_grad():
        model.classifier.bias[1] += nsfw_bias
    processor = ViTImageProcessorPil(size={"height": 32, "width": 32})
    directory = Path(directory)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory

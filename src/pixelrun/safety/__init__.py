"""Output safety: the NSFW classifier."""

from .nsfw import DEFAULT_SAFETY_WEIGHTS, NsfwClassifier, save_tiny_classifier

__all__ = ["DEFAULT_SAFETY_WEIGHTS", "NsfwClassifier", "save_tiny_classifier"]

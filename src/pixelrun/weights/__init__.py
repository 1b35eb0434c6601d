"""Model weights: where they come from, whether a folder is complete, and why they cannot be loaded.

Torch-free (the CLI, the supervisor and the worker use it before any model library is
imported). `source` checks `--weights`; `checkpoint` checks a diffusers folder; `bundle`
is the `pixelrun weights download` folder; `unavailable` is the error a person can act
on; `cli` holds the `pixelrun weights` commands (docs/weights.md).
"""

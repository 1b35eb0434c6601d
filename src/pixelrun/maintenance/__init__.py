"""Periodic work on the store and file storage, run by API processes and workers alike.

Torch-free: the API imports it.
"""

from pixelrun.maintenance.deletion import delete_asset

__all__ = ["delete_asset"]

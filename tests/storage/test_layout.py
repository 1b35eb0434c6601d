"""The storage key layout: the keys stored files already have (a change would orphan them),
and keys every back end accepts."""

from __future__ import annotations

from pixelrun.storage import layout, validate_key, validate_prefix

RUN_ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
ASSET_ID = "ast_0190a1b2c3d47e5f"


def test_the_keys_of_files_already_stored() -> None:
    assert layout.run_output_key(RUN_ID, 0, "png") == f"runs/{RUN_ID}/0.png"
    assert layout.upload_key(ASSET_ID, "webp") == f"uploads/{ASSET_ID}/upload.webp"
    assert layout.asset_key(ASSET_ID, "safetensors") == f"assets/{ASSET_ID}/asset.safetensors"


def test_every_key_is_valid_and_lies_in_its_own_folder() -> None:
    for prefix, key in (
        (layout.run_prefix(RUN_ID), layout.run_output_key(RUN_ID, 3, "jpg")),
        (layout.upload_prefix(ASSET_ID), layout.upload_key(ASSET_ID, "png")),
        (layout.asset_prefix(ASSET_ID), layout.asset_key(ASSET_ID, "png")),
    ):
        assert validate_key(key) == key and validate_prefix(prefix) == prefix
        assert key.startswith(prefix)


def test_only_upload_keys_are_upload_keys() -> None:
    assert layout.is_upload_key(layout.upload_key(ASSET_ID, "png"))
    # An upload URL must never name the checked bytes runs read, nor a run's outputs.
    assert not layout.is_upload_key(layout.asset_key(ASSET_ID, "png"))
    assert not layout.is_upload_key(layout.run_output_key(RUN_ID, 0, "png"))
    assert not layout.is_upload_key(f"assets/{layout.upload_key(ASSET_ID, 'png')}")

import pytest

from pixelrun.storage import InvalidKeyError, validate_key, validate_prefix


def test_bad_keys_are_refused(bad_key: str) -> None:
    with pytest.raises(InvalidKeyError):
        validate_key(bad_key)


def test_non_string_key_is_refused() -> None:
    with pytest.raises(InvalidKeyError):
        validate_key(b"runs/0.png")


@pytest.mark.parametrize("key", ["runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/0.png", "a", "x/y_z-1.tar.gz"])
def test_good_keys_pass_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("prefix", ["runs", "runs//", "../", "/", "runs/../", ""])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidKeyError):
        validate_prefix(prefix)


def test_prefix_names_a_folder() -> None:
    assert validate_prefix("runs/abc/") == "runs/abc/"

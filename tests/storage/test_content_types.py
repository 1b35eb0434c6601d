import pytest

from pixelrun.storage.content_types import content_type_for, normalize_content_type


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("runs/1/0.png", "image/png"),
        ("runs/1/0.JPG", "image/jpeg"),
        ("runs/1/0.jpeg", "image/jpeg"),
        ("runs/1/0.webp", "image/webp"),
        ("runs/1/0", "application/octet-stream"),
        ("runs/1/0.exe", "application/octet-stream"),
        ("runs/x.png/0", "application/octet-stream"),
    ],
)
def test_content_type_from_extension(key: str, expected: str) -> None:
    assert content_type_for(key) == expected


def test_normalize_drops_parameters_and_case() -> None:
    assert normalize_content_type(" Image/PNG; charset=binary") == "image/png"

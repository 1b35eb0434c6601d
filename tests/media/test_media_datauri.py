from __future__ import annotations

import base64

import pytest

from pixelrun.media import ImageRejected, parse_data_uri, to_data_uri


def test_round_trip() -> None:
    uri = to_data_uri(b"\x89PNG data", "image/png")
    assert uri == "data:image/png;base64," + base64.b64encode(b"\x89PNG data").decode()
    assert parse_data_uri(uri, max_bytes=100) == ("image/png", b"\x89PNG data")


def test_parameters_and_case_are_accepted() -> None:
    payload = base64.b64encode(b"abc").decode()
    assert parse_data_uri(f"DATA:Image/JPEG;name=a.jpg;BASE64,{payload}", max_bytes=3) == (
        "image/jpeg",
        b"abc",
    )


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://example.com/a.png", "not a data: URI"),
        ("data:image/png;base64", "no ','"),
        ("data:" + "x" * 10_000, "no ','"),
        ("data:text/html;base64,PGI+", "is not image/*"),
        ("data:;base64,AAAA", "is not image/*"),
        ("data:image/svg+xml,<svg/>", "must be base64"),
        ("data:image/png,AAAA", "must be base64"),
        ("data:image/png;base64,AA=A", "invalid base64"),
        ("data:image/png;base64,AAAA*AAA", "invalid base64"),
        ("data:image/png;base64,", "empty"),
    ],
)
def test_rejected(uri: str, reason: str) -> None:
    with pytest.raises(ImageRejected) as info:
        parse_data_uri(uri, max_bytes=1000)
    assert reason in info.value.reason


def test_size_is_checked_from_the_encoded_length() -> None:
    exact = to_data_uri(b"x" * 300, "image/png")
    assert parse_data_uri(exact, max_bytes=300)[1] == b"x" * 300
    with pytest.raises(ImageRejected, match=r"over the 0\.0003 MB limit"):
        parse_data_uri(to_data_uri(b"x" * 301, "image/png"), max_bytes=300)
    # Far too long and not even valid base64: refused on length alone, before decoding.
    with pytest.raises(ImageRejected, match=r"about 75 MB, over the 25 MB limit"):
        parse_data_uri("data:image/png;base64," + "!" * 100_000_000, max_bytes=25_000_000)


def test_base64_wrapped_in_lines_is_taken() -> None:
    payload = base64.b64encode(b"\x89PNG" + bytes(200)).decode()
    wrapped = "\n".join(payload[i : i + 76] for i in range(0, len(payload), 76)) + "\n"
    assert parse_data_uri(f"data:image/png;base64,{wrapped}", max_bytes=1000) == (
        "image/png",
        base64.b64decode(payload),
    )

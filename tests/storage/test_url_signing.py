from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import stat
from pathlib import Path

import pytest

from pixelrun.storage import StorageError, UrlSigner, load_or_create_secret
from pixelrun.storage import signing as signing_module

KEY = "runs/abc/0.png"
NOW = 1_750_000_000
EXPIRES = NOW + 600


def test_round_trip(signer: UrlSigner) -> None:
    signature = signer.sign(KEY, EXPIRES)
    assert len(signature) >= 22  # ≥ 128 bits in url-safe base64
    assert signature.replace("-", "").replace("_", "").isalnum()
    assert signer.verify(KEY, EXPIRES, signature, now=NOW)
    assert signer.verify(KEY, str(EXPIRES), signature, now=NOW)  # as it comes from a query string


def test_signature_is_deterministic_and_key_dependent(signer: UrlSigner) -> None:
    assert signer.sign(KEY, EXPIRES) == signer.sign(KEY, EXPIRES)
    assert UrlSigner(b"x" * 32).sign(KEY, EXPIRES) != signer.sign(KEY, EXPIRES)


@pytest.mark.parametrize(
    ("path", "expires", "tamper_signature"),
    [
        ("runs/abc/1.png", EXPIRES, False),
        ("runs/abc/0.png/", EXPIRES, False),
        ("runs/ABC/0.png", EXPIRES, False),
        (KEY, EXPIRES + 1, False),
        (KEY, str(EXPIRES + 86400), False),
        (KEY, EXPIRES, True),
    ],
)
def test_tampering_is_refused(
    signer: UrlSigner, path: str, expires: int | str, tamper_signature: bool
) -> None:
    signature = signer.sign(KEY, EXPIRES)
    if tamper_signature:
        signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not signer.verify(path, expires, signature, now=NOW)


def test_other_secret_is_refused(signer: UrlSigner) -> None:
    signature = UrlSigner(b"x" * 32).sign(KEY, EXPIRES)
    assert not signer.verify(KEY, EXPIRES, signature, now=NOW)


def test_expired_is_refused(signer: UrlSigner) -> None:
    signature = signer.sign(KEY, EXPIRES)
    assert signer.verify(KEY, EXPIRES, signature, now=EXPIRES - 1)
    assert not signer.verify(KEY, EXPIRES, signature, now=EXPIRES)
    assert not signer.verify(KEY, EXPIRES, signature, now=EXPIRES + 10_000)


def test_default_clock_is_now(signer: UrlSigner) -> None:
    assert not signer.verify(KEY, 1000, signer.sign(KEY, 1000))


@pytest.mark.parametrize(
    ("expires", "signature"),
    [
        ("", None),
        ("-5", None),
        ("+1750000600", None),
        (" 1750000600", None),
        ("1e10", None),
        ("1750000600\n", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits pass str.isdigit()
        (True, None),
        (None, None),
        (EXPIRES, ""),
        (EXPIRES, "\u00e9" * 32),
        (EXPIRES, "x" * 1000),
        (EXPIRES, 12345),
    ],
)
def test_garbage_returns_false(signer: UrlSigner, expires: object, signature: object) -> None:
    good = signer.sign(KEY, EXPIRES)
    assert signer.verify(KEY, expires, good if signature is None else signature, now=NOW) is False  # type: ignore[arg-type]


def test_unencodable_path_returns_false(signer: UrlSigner) -> None:
    assert signer.verify("runs/\udcff", EXPIRES, signer.sign(KEY, EXPIRES), now=NOW) is False


def test_sign_rejects_bad_expiry(signer: UrlSigner) -> None:
    with pytest.raises(ValueError):
        signer.sign(KEY, -1)
    with pytest.raises(ValueError):
        signer.sign(KEY, "123")  # type: ignore[arg-type]


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        UrlSigner(b"short")


def test_secret_file_created_once_with_0600(tmp_path: Path) -> None:
    path = tmp_path / "state" / "url-signing.key"
    first = load_or_create_secret(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    mtime = path.stat().st_mtime_ns
    assert load_or_create_secret(path) == first  # a restart reuses it
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    assert load_or_create_secret(tmp_path / "other.key") != first


def test_corrupt_secret_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "url-signing.key"
    path.write_bytes(b"too short")
    with pytest.raises(StorageError):
        load_or_create_secret(path)


def test_unwritable_location_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError):
        load_or_create_secret(tmp_path / "file" / "url-signing.key")


def test_losing_the_race_uses_the_winners_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "url-signing.key"
    winner = b"w" * 32
    real_link = os.link

    def link_after_another_process_won(src: str, dst: str) -> None:
        Path(dst).write_bytes(winner)
        real_link(src, dst)

    monkeypatch.setattr(signing_module.os, "link", link_after_another_process_won)
    assert load_or_create_secret(path) == winner
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def _load(path: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue[bytes]) -> None:
    barrier.wait()
    out.put(load_or_create_secret(Path(path)))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_racing_processes_agree_on_one_secret(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    n = 8
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    path = tmp_path / "url-signing.key"
    procs = [ctx.Process(target=_load, args=(str(path), barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    results = {out.get(timeout=30) for _ in range(n)}
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert results == {path.read_bytes()}
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]

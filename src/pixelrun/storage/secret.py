"""The file URL signing secret, which every process of a deployment must share.

API replicas sign file and upload URLs that any other replica must accept, so the secret
comes from one setting (``PIXELRUN_SIGNING_SECRET``, the same everywhere) or from the
store (created once by the first process, read by all others), never from a file each
machine generates for itself.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pixelrun.storage.base import StorageError
from pixelrun.storage.signing import SECRET_BYTES

log = logging.getLogger(__name__)

STORED_SECRET = "file_url_signing_secret"
# Written by processes that use the setting, so one without it knows not to invent one.
SETTING_FINGERPRINT = "file_url_signing_secret_setting_sha256"
SETTING_NAME = "PIXELRUN_SIGNING_SECRET"


class SharedValues(Protocol):
    """What the store offers (``store.shared_settings``); a protocol keeps storage store-free."""

    def get(self, name: str) -> str | None: ...

    def get_or_set(self, name: str, value: str) -> str: ...


class SecretNotShared(StorageError):
    """This process would have to invent a secret that other processes cannot know."""


def fingerprint(secret: bytes) -> str:
    return hashlib.sha256(b"pixelrun-signing-secret-fingerprint\n" + secret).hexdigest()


def resolve_signing_secret(
    configured: str | None,
    shared: SharedValues | None,
    *,
    legacy_file: Path | None = None,
    deployment_has_runs: Callable[[], bool] = lambda: False,
) -> bytes:
    """The secret to sign URLs with.

    - ``configured`` (the setting) wins; its fingerprint is recorded in the store so that a
      process started without the setting refuses rather than signing with another secret,
      and a process with a different value is named in the log.
    - else the store's secret; when there is none yet, a secret file of a single-box data
      directory from before secrets were shared is adopted, else one is created, unless
      the store already has runs or says the setting is in use: then this process refuses
      to start and names the setting.
    """
    if configured:
        secret = configured.encode()
        if shared is not None:
            recorded = shared.get_or_set(SETTING_FINGERPRINT, fingerprint(secret))
            if recorded != fingerprint(secret):
                log.warning(
                    "%s differs from the value other processes of this deployment started with: "
                    "URLs signed by one will be refused by the other. Set the same value everywhere.",
                    SETTING_NAME,
                )
        return secret
    if shared is None:
        raise SecretNotShared(f"no URL signing secret: set {SETTING_NAME}")
    stored = shared.get(STORED_SECRET)
    if stored is not None:
        return _decode(stored)
    if shared.get(SETTING_FINGERPRINT) is not None:
        raise SecretNotShared(
            f"the other processes of this deployment sign file URLs with {SETTING_NAME}; "
            f"set {SETTING_NAME} to the same value here"
        )
    if legacy_file is not None and legacy_file.is_file():
        candidate = legacy_file.read_bytes()
        if len(candidate) != SECRET_BYTES:
            raise StorageError(f"URL signing secret at {legacy_file} is {len(candidate)} bytes")
        log.info("adopting the URL signing secret of %s into the store", legacy_file)
    elif deployment_has_runs():
        raise SecretNotShared(
            "this deployment already has runs but the store holds no URL signing secret "
            f"(it was made by another process and kept in its data directory): set {SETTING_NAME} "
            "to one value on every process, or start the process that has it first"
        )
    else:
        candidate = secrets.token_bytes(SECRET_BYTES)
    return _decode(shared.get_or_set(STORED_SECRET, _encode(candidate)))


def _encode(secret: bytes) -> str:
    return base64.urlsafe_b64encode(secret).decode("ascii")


def _decode(value: str) -> bytes:
    secret = base64.urlsafe_b64decode(value.encode("ascii"))
    if len(secret) != SECRET_BYTES:
        raise StorageError(f"the store's URL signing secret is {len(secret)} bytes, expected {SECRET_BYTES}")
    return secret

"""Files in an S3-compatible bucket (AWS S3, MinIO, R2, Ceph): the many-machine deployment.

boto3 with the standard AWS configuration chain (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``,
``~/.aws/config``, instance roles), so a deployment configures it as any AWS tool.
Download URLs are S3 presigned GETs (clients fetch from the bucket; the API carries no
image bytes) or, with ``file_urls="api"``, API-signed URLs the API streams from the bucket.
Upload URLs are presigned PUTs with the content type signed in.
"""

from __future__ import annotations

import time
from typing import Any, BinaryIO, Literal, cast
from urllib.parse import quote

from pixelrun.storage.base import StorageError, StoredFile, StoredFileNotFoundError
from pixelrun.storage.content_types import content_type_for, normalize_content_type
from pixelrun.storage.keys import validate_key, validate_prefix
from pixelrun.storage.signing import UrlSigner

FileUrls = Literal["presigned", "api"]
# SigV4 presigned URLs are valid for at most 7 days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_DELETE_BATCH = 1000
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``); the prefix may be empty."""
    if not url.startswith("s3://"):
        raise StorageError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise StorageError(f"no bucket in {url!r}")
    prefix = prefix.strip("/")
    if prefix:
        validate_key(prefix)
        prefix += "/"
    return bucket, prefix


def make_s3_client(addressing_style: str = "auto") -> Any:
    """A boto3 S3 client from the standard AWS configuration chain."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing_style},
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.session.Session().client("s3", config=config)


class S3FileStorage:
    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        signer: UrlSigner,
        public_base_url: str,
        file_urls: FileUrls = "presigned",
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self._signer = signer
        self._base_url = public_base_url.rstrip("/")
        self._file_urls = file_urls

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def signer(self) -> UrlSigner:
        """Signs the API's own file URLs (``file_urls="api"``)."""
        return self._signer

    def object_key(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> StoredFile:
        object_key = self.object_key(key)
        derived = content_type_for(key)
        if normalize_content_type(content_type) != derived:
            raise StorageError(f"content type {content_type!r} does not match key {key!r} ({derived})")
        # One PUT is atomic on S3: readers see the old object or the new one, never a part.
        self._call(
            "put",
            key,
            self._client.put_object,
            Bucket=self._bucket,
            Key=object_key,
            Body=data,
            ContentType=derived,
        )
        return StoredFile(key=key, size=len(data), content_type=derived)

    def open(self, key: str) -> BinaryIO:
        response = self._call(
            "get", key, self._client.get_object, Bucket=self._bucket, Key=self.object_key(key)
        )
        return cast(BinaryIO, response["Body"])

    def read(self, key: str, max_bytes: int) -> bytes:
        body = self.open(key)
        try:
            data = body.read(max_bytes + 1)
        except Exception as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc
        finally:
            body.close()
        if len(data) > max_bytes:
            raise StorageError(f"{key!r} is larger than {max_bytes} bytes")
        return data

    def stat(self, key: str) -> StoredFile:
        head = self._call(
            "stat", key, self._client.head_object, Bucket=self._bucket, Key=self.object_key(key)
        )
        return StoredFile(key=key, size=int(head["ContentLength"]), content_type=content_type_for(key))

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except StoredFileNotFoundError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        full = self._prefix + validate_prefix(prefix)
        deleted = 0
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(
                Bucket=self._bucket, Prefix=full, PaginationConfig={"PageSize": _DELETE_BATCH}
            ):
                objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if not objects:
                    continue
                result = self._client.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True}
                )
                if result.get("Errors"):
                    raise StorageError(f"cannot delete {prefix!r}: {result['Errors'][0]}")
                deleted += len(objects)
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"cannot delete {prefix!r}: {exc}") from exc
        return deleted

    def url_for(self, key: str, expires_in: int, now: int | None = None) -> str:
        object_key = self.object_key(key)
        if expires_in <= 0:
            raise ValueError("expires_in must be positive")
        if self._file_urls == "api":
            expires = (int(time.time()) if now is None else now) + expires_in
            signature = self._signer.sign(key, expires)
            return f"{self._base_url}/v1/files/{quote(key, safe='/')}?expires={expires}&signature={signature}"
        return self._presign("get_object", {"Key": object_key}, expires_in)

    def upload_url_for(self, key: str, expires_in: int, size: int | None = None) -> str:
        if expires_in <= 0:
            raise ValueError("expires_in must be positive")
        params: dict[str, Any] = {"Key": self.object_key(key), "ContentType": content_type_for(key)}
        if size is not None:
            # Signed in: the bucket refuses a body of any other length, so nobody can park a
            # large object in it with an upload URL.
            params["ContentLength"] = size
        return self._presign("put_object", params, expires_in)

    def ping(self) -> None:
        # HEAD the bucket: cheap enough for a load balancer's readiness polls, and it
        # fails on wrong credentials, a missing bucket or an unreachable endpoint.
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except Exception as exc:
            raise StorageError(f"bucket {self._bucket!r} is not reachable: {exc}") from exc

    def _presign(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        try:
            return str(
                self._client.generate_presigned_url(
                    operation,
                    Params={"Bucket": self._bucket, **params},
                    ExpiresIn=min(expires_in, MAX_PRESIGN_SECONDS),
                )
            )
        except Exception as exc:
            raise StorageError(f"cannot sign a URL for {params['Key']!r}: {exc}") from exc

    def _call(self, what: str, key: str, method: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND_CODES:
                raise StoredFileNotFoundError(key) from exc
            raise StorageError(f"cannot {what} {key!r}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot {what} {key!r}: {exc}") from exc

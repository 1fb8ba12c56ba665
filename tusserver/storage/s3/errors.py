"""botocore errors as tusserver errors, in one place: nothing above `storage/s3/` sees a botocore exception."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

from ...errors import BackendUnavailable, StorageError, UploadNotFound


def error_code(exc: Exception) -> str:
    """The S3 error code of a botocore `ClientError` ("NoSuchKey", "404", ...); "" for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextlib.contextmanager
def map_s3_errors(upload_id: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.exceptions import ConnectionError as S3Unreachable

    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code == "NoSuchBucket":
            raise BackendUnavailable(missing_bucket(exc.response.get("Error", {}).get("BucketName", ""))) from exc
        if code in ("NoSuchKey", "404", "NoSuchUpload", "NotFound"):
            raise UploadNotFound() from exc
        raise StorageError(f"object storage failed for upload {upload_id}") from exc
    except S3Unreachable as exc:
        # The host, not the whole URL: one line per backend, not per object (errors.py logs each once a while).
        host = urlsplit(str(getattr(exc, "kwargs", {}).get("endpoint_url", ""))).netloc or "configured"
        detail = f"the S3 endpoint {host} is not reachable: start it or fix --s3-endpoint-url"
        raise BackendUnavailable(detail) from exc
    except BotoCoreError as exc:
        raise StorageError(f"object storage failed for upload {upload_id}") from exc


def missing_bucket(bucket: str) -> str:
    """What the log and /readyz say when the bucket is not there (yet): a compose job may still be making it."""
    return f"S3 bucket {bucket} does not exist (yet): create it, or fix --s3-bucket".replace("bucket  ", "bucket ")

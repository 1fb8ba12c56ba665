"""botocore errors as tusserver errors, in one place: nothing above `storage/s3/` sees a botocore exception."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ...errors import StorageError, UploadNotFound


def error_code(exc: Exception) -> str:
    """The S3 error code of a botocore `ClientError` ("NoSuchKey", "404", ...); "" for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextlib.contextmanager
def map_s3_errors(upload_id: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NoSuchUpload", "NotFound"):
            raise UploadNotFound() from exc
        raise StorageError(f"object storage failed for upload {upload_id}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"object storage failed for upload {upload_id}") from exc

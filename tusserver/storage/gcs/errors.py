"""map_gcs_errors: the GCS client's errors as tusserver errors, in one place (style rule 3)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ...errors import StorageError, UploadNotFound


@contextlib.contextmanager
def map_gcs_errors(upload_id: str) -> Iterator[None]:
    from google.api_core.exceptions import GoogleAPIError, NotFound
    from google.auth.exceptions import GoogleAuthError

    try:
        yield
    except NotFound as exc:
        raise UploadNotFound() from exc
    except (GoogleAPIError, GoogleAuthError) as exc:
        raise StorageError(f"object storage failed for upload {upload_id}") from exc

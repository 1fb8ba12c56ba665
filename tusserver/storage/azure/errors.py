"""map_azure_errors: the Azure client's errors as tusserver errors, in one place (style rule 3)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ...errors import StorageError, UploadNotFound


@contextlib.contextmanager
def map_azure_errors(upload_id: str) -> Iterator[None]:
    from azure.core.exceptions import AzureError, ResourceNotFoundError

    try:
        yield
    except ResourceNotFoundError as exc:
        raise UploadNotFound() from exc
    except AzureError as exc:
        raise StorageError(f"object storage failed for upload {upload_id}") from exc

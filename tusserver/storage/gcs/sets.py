"""Upload sets (storage/object_sets.py) as empty objects: `<prefix>.sets/<name>/<group>/<member>`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..object_sets import ObjectUploadSets, Run
from .errors import map_gcs_errors


class GCSUploadSets(ObjectUploadSets):
    def __init__(self, bucket: Any, prefix: str, run: Run) -> None:
        super().__init__(prefix, run, map_gcs_errors)
        self.bucket = bucket

    async def _put(self, name: str) -> None:
        await self._run(self.bucket.blob(name).upload_from_string, b"")

    async def _delete(self, name: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            await self._run(self.bucket.delete_blob, name)

    def _listing(self, start: str) -> Iterator[tuple[str, float]]:
        for blob in self.bucket.list_blobs(prefix=start):
            yield blob.name, blob.updated.timestamp()

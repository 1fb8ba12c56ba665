"""Upload sets (storage/object_sets.py) as empty blobs: `<prefix>.sets/<name>/<group>/<member>`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..object_sets import ObjectUploadSets, Run
from .errors import map_azure_errors


class AzureUploadSets(ObjectUploadSets):
    def __init__(self, container: Any, prefix: str, run: Run) -> None:
        super().__init__(prefix, run, map_azure_errors)
        self.container = container

    async def _put(self, name: str) -> None:
        await self._run(self.container.get_blob_client(name).upload_blob, b"", overwrite=True)

    async def _delete(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            await self._run(self.container.get_blob_client(name).delete_blob)

    def _listing(self, start: str) -> Iterator[tuple[str, float]]:
        for blob in self.container.list_blobs(name_starts_with=start):
            yield blob.name, blob.last_modified.timestamp()

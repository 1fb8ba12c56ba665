"""`ChangeFileInfo` from an accepting pre-create: a new upload ID, new metadata and where the bytes go
(`Storage`), each checked before use.

The ID becomes a file name and a URL, so it must be one we could have made ourselves and not be taken
(a terminated ID stays taken: its old URL must stay dead). `Storage` is honoured as tusd's file store
honours it: the file store takes `Path` (relative to the data directory), and we add `Key` (under
`--s3-prefix`) on S3; the checks are in `storage/placement.py` and the store's `place`. A store that
cannot place uploads (memory, Azure, GCS; tusd's cloud stores ignore `Storage` silently) refuses it. A
bad change fails the creation closed (503): the receiver asked for something we cannot do, and storing
the upload under another name or in another place would lie to it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import HookUnavailable, PlacementRefused, UploadGone, UploadNotFound
from ..models import UploadInfo
from ..storage.ids import check_upload_id
from .payloads import encode_value

if TYPE_CHECKING:
    from ..storage.base import Placeable, Store

log = logging.getLogger("tusserver.hooks")


async def apply_changes(
    info: UploadInfo, changes: object, store: Store | None, placer: Placeable | None = None, store_name: str = ""
) -> None:
    if not isinstance(changes, Mapping):
        return
    new_id = changes.get("ID")
    if isinstance(new_id, str) and new_id and new_id != info.id:
        try:
            check_upload_id(new_id)
        except UploadNotFound:
            log.error("pre-create hook returned an invalid upload ID %r", new_id[:80])
            raise HookUnavailable("pre-create hook returned an invalid upload ID") from None
        if store is not None and await _taken(store, new_id):
            log.error("pre-create hook returned upload ID %s, which is taken", new_id)
            raise HookUnavailable("pre-create hook returned an upload ID that is taken") from None
        info.id = new_id
    metadata = changes.get("MetaData")
    if isinstance(metadata, Mapping):
        info.metadata = {str(k): encode_value(v) for k, v in metadata.items()}
    storage = changes.get("Storage")
    if isinstance(storage, Mapping):
        # `Type` only says what a hook was told; empty values ask for nothing (tusd: an empty Path is the default).
        wanted = {str(k): v for k, v in storage.items() if k != "Type" and v not in (None, "")}
        if wanted:
            await _place(info, wanted, placer, store_name)


async def _place(info: UploadInfo, wanted: dict[str, object], placer: Placeable | None, store_name: str) -> None:
    try:
        if placer is None:
            raise PlacementRefused(f"the {store_name or 'configured'} store keeps each upload where its ID says")
        await placer.place(info, wanted)
    except PlacementRefused as exc:
        log.error(
            "pre-create hook's ChangeFileInfo.Storage %.200r for upload %s refused: %s", wanted, info.id, exc.reason
        )
        raise


async def _taken(store: Store, upload_id: str) -> bool:
    try:
        await store.get_info(upload_id)
    except (UploadNotFound, UploadGone) as exc:
        return isinstance(exc, UploadGone)
    return True

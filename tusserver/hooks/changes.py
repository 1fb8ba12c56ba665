"""`ChangeFileInfo` from an accepting pre-create: a new upload ID and new metadata, checked before use
(`Storage` is logged and ignored, as tusd's own stores ignore it).

The ID becomes a file name and a URL, so it must be one we could have made ourselves and not be taken
(a terminated ID stays taken: its old URL must stay dead). A bad change fails the creation closed (503):
the receiver asked for something we cannot do, and storing the upload under another name would lie to it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import HookUnavailable, UploadGone, UploadNotFound
from ..models import UploadInfo
from ..storage.ids import check_upload_id
from .payloads import encode_value

if TYPE_CHECKING:
    from ..storage.base import Store

log = logging.getLogger("tusserver.hooks")


async def apply_changes(info: UploadInfo, changes: object, store: Store | None) -> None:
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
    if isinstance(storage, Mapping) and storage:
        # tusd passes it to its stores, none of which use it; ours keep each upload where its ID says.
        log.warning("pre-create hook's ChangeFileInfo.Storage for upload %s ignored: not supported", info.id)


async def _taken(store: Store, upload_id: str) -> bool:
    try:
        await store.get_info(upload_id)
    except (UploadNotFound, UploadGone) as exc:
        return isinstance(exc, UploadGone)
    return True

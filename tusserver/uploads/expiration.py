"""When an upload expires: the policy alone, used by requests (410, `Upload-Expires`) and the sweeper."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import UploadGone
from ..models import UploadInfo
from ..storage.base import MODIFIED


@dataclass(frozen=True)
class ExpiryPolicy:
    expire_after_s: float  # 0 or less: nothing expires

    @property
    def enabled(self) -> bool:
        return self.expire_after_s > 0

    def expires_at(self, info: UploadInfo) -> float | None:
        """Unfinished uploads expire `expire_after_s` after their last write; finished ones never."""
        if self.expire_after_s <= 0 or info.is_complete or info.is_final:
            return None
        last = max(info.created, float(info.storage.get(MODIFIED, info.created)))
        return last + self.expire_after_s

    def is_expired(self, info: UploadInfo, now: float | None = None) -> bool:
        expires = self.expires_at(info)
        return expires is not None and expires <= (time.time() if now is None else now)

    def check_not_expired(self, info: UploadInfo) -> None:
        if self.is_expired(info):
            raise UploadGone("upload has expired")

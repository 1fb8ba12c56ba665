"""A store's optional capabilities, found once: the composer everything above the store asks.

As tusd's `StoreComposer`: `wiring.build` makes one from the store, and handlers and services test
`composer.terminater is not None` instead of checking the store's type again on every request. A
capability the store lacks is None, and the feature that needs it is switched off (and not
advertised in `Tus-Extension`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Concatenatable, Linkable, Listable, Placeable, SharesUploadSets, Store, Terminatable
from .upload_sets import MemoryUploadSets, UploadSets


@dataclass(frozen=True)
class StoreComposer:
    core: Store
    terminater: Terminatable | None = None
    concater: Concatenatable | None = None
    lister: Listable | None = None
    linker: Linkable | None = None
    set_keeper: SharesUploadSets | None = None
    placer: Placeable | None = None

    @classmethod
    def of(cls, store: Store) -> StoreComposer:
        return cls(
            core=store,
            terminater=store if isinstance(store, Terminatable) else None,
            concater=store if isinstance(store, Concatenatable) else None,
            lister=store if isinstance(store, Listable) else None,
            linker=store if isinstance(store, Linkable) else None,
            set_keeper=store if isinstance(store, SharesUploadSets) else None,
            placer=store if isinstance(store, Placeable) else None,
        )

    def upload_sets(self, name: str, counted: bool = False) -> UploadSets:
        """Sets kept beside the data when the store can; in memory (one process) otherwise."""
        if self.set_keeper is not None:
            return self.set_keeper.upload_sets(name, counted)
        return MemoryUploadSets()

"""The Azure Blob Storage backend (`--store azure`, extra `[azure]`)."""

from __future__ import annotations

from .store import AzureStore

__all__ = ["AzureStore"]

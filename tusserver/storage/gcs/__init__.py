"""The Google Cloud Storage backend (`--store gcs`, extra `[gcs]`)."""

from __future__ import annotations

from .store import GCSStore

__all__ = ["GCSStore"]

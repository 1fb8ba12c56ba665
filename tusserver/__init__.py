"""tusserver: a resumable upload server for the tus 1.0.0 protocol, with rotating JWT auth."""

from __future__ import annotations

from .app import create_app
from .config import Settings

__version__ = "0.1.0"
__all__ = ["Settings", "__version__", "create_app"]

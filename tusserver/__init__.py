"""tusserver: a resumable upload server for the tus 1.0.0 protocol, with rotating JWT auth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Settings

if TYPE_CHECKING:
    from .app import create_app

__version__ = "0.1.0"
__all__ = ["Settings", "__version__", "create_app"]


def __getattr__(name: str) -> Any:
    """`create_app` is imported on first use, so `import tusserver.client` loads no Starlette or uvicorn."""
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'tusserver' has no attribute {name!r}")

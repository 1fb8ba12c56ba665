"""How a hook request reaches its receiver: one module per transport, as tusd has one package per hook kind.

Each transport makes ONE attempt and says whether a failure is worth retrying (`HookFailure.retry`);
retries, back-off and queueing are the dispatcher's (delivery.py, queue.py), the same for every transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...extras import require_extra
from .file import FileTransport
from .http import HttpTransport

if TYPE_CHECKING:
    from ...config import Settings
    from ..delivery import Transport

__all__ = ["FileTransport", "HttpTransport", "transports_for"]


def transports_for(settings: Settings, timeout_s: float) -> list[Transport]:
    """The transports the settings ask for, in the order they are asked: file, HTTP, gRPC."""
    made: list[Transport] = []
    if settings.hooks_dir is not None:
        made.append(FileTransport(settings.hooks_dir, timeout_s))
    if settings.hooks_url:
        made.append(HttpTransport(settings.hooks_url, timeout_s))
    if settings.hooks_grpc:
        require_extra("grpc", "grpc", "--hooks-grpc")
        from .grpc import GrpcTransport, credentials

        tls = credentials(
            settings.hooks_grpc_secure, settings.hooks_grpc_ca, settings.hooks_grpc_cert, settings.hooks_grpc_key
        )
        made.append(GrpcTransport(settings.hooks_grpc, timeout_s, tls))
    return made

"""tusd's gRPC hooks (`--hooks-grpc HOST:PORT`): `proto.HookHandler/InvokeHook` from tusd's hook.proto v2.

The dispatcher speaks tusd's JSON; this transport turns it into a `HookRequest` and the `HookResponse`
back into the same JSON answer, so retries, timeouts, the 503 fail-closed and the post-hook queue are
the dispatcher's, as for HTTP hooks. The messages are generated from proto/hook.proto (`make
grpc-stubs`); grpcio and protobuf are the `[grpc]` extra, imported only when `--hooks-grpc` is set.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc

from ..delivery import HookFailure
from .answer import MAX_ANSWER_BYTES
from .proto import hook_pb2

METHOD = "/proto.HookHandler/InvokeHook"

# Failures that may pass on a later try: the receiver is down, restarting, overloaded or slow.
_RETRY = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
    }
)  # fmt: skip


def credentials(secure: bool, ca: Path | None, cert: Path | None, key: Path | None) -> grpc.ChannelCredentials | None:
    """TLS credentials as tusd's -hooks-grpc-secure / -server-tls-certificate / -client-tls-* flags ask."""
    if not (secure or ca or cert):
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes() if ca else None,
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )


class GrpcTransport:
    name = "grpc"

    def __init__(self, target: str, timeout_s: float, credentials: grpc.ChannelCredentials | None = None) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.credentials = credentials  # None: plaintext, as tusd without -hooks-grpc-secure
        self._channel: grpc.aio.Channel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _invoke(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._channel is None or self._loop is not loop:  # a channel belongs to the loop that made it
            options = [("grpc.max_receive_message_length", MAX_ANSWER_BYTES)]  # capped while read
            if self.credentials is None:
                channel = grpc.aio.insecure_channel(self.target, options=options)
            else:
                channel = grpc.aio.secure_channel(self.target, self.credentials, options=options)
            self._channel, self._loop = channel, loop
        return self._channel.unary_unary(
            METHOD,
            request_serializer=hook_pb2.HookRequest.SerializeToString,
            response_deserializer=hook_pb2.HookResponse.FromString,
        )

    async def call(self, hook_type: str, body: bytes) -> dict[str, Any] | None:
        request = hook_request(json.loads(body))
        try:
            response = await self._invoke()(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            raise HookFailure(
                f"grpc {self.target}: {code.name} {exc.details() or ''}".strip(), retry=code in _RETRY
            ) from None
        return hook_answer(response)

    async def aclose(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            if self._loop is asyncio.get_running_loop():
                await channel.close()


def hook_request(data: Mapping[str, Any]) -> hook_pb2.HookRequest:
    """tusd's hook JSON (payloads.py) as a `HookRequest`; headers keep their first value, as tusd's do."""
    event = data.get("Event") or {}
    upload = event.get("Upload") or {}
    http = event.get("HTTPRequest") or {}
    headers = {name: values[0] for name, values in (http.get("Header") or {}).items() if values}
    return hook_pb2.HookRequest(
        type=str(data.get("Type", "")),
        event=hook_pb2.Event(
            upload=hook_pb2.FileInfo(
                id=upload.get("ID", ""),
                size=upload.get("Size", 0),
                sizeIsDeferred=bool(upload.get("SizeIsDeferred")),
                offset=upload.get("Offset", 0),
                metaData=upload.get("MetaData") or {},
                isPartial=bool(upload.get("IsPartial")),
                isFinal=bool(upload.get("IsFinal")),
                partialUploads=upload.get("PartialUploads") or [],
                storage={str(k): str(v) for k, v in (upload.get("Storage") or {}).items()},
            ),
            httpRequest=hook_pb2.HTTPRequest(
                method=http.get("Method", ""),
                uri=http.get("URI", ""),
                remoteAddr=http.get("RemoteAddr", ""),
                header=headers,
            ),
        ),
    )


def hook_answer(response: hook_pb2.HookResponse) -> dict[str, Any]:
    """A `HookResponse` as tusd's JSON answer; proto3 cannot tell an empty map from none: empty is "no change"."""
    answer: dict[str, Any] = {}
    if response.rejectUpload:
        answer["RejectUpload"] = True
    if response.stopUpload:
        answer["StopUpload"] = True
    if response.HasField("httpResponse"):
        http = response.httpResponse
        answer["HTTPResponse"] = {"StatusCode": int(http.statusCode), "Header": dict(http.header), "Body": http.body}
    if response.HasField("changeFileInfo"):
        changes = response.changeFileInfo
        change: dict[str, Any] = {}
        if changes.id:
            change["ID"] = changes.id
        if changes.metaData:
            change["MetaData"] = dict(changes.metaData)
        if changes.storage:
            change["Storage"] = dict(changes.storage)
        answer["ChangeFileInfo"] = change
    return answer

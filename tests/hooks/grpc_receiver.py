"""A real gRPC hook receiver for tests: tusd's `proto.HookHandler/InvokeHook` served by grpcio in threads.

It records each hook as tusd's JSON shape (so tests read it as they read HTTP hooks) and answers as the
test's `decide` says, with the same `Receiver` object as tests/hooks/receiver.py: a 2xx status answers
the JSON as a `HookResponse`, 5xx/429 fail with UNAVAILABLE (worth a retry), other statuses with
INVALID_ARGUMENT (not retried). `url` is the `--hooks-grpc` target.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import grpc

from tests.hooks.receiver import Receiver
from tusserver.hooks.transports.proto import hook_pb2


def as_json(request: hook_pb2.HookRequest) -> dict[str, Any]:
    upload, http = request.event.upload, request.event.httpRequest
    return {
        "Type": request.type,
        "Event": {
            "Upload": {
                "ID": upload.id, "Size": upload.size, "SizeIsDeferred": upload.sizeIsDeferred,
                "Offset": upload.offset, "MetaData": dict(upload.metaData), "IsPartial": upload.isPartial,
                "IsFinal": upload.isFinal, "PartialUploads": list(upload.partialUploads),
                "Storage": dict(upload.storage),
            },
            "HTTPRequest": {
                "Method": http.method, "URI": http.uri, "RemoteAddr": http.remoteAddr,
                "Header": {name: [value] for name, value in http.header.items()},
            },
        },
    }  # fmt: skip


def as_response(answer: dict[str, Any] | None) -> hook_pb2.HookResponse:
    answer = answer or {}
    response = hook_pb2.HookResponse(
        rejectUpload=bool(answer.get("RejectUpload")), stopUpload=bool(answer.get("StopUpload"))
    )
    http = answer.get("HTTPResponse")
    if http:
        response.httpResponse.CopyFrom(
            hook_pb2.HTTPResponse(
                statusCode=http.get("StatusCode", 0), header=http.get("Header") or {}, body=http.get("Body", "")
            )
        )
    changes = answer.get("ChangeFileInfo")
    if changes:
        response.changeFileInfo.CopyFrom(
            hook_pb2.FileInfoChanges(
                id=changes.get("ID", ""), metaData=changes.get("MetaData") or {}, storage=changes.get("Storage") or {}
            )
        )
    return response


@contextmanager
def running_grpc_receiver(workers: int = 32, tls: grpc.ServerCredentials | None = None) -> Iterator[Receiver]:
    """The receiver on a free loopback port; with `tls`, on TLS with those server credentials."""
    receiver = Receiver()

    def invoke(request: hook_pb2.HookRequest, context: grpc.ServicerContext) -> hook_pb2.HookResponse:
        status, answer = receiver.answer(as_json(request))
        if status >= 500 or status == 429:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"receiver says {status}")
        if not 200 <= status < 300:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"receiver says {status}")
        return as_response(answer)

    handler = grpc.method_handlers_generic_handler(
        "proto.HookHandler",
        {
            "InvokeHook": grpc.unary_unary_rpc_method_handler(
                invoke,
                request_deserializer=hook_pb2.HookRequest.FromString,
                response_serializer=hook_pb2.HookResponse.SerializeToString,
            )
        },
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0") if tls is None else server.add_secure_port("127.0.0.1:0", tls)
    server.start()
    receiver.url = f"127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        server.stop(grace=None)

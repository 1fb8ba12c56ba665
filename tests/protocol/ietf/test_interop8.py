"""Interop version 8 (the current draft) against a real server, on raw sockets: the 104 interim responses,
an interrupted creation resumed by HEAD + PATCH, and every error the draft names."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.support import LiveServer, RawResponse, read_http_response, wait_for

from .raw import PARTIAL, exchange, problem, read_until_final, send_head, v8

MAX_SIZE = 1_000_000
PROBLEMS = "https://iana.org/assignments/http-problem-types#"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("ietf8") / "data", "--max-size", str(MAX_SIZE), "--expire-after", "3600"
    ).start()
    yield live
    live.stop()


def _limits(value: str) -> dict[str, int]:
    return {key.strip(): int(number) for key, _, number in (member.partition("=") for member in value.split(","))}


def _path(location: str) -> str:
    return httpx.URL(location).path


def _create(server: LiveServer, length: int | None = None) -> str:
    headers = v8(Upload_Complete="?0") if length is None else v8(Upload_Complete="?0", Upload_Length=str(length))
    *_, final = exchange(server, "POST", "/files/", headers)
    assert final.status == 201, final
    return _path(final.headers["location"])


def _append(server: LiveServer, path: str, offset: int, data: bytes, complete: bool, **extra: str) -> list[RawResponse]:
    headers = v8(Upload_Offset=str(offset), Upload_Complete="?1" if complete else "?0", Content_Type=PARTIAL)
    return exchange(server, "PATCH", path, {**headers, **extra}, data)


def _stored(server: LiveServer, path: str) -> bytes:
    return httpx.get(server.url + path, timeout=30).content


def test_creation_with_the_whole_file_sends_104_before_the_final_answer(server: LiveServer) -> None:
    data = os.urandom(300_000)
    responses = exchange(server, "POST", "/files/", v8(Upload_Complete="?1"), data)
    interim, final = responses
    assert interim.status == 104
    assert interim.headers["upload-draft-interop-version"] == "8"
    assert _limits(interim.headers["upload-limit"])["max-size"] == MAX_SIZE
    assert 3000 < _limits(interim.headers["upload-limit"])["max-age"] <= 3600  # the upload's lifetime left
    assert final.status == 201
    assert final.headers["location"] == interim.headers["location"]
    assert final.headers["upload-complete"] == "?1"
    assert final.headers["upload-offset"] == str(len(data))
    assert "tus-resumable" not in final.headers
    assert _stored(server, _path(final.headers["location"])) == data


def test_104_comes_before_100_continue_and_the_body_waits_for_it(server: LiveServer) -> None:
    data = os.urandom(5000)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        headers = v8(Upload_Complete="?1", Expect="100-continue", Content_Length=str(len(data)))
        send_head(sock, "POST", "/files/", headers)
        first = read_http_response(sock)
        assert first.status == 104 and first.headers["location"]
        second = read_http_response(sock, first.rest)
        assert second.status == 100  # the draft: a 104 never replaces the 100 the client asked for
        sock.sendall(data)
        (final,) = read_until_final(sock, second.rest)
    assert final.status == 201
    assert _stored(server, _path(first.headers["location"])) == data


def test_no_104_for_an_http_1_0_client(server: LiveServer) -> None:
    responses = exchange(server, "POST", "/files/", v8(Upload_Complete="?0"), version="1.0")
    assert [r.status for r in responses] == [201]


def test_interrupted_creation_resumes_with_head_and_patch(server: LiveServer) -> None:
    data = os.urandom(400_000)
    sent = 150_000
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        send_head(sock, "POST", "/files/", v8(Upload_Complete="?1", Content_Length=str(len(data))))
        interim = read_http_response(sock)
        assert interim.status == 104
        sock.sendall(data[:sent])
        path = _path(interim.headers["location"])

        def partly_stored() -> bool:
            # The POST still holds the upload; a HEAD asks it to let go and reports every byte it kept.
            *_, head = exchange(server, "HEAD", path, v8())
            return head.status == 204 and head.headers["upload-offset"] == str(sent)

        wait_for(partly_stored, timeout=30, what="the bytes of the cut creation")
    *_, head = exchange(server, "HEAD", path, v8())
    assert head.headers["upload-complete"] == "?0"
    assert head.headers["upload-length"] == str(len(data))  # Upload-Complete: ?1 + Content-Length recorded it
    assert head.headers["cache-control"] == "no-store"
    assert head.headers["upload-limit"].startswith(f"max-size={MAX_SIZE}, max-age=")
    *_, final = _append(server, path, sent, data[sent:], complete=True)
    assert final.status == 204
    assert final.headers["upload-complete"] == "?1"
    assert final.headers["upload-offset"] == str(len(data))
    assert _stored(server, path) == data


def test_appends_in_parts_then_complete_with_an_empty_append(server: LiveServer) -> None:
    path = _create(server)  # no length: the client tells it at the end
    *_, first = _append(server, path, 0, b"hello ", complete=False)
    assert (first.status, first.headers["upload-complete"], first.headers["upload-offset"]) == (204, "?0", "6")
    *_, second = _append(server, path, 6, b"world", complete=False)
    assert second.headers["upload-offset"] == "11"
    *_, head = exchange(server, "HEAD", path, v8())
    assert "upload-length" not in head.headers  # not known yet
    *_, last = exchange(server, "PATCH", path, v8(Upload_Offset="11", Upload_Complete="?1", Content_Type=PARTIAL))
    assert (last.status, last.headers["upload-complete"]) == (204, "?1")
    *_, head = exchange(server, "HEAD", path, v8())
    assert (head.headers["upload-complete"], head.headers["upload-length"]) == ("?1", "11")
    assert _stored(server, path) == b"hello world"
    # The answer to the last append was lost; the client asks again: the draft lets the server replay it.
    *_, again = exchange(server, "PATCH", path, v8(Upload_Offset="11", Upload_Complete="?1", Content_Type=PARTIAL))
    assert (again.status, again.headers["upload-complete"]) == (204, "?1")


def test_options_announces_the_limits(server: LiveServer) -> None:
    *_, answer = exchange(server, "OPTIONS", "/files/", v8())
    assert answer.status == 204
    assert answer.headers["upload-limit"] == f"max-size={MAX_SIZE}, max-age=3600"


def test_delete_cancels_the_upload(server: LiveServer) -> None:
    path = _create(server, 10)
    *_, gone = exchange(server, "DELETE", path, v8())
    assert gone.status == 204
    *_, head = exchange(server, "HEAD", path, v8())
    assert head.status in (404, 410)
    assert head.headers["content-type"] == "application/problem+json"


# -- every error case ----------------------------------------------------------------------------------


def test_mismatching_offset_is_409_with_the_offset_and_the_problem_type(server: LiveServer) -> None:
    path = _create(server, 10)
    *_, answer = _append(server, path, 4, b"abc", complete=False)
    assert answer.status == 409
    assert (answer.headers["upload-offset"], answer.headers["upload-complete"]) == ("0", "?0")
    document = problem(answer)
    assert document["type"] == PROBLEMS + "mismatching-upload-offset"
    assert (document["expected-offset"], document["provided-offset"]) == (0, 4)


@pytest.mark.parametrize(
    ("declared", "sent"),
    [
        ({"Upload_Length": "5"}, b"abcdefgh"),  # Upload-Length and Upload-Complete: ?1 + Content-Length disagree
    ],
)
def test_inconsistent_length_on_creation(server: LiveServer, declared: dict[str, str], sent: bytes) -> None:
    *_, answer = exchange(server, "POST", "/files/", v8(Upload_Complete="?1", **declared), sent)
    assert answer.status == 400
    assert problem(answer)["type"] == PROBLEMS + "inconsistent-upload-length"


def test_inconsistent_length_on_append(server: LiveServer) -> None:
    path = _create(server, 10)
    *_, early = _append(server, path, 0, b"abc", complete=True)  # complete at 3, but the length is 10
    assert early.status == 400
    assert problem(early)["type"] == PROBLEMS + "inconsistent-upload-length"
    *_, head = exchange(server, "HEAD", path, v8())
    assert head.headers["upload-offset"] == "0"  # refused before a byte was stored
    *_, other = _append(server, path, 0, b"abc", complete=False, **{"Upload-Length": "11"})
    assert other.status == 400
    assert problem(other)["type"] == PROBLEMS + "inconsistent-upload-length"


def test_appending_to_a_completed_upload_is_refused(server: LiveServer) -> None:
    *_, created = exchange(server, "POST", "/files/", v8(Upload_Complete="?1"), b"done")
    path = _path(created.headers["location"])
    *_, answer = _append(server, path, 4, b"more", complete=False)
    assert answer.status == 400
    assert problem(answer)["type"] == "about:blank"  # interop 8 dropped the completed-upload problem type
    assert _stored(server, path) == b"done"


def test_too_large_is_413_with_the_limits(server: LiveServer) -> None:
    *_, answer = exchange(server, "POST", "/files/", v8(Upload_Complete="?0", Upload_Length=str(MAX_SIZE + 1)))
    assert answer.status == 413
    problem(answer)
    path = _create(server, 10)
    *_, over = _append(server, path, 0, b"x" * 11, complete=False)
    assert over.status == 413
    assert _stored_offset(server, path) == 0


def _stored_offset(server: LiveServer, path: str) -> int:
    *_, head = exchange(server, "HEAD", path, v8())
    return int(head.headers["upload-offset"])


def test_append_needs_the_partial_upload_media_type(server: LiveServer) -> None:
    path = _create(server, 10)
    headers = v8(Upload_Offset="0", Upload_Complete="?0", Content_Type="application/offset+octet-stream")
    *_, answer = exchange(server, "PATCH", path, headers, b"abc")
    assert answer.status == 415
    problem(answer)


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("POST", {}),  # no Upload-Complete
        ("POST", {"Upload-Complete": "yes"}),
        ("POST", {"Upload-Complete": "?0", "Upload-Length": "-1"}),
        ("POST", {"Upload-Complete": "?0", "Upload-Length": "ten"}),
        ("POST", {"Upload-Complete": "?0", "Upload-Offset": "0"}),
        ("PATCH", {"Upload-Complete": "?0", "Content-Type": PARTIAL}),  # no Upload-Offset
        ("PATCH", {"Upload-Offset": "0", "Content-Type": PARTIAL}),  # no Upload-Complete
        ("PATCH", {"Upload-Offset": "1.5", "Upload-Complete": "?0", "Content-Type": PARTIAL}),
        ("PATCH", {"Upload-Offset": "0", "Upload-Complete": "true", "Content-Type": PARTIAL}),
    ],
)
def test_malformed_or_missing_fields_are_400(server: LiveServer, method: str, headers: dict[str, str]) -> None:
    path = "/files/" if method == "POST" else _create(server, 10)
    *_, answer = exchange(server, method, path, v8(**headers))
    assert answer.status == 400, answer
    assert problem(answer)["type"] == "about:blank"


@pytest.mark.parametrize("version", ["7", "3", "eight", "-8"])
def test_an_interop_version_we_do_not_speak_is_400_without_104(server: LiveServer, version: str) -> None:
    headers = {"Upload-Draft-Interop-Version": version, "Upload-Complete": "?1"}
    responses = exchange(server, "POST", "/files/", headers, b"abc")
    assert [r.status for r in responses] == [400]  # the draft: no 104 for a mismatching version
    assert b"5, 6, 8" in responses[0].body


def test_unknown_upload_is_404_problem(server: LiveServer) -> None:
    *_, answer = exchange(
        server, "PATCH", "/files/nope", v8(Upload_Offset="0", Upload_Complete="?0", Content_Type=PARTIAL)
    )
    assert answer.status == 404
    problem(answer)

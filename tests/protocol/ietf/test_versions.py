"""What differs between interop 5, 6 and 8, one upload seen by both protocols, and the draft under a
server that cannot send 104 (the app in-process: the final answer alone tells the client everything)."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conftest import AppFactory
from tests.support import InProcessServer

PARTIAL = "application/partial-upload"
TUS = {"Tus-Resumable": "1.0.0"}
PROBLEMS = "https://iana.org/assignments/http-problem-types#"


def draft(version: int, **headers: str) -> dict[str, str]:
    return {"Upload-Draft-Interop-Version": str(version), **{k.replace("_", "-"): v for k, v in headers.items()}}


def create(app: InProcessServer, version: int, body: bytes = b"", **headers: str) -> httpx.Response:
    response = app.client.post("/files/", headers=draft(version, **headers), content=body)
    assert response.status_code == 201, response.text
    return response


def append(app: InProcessServer, url: str, version: int, offset: int, body: bytes, done: bool) -> httpx.Response:
    headers = draft(version, Upload_Offset=str(offset), Upload_Complete="?1" if done else "?0")
    if version != 5:
        headers["Content-Type"] = PARTIAL
    return app.client.patch(url, headers=headers, content=body)


@pytest.mark.parametrize("version", [5, 6, 8])
def test_each_version_creates_appends_and_completes(shared: InProcessServer, version: int) -> None:
    created = create(shared, version, b"abc", Upload_Complete="?0", Upload_Length="6")
    assert created.headers["Upload-Draft-Interop-Version"] == str(version)
    assert (created.headers["Upload-Offset"], created.headers["Upload-Complete"]) == ("3", "?0")
    url = created.headers["Location"]
    done = append(shared, url, version, 3, b"def", done=True)
    assert (done.status_code, done.headers["Upload-Complete"], done.headers["Upload-Offset"]) == (204, "?1", "6")
    assert shared.client.get(url).content == b"abcdef"


@pytest.mark.parametrize(
    ("version", "limit"),
    [(5, None), (6, "max-size=1000, expires=60"), (8, "max-size=1000, max-age=60")],
)
def test_upload_limit_per_version(app_factory: AppFactory, version: int, limit: str | None) -> None:
    app = app_factory("--max-size", "1000", "--expire-after", "60")
    options = app.client.options("/files/", headers=draft(version))
    assert options.status_code == 204
    assert options.headers.get("Upload-Limit") == limit
    assert "Tus-Resumable" not in options.headers


def test_interop_5_takes_any_media_type_6_and_8_want_partial_upload(shared: InProcessServer) -> None:
    for version, expected in ((5, 204), (6, 415), (8, 415)):
        url = create(shared, version, Upload_Complete="?0", Upload_Length="3").headers["Location"]
        headers = draft(version, Upload_Offset="0", Upload_Complete="?1")  # tus-js-client's draft-03: no Content-Type
        assert shared.client.patch(url, headers=headers, content=b"abc").status_code == expected


@pytest.mark.parametrize(("version", "refused"), [(5, True), (6, True), (8, False)])
def test_upload_fields_on_head_and_delete(shared: InProcessServer, version: int, refused: bool) -> None:
    url = create(shared, version, Upload_Complete="?0", Upload_Length="3").headers["Location"]
    head = shared.client.head(url, headers=draft(version, Upload_Offset="0"))
    assert head.status_code == (400 if refused else 204)
    delete = shared.client.delete(url, headers=draft(version, Upload_Complete="?0"))
    assert delete.status_code == (400 if refused else 204)


@pytest.mark.parametrize(("version", "problem"), [(5, "about:blank"), (6, PROBLEMS + "completed-upload")])
def test_appending_to_a_completed_upload_in_5_and_6(shared: InProcessServer, version: int, problem: str) -> None:
    url = create(shared, version, b"all", Upload_Complete="?1").headers["Location"]
    again = append(shared, url, version, 3, b"", done=True)  # even an empty completion: -03/-05 say 400
    assert again.status_code == 400
    assert again.headers["Content-Type"] == "application/problem+json"
    assert again.json()["type"] == problem


def test_mismatching_offset_problem_type_from_interop_6(shared: InProcessServer) -> None:
    for version, problem in ((5, "about:blank"), (6, PROBLEMS + "mismatching-upload-offset")):
        url = create(shared, version, Upload_Complete="?0", Upload_Length="3").headers["Location"]
        answer = append(shared, url, version, 1, b"b", done=False)
        assert (answer.status_code, answer.headers["Upload-Offset"]) == (409, "0")
        assert answer.json()["type"] == problem


def test_without_104_the_final_answer_still_names_the_upload(shared: InProcessServer) -> None:
    created = create(shared, 8, b"x" * 10, Upload_Complete="?0")  # in-process: no informational responses
    assert created.headers["Location"]
    assert created.headers["Upload-Offset"] == "10"


def test_one_upload_two_protocols(shared: InProcessServer) -> None:
    """Made with the draft, continued with tus, finished with the draft; both HEADs agree throughout."""
    created = create(
        shared,
        8,
        b"hello ",
        Upload_Complete="?0",
        Upload_Length="11",
        Content_Type="text/plain",
        Content_Disposition='attachment; filename="greeting.txt"',
    )
    url = created.headers["Location"]
    tus_head = shared.client.head(url, headers=TUS)
    assert (tus_head.status_code, tus_head.headers["Upload-Offset"], tus_head.headers["Upload-Length"]) == (
        200,
        "6",
        "11",
    )
    metadata = dict(pair.split(" ") for pair in tus_head.headers["Upload-Metadata"].split(","))
    assert base64.b64decode(metadata["filename"]) == b"greeting.txt"
    assert base64.b64decode(metadata["filetype"]) == b"text/plain"
    tus_patch = shared.client.patch(
        url,
        headers={**TUS, "Upload-Offset": "6", "Content-Type": "application/offset+octet-stream"},
        content=b"wor",
    )
    assert (tus_patch.status_code, tus_patch.headers["Upload-Offset"]) == (204, "9")
    ietf_head = shared.client.head(url, headers=draft(8))
    assert (ietf_head.headers["Upload-Offset"], ietf_head.headers["Upload-Complete"]) == ("9", "?0")
    assert append(shared, url, 8, 9, b"ld", done=True).headers["Upload-Complete"] == "?1"
    assert shared.client.head(url, headers=TUS).headers["Upload-Offset"] == "11"
    download = shared.client.get(url)
    assert download.content == b"hello world"
    assert 'filename="greeting.txt"' in download.headers["Content-Disposition"]


def test_a_tus_upload_is_seen_and_finished_by_the_draft(shared: InProcessServer) -> None:
    url = shared.create(5)
    head = shared.client.head(url, headers=draft(8))
    assert (head.status_code, head.headers["Upload-Offset"], head.headers["Upload-Length"]) == (204, "0", "5")
    assert append(shared, url, 8, 0, b"12345", done=True).headers["Upload-Complete"] == "?1"
    assert shared.client.head(url, headers=TUS).headers["Upload-Offset"] == "5"


def test_deferred_length_ends_where_the_client_says(shared: InProcessServer) -> None:
    url = create(shared, 8, Upload_Complete="?0").headers["Location"]
    assert shared.client.head(url, headers=TUS).headers["Upload-Defer-Length"] == "1"
    assert append(shared, url, 8, 0, b"abc", done=False).headers["Upload-Complete"] == "?0"
    last = append(shared, url, 8, 3, b"de", done=True)
    assert (last.headers["Upload-Complete"], last.headers["Upload-Offset"]) == ("?1", "5")
    assert shared.client.head(url, headers=TUS).headers["Upload-Length"] == "5"


def test_get_retrieves_the_offset_in_8_and_downloads_otherwise(shared: InProcessServer) -> None:
    url = create(shared, 8, b"abc", Upload_Complete="?1").headers["Location"]
    offset = shared.client.get(url, headers=draft(8))
    assert (offset.status_code, offset.content, offset.headers["Upload-Offset"]) == (204, b"", "3")
    assert offset.headers["Upload-Complete"] == "?1" and offset.headers["Cache-Control"] == "no-store"
    assert shared.client.get(url, headers=draft(6)).content == b"abc"  # -05 defines no GET: the download
    assert shared.client.get(url).content == b"abc"

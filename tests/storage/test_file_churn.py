"""How many directory entries a small upload makes on the file store, counted with inotify on a real server.

On ext4 every new inode walks past the recently freed ones (`find_inode_bit` -> `recently_deleted`):
with a lock file, a temporary record, a set directory and a set entry made and removed per request,
a server on a real disk spent more than half its CPU in the inode allocator (issue #28). A small
upload (POST + one PATCH) may make at most 3 entries (its data file, its record and the record's
temporary name), and a HEAD none.
"""

from __future__ import annotations

import base64
import hashlib

from tests.conftest import ServerFactory
from tests.inotify_support import DirectoryEvents
from tests.support import PATCH, TUS

UPLOADS = 200
MAX_CREATED_PER_UPLOAD = 3


def test_small_uploads_and_heads_make_few_directory_entries(server_factory: ServerFactory) -> None:
    # The defaults that keep sets: expiry on (the sweeper walks the unfinished sets) and a cap.
    server = server_factory("--expire-after", "3600", "--max-unfinished", "1000")
    data_dir = server.data_dir
    server.client.delete(server.create(1), headers=TUS)  # the first requests may make lasting files
    with DirectoryEvents(data_dir) as events:
        urls = []
        for _ in range(UPLOADS):
            url = server.create(4096)
            r = server.client.patch(url, content=b"x" * 4096, headers={**PATCH, "Upload-Offset": "0"})
            assert r.status_code == 204, r.text
            urls.append(url)
            events.drain()
        uploads_made = list(events.created)
        for url in urls:
            assert server.client.head(url, headers=TUS).headers["Upload-Offset"] == "4096"
            events.drain()
        heads_made = events.created[len(uploads_made) :]
    assert len(uploads_made) <= MAX_CREATED_PER_UPLOAD * UPLOADS, events.kinds(uploads_made)
    assert heads_made == [], events.kinds(heads_made)
    assert events.removed == [], events.kinds(events.removed)  # nothing made to be thrown away


def test_checksummed_patches_reuse_one_marker(server_factory: ServerFactory) -> None:
    """The `.unverified` marker of a checksummed PATCH was made and removed by every such PATCH."""
    server = server_factory()
    piece = b"y" * 1000
    digest = "sha256 " + base64.b64encode(hashlib.sha256(piece).digest()).decode()
    uploads, patches = 20, 5
    server.client.delete(server.create(1), headers=TUS)  # the first requests may make lasting files
    with DirectoryEvents(server.data_dir) as events:
        for _ in range(uploads):
            url = server.create(len(piece) * patches)
            for n in range(patches):
                headers = {**PATCH, "Upload-Offset": str(n * len(piece)), "Upload-Checksum": digest}
                assert server.client.patch(url, content=piece, headers=headers).status_code == 204
            events.drain()
    assert len(events.created) <= MAX_CREATED_PER_UPLOAD * uploads, events.kinds(events.created)
    assert not list(server.data_dir.glob("*.unverified"))  # complete uploads keep no marker

"""The house rules of `tusserver/` (issue #27), read from the source: no import circle, imports only
go down the layers, the client stands apart, and few loose modules at the top.

Every import counts (module level, `TYPE_CHECKING`, inside functions): a lazy import hides a circle,
it does not remove it. A new room must be given a floor in `LAYERS` before anything can import it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture.graph import ROOT, build_graph, cycles

# Top floor first. A module may import its own floor and the floors below it, never one above.
LAYERS: list[tuple[str, set[str]]] = [
    ("entry", {"tusserver", "__main__", "cli", "app", "wiring"}),
    ("interfaces", {"asgi", "server", "protocol", "demo"}),
    ("service", {"hooks", "uploads"}),
    ("backends", {"storage", "locking", "state", "hashing", "auth"}),
    ("ground", {"config", "errors", "models", "types", "constants", "fileops", "extras"}),
]
# `tusserver.client` (the upload client) is no floor of the server: only `cli` reaches it, and it
# imports nothing of the server but the one size parser in the leaf `config`.
CLIENT = "client"
CLIENT_MAY_IMPORT = {"tusserver.config"}
MAX_TOP_LEVEL_FILES = 12
# Known exceptions, each naming the issue that removes it. Keep this short; never add to it lightly.
ALLOWED_CYCLES: list[set[str]] = []  # none: a new circle is a design error, not an entry here


def room(module: str) -> str:
    """`tusserver.storage.s3.store` -> `storage`; the package itself -> `tusserver`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def floor(module: str) -> int:
    name = room(module)
    for level, (_, rooms) in enumerate(LAYERS):
        if name in rooms:
            return level
    raise LookupError(name)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if CLIENT in (room(source), room(target)):
                continue  # the client's own rules, below
            if floor(target) < floor(source):
                found.append(f"{source} ({LAYERS[floor(source)][0]}) -> {target} ({LAYERS[floor(target)][0]})")
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return build_graph()


def test_every_room_has_a_floor(graph: dict[str, set[str]]) -> None:
    known = {name for _, rooms in LAYERS for name in rooms} | {CLIENT}
    assert sorted({room(module) for module in graph} - known) == [], "give the new room a floor in LAYERS"


def test_no_import_circle(graph: dict[str, set[str]]) -> None:
    assert [c for c in cycles(graph) if set(c) not in ALLOWED_CYCLES] == []


def test_imports_only_go_down(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph) == []


def test_the_client_stands_apart(graph: dict[str, set[str]]) -> None:
    """`import tusserver.client` must not pull in the server (nor Starlette through it)."""
    reaches = {t for s, ts in graph.items() if room(s) == CLIENT for t in ts if room(t) != CLIENT}
    assert reaches <= CLIENT_MAY_IMPORT
    reached_by = {s for s, ts in graph.items() if room(s) != CLIENT for t in ts if room(t) == CLIENT}
    assert reached_by <= {"tusserver.cli"}


def test_config_is_a_leaf(graph: dict[str, set[str]]) -> None:
    """Settings is what every module reads: it names no store, locker or hook (`wiring.check` does)."""
    assert {room(t) for t in graph["tusserver.config"]} <= LAYERS[-1][1]


def test_the_upload_service_does_not_import_the_http_layer(graph: dict[str, set[str]]) -> None:
    assert sorted(t for s, ts in graph.items() if room(s) == "uploads" for t in ts if room(t) == "protocol") == []


def test_few_loose_modules_at_the_top() -> None:
    loose = sorted(path.name for path in ROOT.glob("*.py"))
    assert len(loose) <= MAX_TOP_LEVEL_FILES, f"new code goes into a room, not beside {loose}"


def test_the_checker_sees_lazy_and_type_only_imports(tmp_path: Path) -> None:
    """A circle closed by a function-level import and an upward import under TYPE_CHECKING are both found."""
    package = tmp_path / "tusserver"
    (package / "storage").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .storage import base\n"
    )
    (package / "storage" / "__init__.py").write_text("from . import base\n")
    (package / "storage" / "base.py").write_text("def f():\n    from ..storage import g\n")
    graph = build_graph(package)
    assert graph["tusserver.config"] == {"tusserver.storage.base"}
    assert cycles(graph) == [["tusserver.storage", "tusserver.storage.base"]]
    assert upward_imports(graph) == ["tusserver.config (ground) -> tusserver.storage.base (backends)"]

"""The suite's own layout: pytest imports test modules by their file name, so two alike stop a run.

Without packages (no ``__init__.py``), pytest's default import mode puts each test directory on the
path and imports the module by its bare name; a second ``test_x.py`` elsewhere is then not collected
("import file mismatch"), and which of the two is lost depends on the order the workers start.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_two_test_modules_share_a_file_name() -> None:
    places: defaultdict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        if "__pycache__" not in path.parts:
            places[path.name].append(str(path.relative_to(TESTS)))
    shared = {name: sorted(where) for name, where in places.items() if len(where) > 1}
    assert not shared, f"test modules with the same file name: {shared}"

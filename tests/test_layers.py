"""The layering of docs/architecture.md (drivers, clinic_agent and its rooms, sync, tui), checked on every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("clinic_agent", "drivers", "sync", "tui")

# The rooms of clinic_agent and their floors: a room imports rooms on its floor or below, never above.
ROOMS = {
    "clinic_agent.core": 0,  # the domain
    "clinic_agent.security": 1,  # primitives, key slots, the audit chain
    "clinic_agent.store": 2,  # the encrypted database
    "clinic_agent.runtime": 3,  # the agent, the daemon and its services
    "clinic_agent.api": 3,  # the daemon <-> client contract, the client, the socket server and its methods
    "clinic_agent.cli": 4,  # the commands, the demo
}
# Modules of clinic_agent that wire the packages together and so may import drivers and sync.
WIRING = (
    "clinic_agent.runtime",
    "clinic_agent.cli",
    "clinic_agent.core.plausibility",  # the device profiles' ranges are the one plausibility rule
)
# The API modules a client loads: they may use the core only, so the TUI never drags the daemon in.
CLIENT_SIDE = (
    "clinic_agent.api.client",
    "clinic_agent.api.contract",
    "clinic_agent.api.shapes",
    "clinic_agent.api.framing",
)
# Modules of clinic_agent that start the TUI.
TUI_ENTRY = ("clinic_agent.cli",)
# What the TUI may use of clinic_agent: the API's client side and plain data.
TUI_ALLOWED = (
    *CLIENT_SIDE,
    "clinic_agent.core.errors",
    "clinic_agent.core.model",
    "clinic_agent.core.idnumber",
    "clinic_agent.core.rules",
)
# What sync may use of clinic_agent: the core, the security parts and the store's record types; never the
# daemon, the CLI or the API.
SYNC_FORBIDDEN = ("clinic_agent.runtime", "clinic_agent.cli", "clinic_agent.api")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, root: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _sources(root: Path) -> list[tuple[str, set[str]]]:
    return [
        (_module_name(path, root), _imports(path, root))
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    ]


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _holds(package: str, modules: tuple[str, ...]) -> bool:
    """``from clinic_agent.core import rules`` names the package too; a package holding allowed modules is fine."""
    return any(m.startswith(package + ".") for m in modules)


def _floor(name: str) -> int | None:
    return next((floor for room, floor in ROOMS.items() if _under(name, (room,))), None)


def _room_problems(module: str, imported: str) -> list[str]:
    """A room imports only rooms on its floor or below; the API's client side imports only the core."""
    if _under(module, CLIENT_SIDE):
        allowed = _floor(imported) in (None, 0) or _under(imported, CLIENT_SIDE) or _holds(imported, CLIENT_SIDE)
        if not allowed:
            return [f"{module} imports {imported}: a client's side of the API uses only the core"]
        return []
    mine, theirs = _floor(module), _floor(imported)
    if mine is None or theirs is None or theirs <= mine:
        return []
    return [f"{module} imports {imported}: a room imports only rooms on its floor or below"]


def _violations(root: Path = ROOT) -> list[str]:
    problems = []
    for module, imports in _sources(root):
        for imported in imports:
            top = imported.split(".")[0]
            if module.startswith("drivers") and top in ("clinic_agent", "sync", "tui"):
                problems.append(f"{module} imports {imported}: drivers must not")
            if module.startswith("sync") and (top in ("drivers", "tui") or _under(imported, SYNC_FORBIDDEN)):
                problems.append(f"{module} imports {imported}: sync must not")
            if module.startswith("tui") and (
                top in ("drivers", "sync")
                or (top == "clinic_agent" and not _under(imported, TUI_ALLOWED) and not _holds(imported, TUI_ALLOWED))
            ):
                problems.append(f"{module} imports {imported}: the TUI talks to the daemon only through the API")
            if module.startswith("clinic_agent"):
                if top in ("drivers", "sync") and not _under(module, WIRING):
                    problems.append(f"{module} imports {imported}: only wiring modules may")
                if top == "tui" and not _under(module, TUI_ENTRY):
                    problems.append(f"{module} imports {imported}: only the CLI starts the TUI")
                problems.extend(_room_problems(module, imported))
    return problems


def test_imports_point_the_way_the_architecture_says() -> None:
    assert _violations() == []


def test_every_module_the_rules_name_exists() -> None:
    """A rule about a module that is not there (renamed, never written) guards nothing."""
    named = {*ROOMS, *WIRING, *CLIENT_SIDE, *TUI_ENTRY, *TUI_ALLOWED, *SYNC_FORBIDDEN}
    modules = [name for name, _ in _sources(ROOT)]
    assert sorted(n for n in named if not any(_under(m, (n,)) for m in modules)) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("drivers/probe.py", "from clinic_agent import model\n"),
        ("sync/probe.py", "import drivers.errors\n"),
        ("tui/probe.py", "from clinic_agent.store import Store\n"),
        ("clinic_agent/probe.py", "from . import sync_helper\nimport sync\n"),
        ("clinic_agent/core/probe.py", "from clinic_agent.store import Store\n"),
        ("clinic_agent/store/probe.py", "from clinic_agent.runtime.agent import Agent\n"),
        ("clinic_agent/api/client.py", "from clinic_agent.runtime import home\n"),
    ],
)
def test_the_check_sees_a_violation(tmp_path: Path, module: str, source: str) -> None:
    for package in (*PACKAGES, *(room.replace(".", "/") for room in ROOMS)):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / module).write_text(source, encoding="utf-8")
    probe = module.removesuffix(".py").replace("/", ".")
    assert {problem.split(" ")[0] for problem in _violations(tmp_path)} == {probe}

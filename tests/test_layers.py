"""The package layering of docs/architecture.md (drivers, clinic_agent, sync, tui), checked by walking every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("clinic_agent", "drivers", "sync", "tui")

# Modules of clinic_agent that wire the packages together and so may import drivers and sync.
WIRING = (
    "clinic_agent.runtime.daemon",
    "clinic_agent.cli",
    "clinic_agent.runtime.ingest",
    "clinic_agent.runtime.syncing",
    "clinic_agent.runtime.demo",
    "clinic_agent.runtime.simulate",
    "clinic_agent.runtime.devices",
    "clinic_agent.core.plausibility",
    "clinic_agent.runtime.doctor",  # the technician's self-check, which tries the platform link too
)
# Modules of clinic_agent that start the TUI.
TUI_ENTRY = ("clinic_agent.cli",)
# What the TUI may use of clinic_agent: the API client and plain data.
TUI_ALLOWED = (
    "clinic_agent.api.client",
    "clinic_agent.api.contract",
    "clinic_agent.api.framing",
    "clinic_agent.core.errors",
    "clinic_agent.core.model",
    "clinic_agent.core.idnumber",
    "clinic_agent.core.rules",
)
# What sync may use of clinic_agent: the core, never the daemon, the CLI or the API server.
SYNC_FORBIDDEN = ("clinic_agent.runtime.daemon", "clinic_agent.cli", "clinic_agent.api", "clinic_agent.runtime.demo")


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
    return problems


def test_imports_point_the_way_the_architecture_says() -> None:
    assert _violations() == []


def test_every_module_the_rules_name_exists() -> None:
    """A rule about a module that is not there (renamed, never written) guards nothing."""
    named = {*WIRING, *TUI_ENTRY, *TUI_ALLOWED, *SYNC_FORBIDDEN}
    modules = [name for name, _ in _sources(ROOT)]
    assert sorted(n for n in named if not any(_under(m, (n,)) for m in modules)) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("drivers/probe.py", "from clinic_agent import model\n"),
        ("sync/probe.py", "import drivers.errors\n"),
        ("tui/probe.py", "from clinic_agent.store import Store\n"),
        ("clinic_agent/probe.py", "from . import sync_helper\nimport sync\n"),
    ],
)
def test_the_check_sees_a_violation(tmp_path: Path, module: str, source: str) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / module).write_text(source, encoding="utf-8")
    probe = module.removesuffix(".py").replace("/", ".")
    assert {problem.split(" ")[0] for problem in _violations(tmp_path)} == {probe}

"""Every cryptographic primitive the code uses is in docs/crypto.md (ASVS 11.1.2)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("clinic_agent", "drivers", "sync", "tui")
WATCHED_MODULES = ("hashlib", "hmac", "secrets")


def _allowed() -> set[str]:
    text = (ROOT / "docs" / "crypto.md").read_text(encoding="utf-8")
    block = text.split("## Allowed primitives", 1)[1].split("```")[1]
    return {line.strip() for line in block.splitlines() if line.strip()}


def _used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cryptography"):
            used.update(f"{node.module}.{alias.name}" for alias in node.names)
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id in WATCHED_MODULES or (node.value.id == "os" and node.attr == "urandom"))
        ):
            used.add(f"{node.value.id}.{node.attr}")
    return used


def test_every_primitive_in_use_is_in_the_inventory() -> None:
    allowed = _allowed()
    unlisted = {
        f"{name} ({path.relative_to(ROOT)})"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for name in _used(path)
        if name not in allowed
    }
    assert not unlisted, f"add these to docs/crypto.md or stop using them: {sorted(unlisted)}"


def test_the_check_sees_an_unlisted_primitive(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import hashlib\nfrom cryptography.hazmat.primitives.ciphers import Cipher\nhashlib.md5(b'')\n")
    assert _used(probe) - _allowed() == {"hashlib.md5", "cryptography.hazmat.primitives.ciphers.Cipher"}

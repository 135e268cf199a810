"""The daemon and its clients agree on one contract: the methods there are, the error codes and their words."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

from clinic_agent.api import contract, registry, server
from clinic_agent.core.errors import ClinicAgentError
from tui.i18n import en, zh

ROOT = Path(__file__).resolve().parents[3]
DAEMON_PACKAGES = ("clinic_agent", "sync")  # what runs in the daemon (the TUI is a client)
CLIENTS = (ROOT / "tui", ROOT / "clinic_agent" / "cli")


def _daemon_error_classes() -> list[type[ClinicAgentError]]:
    for name in DAEMON_PACKAGES:
        package = importlib.import_module(name)
        for found in pkgutil.walk_packages(package.__path__, f"{name}."):
            if not found.name.endswith("__main__"):
                importlib.import_module(found.name)
    classes, pending = [], [ClinicAgentError]
    while pending:
        cls = pending.pop()
        if cls.__module__.split(".")[0] in DAEMON_PACKAGES:
            classes.append(cls)
        pending.extend(cls.__subclasses__())
    return classes


def _sources(*roots: Path) -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for root in roots
        for path in sorted(root.rglob("*.py"))
    ]


def _wire_codes(trees: list[tuple[Path, ast.Module]]) -> dict[str, str]:
    """Codes written as literals in error replies: ``{"code": "...", "message": ...}``."""
    found = {}
    for path, tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            keys = {k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)}
            code = keys.get("code")
            if "message" in keys and isinstance(code, ast.Constant) and isinstance(code.value, str):
                found[code.value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def _daemon_trees() -> list[tuple[Path, ast.Module]]:
    return _sources(*(ROOT / name for name in DAEMON_PACKAGES))


def test_every_error_the_daemon_can_raise_has_a_declared_code() -> None:
    undeclared = [
        f"{cls.__module__}.{cls.__name__} ({cls.code})"
        for cls in _daemon_error_classes()
        if cls.code not in contract.ERRORS or not issubclass(cls, contract.ERRORS[cls.code].error)
    ]
    assert undeclared == []


def test_every_code_the_server_writes_itself_is_declared() -> None:
    written = _wire_codes(_daemon_trees())
    assert {"internal", "bad_frame", "frame_too_large"} <= written.keys()  # the scan sees the server's replies
    assert {code: where for code, where in written.items() if code not in contract.ERRORS} == {}


def test_the_contract_declares_no_code_nobody_sends() -> None:
    sent = {cls.code for cls in _daemon_error_classes()} | _wire_codes(_daemon_trees()).keys()
    assert sorted(contract.ERRORS.keys() - sent) == []


def test_a_client_knows_every_code_whatever_else_it_imported() -> None:
    """The TUI's client alone (no CLI, no sync package) raises every code with its own code and its words."""
    probe = (
        "import sys, tui.client\n"
        "from clinic_agent.api import client, contract\n"
        "assert not any(m == 'sync' or m.startswith('sync.') for m in sys.modules), 'the TUI loaded sync'\n"
        "for code, entry in contract.ERRORS.items():\n"
        "    try:\n"
        "        client.raise_error({'code': code, 'message': 'm'})\n"
        "    except entry.error as exc:\n"
        "        assert exc.code == code, (code, exc.code)\n"
        "print(len(contract.ERRORS))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(contract.ERRORS)


def test_a_code_no_contract_declares_is_an_odd_answer_of_the_daemon() -> None:
    assert contract.declared("something_new").code == "daemon_error"


def test_the_tui_has_words_for_every_code_in_both_languages() -> None:
    keys = {entry.message_key for entry in contract.ERRORS.values()}
    assert sorted(keys - zh.MESSAGES.keys()) == []
    assert sorted(keys - en.MESSAGES.keys()) == []


def test_the_daemon_answers_exactly_the_contracts_methods() -> None:
    assert set(registry.REGISTRY) == contract.OPERATIONS
    assert set(server.SERVER_METHODS) == contract.SERVER_METHODS


def test_the_clients_call_only_declared_methods() -> None:
    called = {}
    for path, tree in _sources(*CLIENTS):
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "call"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                called[node.args[0].value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    assert len(called) > 20  # the scan sees the screens' and commands' calls
    assert {name: where for name, where in called.items() if name not in contract.METHODS} == {}

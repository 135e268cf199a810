"""The CLI's commands come from one explicit list (``clinic_agent.cli.registrars``), not from imports."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil

import clinic_agent.cli
from clinic_agent.cli import build_parser, registrars


def _command_names(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_every_function_that_adds_commands_is_listed() -> None:
    """A command module whose commands were left out of the list would be silently missing from the CLI."""
    defined = set()
    for module in pkgutil.iter_modules(clinic_agent.cli.__path__):
        loaded = importlib.import_module(f"clinic_agent.cli.{module.name}")
        for name, function in inspect.getmembers(loaded, inspect.isfunction):
            if name.startswith("add_") and name.endswith("commands") and function.__module__ == loaded.__name__:
                defined.add(function)
    assert defined == set(registrars())


def test_importing_a_command_module_registers_nothing() -> None:
    """Two parsers built after every command module was imported have the same commands, each once."""
    first, second = _command_names(build_parser()), _command_names(build_parser())
    assert first == second
    assert len(first) == len(set(first))
    assert {"init", "resident", "reading", "tui", "backup", "consult", "devices", "setup", "sync"} <= set(first)

"""The CLI's commands come from one explicit list (``clinic_agent.cli.COMMANDS``), not from imports."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil

import clinic_agent.cli
from clinic_agent.cli import COMMANDS, build_parser, registrars


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


def test_the_table_names_each_command_with_the_help_its_module_gives() -> None:
    """A command runs with only its own module loaded; --help and a mistyped name list the others from
    ``COMMANDS``, which must say what the modules themselves add, in their order."""
    full = build_parser()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    added = [(action.dest, action.help) for action in sub._choices_actions]
    assert added == [command for _, listed in COMMANDS for command in listed]


def test_a_parser_for_one_command_shows_the_same_help_as_the_whole_tree() -> None:
    whole = build_parser().format_help()
    for _, listed in COMMANDS:
        assert build_parser(listed[0][0]).format_help() == whole

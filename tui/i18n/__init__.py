"""The translation catalogue: every string a person sees on screen, in Chinese (the default) and English.

Screens and widgets never hold display text; they hold catalogue keys and ask for the text in the
language in force, so switching language at run time re-renders everything. Column alignment
counts terminal cells (a Chinese character takes two), never characters.

A message that counts says its plural where the language has one: ``{n:row|rows}`` is "row" when n
is 1 and "rows" otherwise ("{rows} {rows:row|rows}" gives "1 row", "2 rows"). Chinese needs none.
"""

from __future__ import annotations

import importlib
import string
from collections.abc import Mapping
from typing import Any

from rich.cells import cell_len

LANGUAGES = ("zh", "en")  # each a module of this package, loaded when first used (English on the first F2)
DEFAULT_LANGUAGE = "zh"


def _catalogue(language: str) -> tuple[Mapping[str, str], Mapping[str, Mapping[str, str]]]:
    module = importlib.import_module(f"{__name__}.{language}")
    return module.MESSAGES, module.VALUE_SETS


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class _Plurals(string.Formatter):
    """str.format, and ``{n:one|other}`` picks the word for the count n (one when n is 1)."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        if "|" not in format_spec:
            return super().format_field(value, format_spec)
        one, _, other = format_spec.partition("|")
        return one if str(value).strip() == "1" else other


_FORMATTER = _Plurals()


def fill(template: str, **values: Any) -> str:
    """A message's ``{placeholders}`` filled, with its plurals chosen (see the module's docstring)."""
    return _FORMATTER.vformat(template, (), _Missing(values))


class Catalogue:
    """Messages and value-set labels of one language at a time; switchable."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = DEFAULT_LANGUAGE
        self.switch(language)

    def switch(self, language: str) -> None:
        """Use another language (zh or en)."""
        if language not in LANGUAGES:
            raise ValueError(f"no catalogue for language {language!r} (have {', '.join(LANGUAGES)})")
        self.language = language
        self._messages, self._value_sets = _catalogue(language)

    def __call__(self, key: str, **values: Any) -> str:
        """The message for a key, with ``{placeholders}`` filled; an unknown key shows as itself."""
        template = self._messages.get(key)
        if template is None:
            return key
        return fill(template, **values) if values else template

    def label(self, value_set: str, code: str | None) -> str:
        """The label of a code in a value set ("" for no code; the code itself if unknown)."""
        if code is None or code == "":
            return ""
        return self._value_sets.get(value_set, {}).get(code, code)

    def options(self, value_set: str) -> list[tuple[str, str]]:
        """(label, code) pairs of a value set, in the catalogue's order."""
        return [(label, code) for code, label in self._value_sets.get(value_set, {}).items()]


def pad(text: str, cells: int) -> str:
    """Left-align text in a column of terminal cells (CJK-aware); longer text is cut with an ellipsis."""
    if cell_len(text) > cells:
        return fit(text, cells)
    return text + " " * (cells - cell_len(text))


def fit(text: str, cells: int) -> str:
    """Text cut to at most ``cells`` terminal cells, ending in … when cut."""
    if cell_len(text) <= cells:
        return text
    out, used = [], 0
    for ch in text:
        width = cell_len(ch)
        if used + width > cells - 1:
            break
        out.append(ch)
        used += width
    return "".join(out) + "…"

"""The toneless pinyin readings of single characters, from pypinyin's own dictionary, in under 1 MiB.

The name index needs, per character, its readings without tones (for full pinyin) and their first
letters (for initials). Importing pypinyin for that costs about 55 MiB for as long as the daemon
runs: its package loads the phrase dictionary too, which single characters never need. Here the
character dictionary pypinyin ships (``pinyin_dict.json``, code point -> "zhāng,cháng") is read
without importing pypinyin, its tones are removed as pypinyin's NORMAL style removes them, and it is
kept as one sorted array of code points and one string of readings. The JSON text and its dict are
dropped once that is built.

``tests/unit/clinic_agent/test_pinyin.py`` checks, character by character over every entry of that
dictionary and more, that these readings and initials are exactly what ``pypinyin.pinyin`` gives
(``heteronym=True``, NORMAL and FIRST_LETTER styles, ``errors="ignore"``).
"""

from __future__ import annotations

import bisect
import importlib.util
import itertools
import json
import threading
import unicodedata
from array import array
from pathlib import Path

# pypinyin reads only these as Chinese characters (its RE_HANS); anything else is not looked up.
_HAN_RANGES = (
    (0x3007, 0x3007),
    (0xE815, 0xE864),
    (0xFA18, 0xFA18),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2A6DF),
    (0x2A703, 0x2B73F),
    (0x2B740, 0x2B81D),
    (0x2B825, 0x2BF6E),
    (0x2C029, 0x2CE93),
    (0x2D016, 0x2D016),
    (0x2D11B, 0x2EBD9),
    (0x2F80A, 0x2FA1F),
    (0x30000, 0x3134A),
    (0x300F7, 0x31288),
    (0x30EDD, 0x30EDE),
    (0x31350, 0x32389),
)
# The tone marks pypinyin's NORMAL style removes; the circumflex of ê stays, as there.
_TONE_MARKS = dict.fromkeys(map(ord, "\u0300\u0301\u0304\u030c"))


class _Table:
    """Code points, sorted, and where each one's readings start in one comma-separated string."""

    def __init__(self, codes: array[int], starts: array[int], text: str) -> None:
        self.codes = codes
        self.starts = starts
        self.text = text

    def readings(self, code: int) -> list[str]:
        i = bisect.bisect_left(self.codes, code)
        if i == len(self.codes) or self.codes[i] != code:
            return []
        return self.text[self.starts[i] : self.starts[i + 1]].split(",")


_table: _Table | None = None
_lock = threading.Lock()


def _dictionary_path() -> Path:
    spec = importlib.util.find_spec("pypinyin")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pypinyin is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.json"


def toneless(reading: str) -> str:
    """A reading as pypinyin's NORMAL style writes it: zhāng -> zhang, lǜ -> lv, ń -> n, ê̄ -> ê."""
    bare = unicodedata.normalize("NFC", unicodedata.normalize("NFD", reading).translate(_TONE_MARKS))
    return bare.replace("ü", "v")


def _load() -> _Table:
    raw: dict[str, str] = json.loads(_dictionary_path().read_text(encoding="utf-8"))
    every = sorted(map(int, raw))
    ranges = (every[bisect.bisect_left(every, low) : bisect.bisect_right(every, high)] for low, high in _HAN_RANGES)
    codes = array("I", sorted(set(itertools.chain.from_iterable(ranges))))  # some ranges overlap
    # Every character's readings made toneless in one pass over one string, not a call per reading:
    # NFD, NFC and the tone marks work character by character, and "," and ";" are left as they are.
    joined = toneless(";".join(raw[str(code)] for code in codes))
    starts = array("I", [0])
    starts.extend(itertools.accumulate(map(len, joined.split(";"))))
    return _Table(codes, starts, joined.replace(";", ""))


def _loaded() -> _Table:
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = _load()
    return _table


def readings(ch: str) -> list[str]:
    """A character's toneless readings, the most common first, as pypinyin gives them (none for other text)."""
    if len(ch) != 1 or ch.isascii():
        return []
    return list(dict.fromkeys(r for r in _loaded().readings(ord(ch)) if r))


def dictionary_stamp() -> str:
    """Which dictionary file the readings come from (its size and modification time), read without loading it.

    Pinyin keys saved with the name index are reused only under the same dictionary: an upgraded
    pypinyin may read a character otherwise, and the index must take out exactly the keys it put in."""
    stat = _dictionary_path().stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"

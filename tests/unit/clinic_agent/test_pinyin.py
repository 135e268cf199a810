"""The compact pinyin table gives, character by character, exactly what pypinyin gives.

The name index stopped importing pypinyin (about 55 MiB held by the daemon) and reads its character
dictionary directly (clinic_agent/core/pinyin.py). These tests hold the two equal over every
character that dictionary has, every character of the CJK blocks pypinyin knows, and a sample of
other text (Latin with accents, full-width forms, kana, Hangul, symbols), for the initials and the
full spellings the index is built from.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from pypinyin import Style  # the reference; the agent itself no longer imports it
from pypinyin import pinyin as pypinyin_pinyin

from clinic_agent.core import pinyin, search


def _reference_initials(ch: str) -> tuple[str, ...]:
    """The index's initials as computed before, through pypinyin."""
    if ch.isascii():
        return (ch.lower(),) if ch.isalnum() else ()
    readings = pypinyin_pinyin(ch, style=Style.FIRST_LETTER, heteronym=True, errors="ignore")
    return tuple(dict.fromkeys(r[0].lower() for group in readings for r in group if r and r[0].isalpha()))


def _reference_spellings(ch: str) -> tuple[str, ...]:
    """The index's full spellings as computed before, through pypinyin."""
    if ch.isascii():
        return (ch.lower(),) if ch.isalnum() else ()
    readings = pypinyin_pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    found = [r.lower() for group in readings for r in group if r and r.isascii() and r.isalpha()]
    found += [s.replace("v", "u") for s in found if "v" in s]
    return tuple(dict.fromkeys(found))


def _sample() -> list[str]:
    dictionary = json.loads(pinyin._dictionary_path().read_text(encoding="utf-8"))
    chars = {chr(int(code)) for code in dictionary}
    chars |= {chr(c) for c in range(0x4E00, 0xA000)}  # the whole basic CJK block, dictionary or not
    chars |= {chr(c) for c in range(0x3400, 0x4DC0, 7)}
    chars |= {chr(c) for c in range(0x20000, 0x32400, 97)}
    chars |= {chr(c) for c in range(0xF900, 0xFB00)}
    chars |= {chr(c) for c in range(0xE800, 0xE880)}
    chars |= {chr(c) for c in range(0x20, 0x3000)}  # ASCII, Latin with accents, Greek, Cyrillic, symbols
    chars |= {chr(c) for c in range(0x3000, 0x3400)}  # CJK punctuation, 〇, kana, bopomofo
    chars |= {chr(c) for c in range(0xFF00, 0xFFF0)}  # full-width forms
    rng = random.Random(13)
    chars |= {chr(rng.randrange(0xAC00, 0xD7A4)) for _ in range(500)}  # Hangul
    return sorted(chars)


SAMPLE = _sample()


def test_the_sample_is_large_and_mostly_chinese() -> None:
    assert len(SAMPLE) > 45_000
    assert sum(1 for ch in SAMPLE if pinyin.readings(ch)) > 40_000


@pytest.mark.parametrize("part", range(8))
def test_initials_and_spellings_equal_pypinyins(part: int) -> None:
    chunk = SAMPLE[part::8]
    initials = [(ch, search._char_initials.__wrapped__(ch), _reference_initials(ch)) for ch in chunk]
    assert [(ch, got, want) for ch, got, want in initials if got != want] == []
    spellings = [(ch, search._char_spellings.__wrapped__(ch), _reference_spellings(ch)) for ch in chunk]
    assert [(ch, got, want) for ch, got, want in spellings if got != want] == []


def test_heteronyms_umlaut_and_syllabic_nasals() -> None:
    assert search._char_initials("单") == ("d", "c", "s")  # dān, chán, shàn
    assert search._char_spellings("绿") == ("lv", "lu")
    assert pinyin.toneless("ǹg") == "ng"
    assert pinyin.toneless("ê̄") == "ê"
    assert search.initials("张三丰") == ["zsf"]


def test_the_index_does_not_load_pypinyin(tmp_path: Path) -> None:
    code = (
        "import sys; from clinic_agent.core import search; search.initials('张三'); search.spellings('龙秀英'); "
        "print(sorted(m for m in sys.modules if m.startswith('pypinyin')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "[]"

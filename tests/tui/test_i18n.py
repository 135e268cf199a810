"""The catalogue: both languages complete and alike; every key the screens use exists; CJK-aware columns."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from rich.cells import cell_len

from tui.i18n import Catalogue, en, fit, pad, zh

TUI = Path(__file__).resolve().parents[2] / "tui"
KEY = re.compile(r"[\"']((?:[a-z0-9_]+\.)+[a-z0-9_]+)[\"']")
# Strings that look like keys but are API method names, files or event names.
NOT_KEYS = re.compile(
    r"^(resident|entry|reading|home|followup|conflict|consult|sync|events|store|disk|device|app|draft)\.[a-z_]+$|\.tcss$|^\d"
)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(zh.MESSAGES) == set(en.MESSAGES)
    for key in zh.MESSAGES:
        assert _fields(zh.MESSAGES[key]) == _fields(en.MESSAGES[key]), key
    assert zh.VALUE_SETS.keys() == en.VALUE_SETS.keys()
    for name, codes in zh.VALUE_SETS.items():
        assert list(codes) == list(en.VALUE_SETS[name]), name


def test_every_key_the_code_names_is_in_the_catalogue() -> None:
    used = set()
    for path in TUI.rglob("*.py"):
        if path.parent.name == "i18n":
            continue
        used |= {k for k in KEY.findall(path.read_text(encoding="utf-8")) if not NOT_KEYS.search(k)}
    missing = sorted(k for k in used if k not in zh.MESSAGES)
    assert missing == []


@pytest.mark.parametrize(
    "key",
    ["banner.locked", "banner.disk_full", "banner.sync_failing", "banner.tamper", "lock.reason.idle"]
    + [f"tab.{t}" for t in ("summary", "readings", "allergy", "history")]
    + [f"err.id.{c}" for c in ("length", "characters", "region", "birth_date", "check_digit")]
    + [f"rule.{r}" for r in ("H1", "H2", "H3", "H4", "H5", "D1", "D2", "D3", "D4", "D5", "D6", "form")],
)
def test_dynamic_keys_exist(key: str) -> None:
    assert key in zh.MESSAGES


def test_switching_language_at_run_time() -> None:
    t = Catalogue()
    assert t("key.save") == "保存" and t.label("classification", "2") == "控制不满意"  # noqa: PT018
    t.switch("en")
    assert t("key.save") == "Save" and t.label("classification", "2") == "not controlled"  # noqa: PT018
    assert t("home.due", n=3) == "Due or overdue (3)"
    assert t("no.such.key") == "no.such.key"
    with pytest.raises(ValueError, match="no catalogue"):
        t.switch("fr")


def test_columns_count_terminal_cells_not_characters() -> None:
    assert cell_len(pad("龙秀英", 10)) == 10 and cell_len(pad("Li", 10)) == 10  # noqa: PT018
    assert fit("松桃县盘信镇大塘村", 9) == "松桃县盘…"
    assert cell_len(fit("松桃县盘信镇大塘村", 9)) <= 9


# Placeholders that hold a count, and the words that read the same for one and for many ("1 d", "2 d").
COUNTS = {"n", "new", "rows", "pages", "length", "max", "places", "seconds"}
SAME_FOR_ONE_AND_MANY = {"d", "y", "s", "new"}
ENDS_NOUN_PHRASE = {"of", "to", "in", "at", "on", "for", "from", "and", "or", "kept", "filled", "overdue"}


def _count_messages() -> list[tuple[str, str]]:
    """(key, count placeholder) for every message that counts something."""
    return [(key, name) for key, template in en.MESSAGES.items() for name in sorted(_fields(template) & COUNTS)]


def _said(language: str, key: str, count: str, n: int) -> str:
    t = Catalogue(language)
    values: dict[str, object] = dict.fromkeys(_fields(t(key)) & COUNTS, 7)  # the other counts: many
    values |= dict.fromkeys(_fields(en.MESSAGES[key]) - COUNTS, "x")
    return t(key, **{**values, count: n})


def _counted(text: str, n: int) -> list[str]:
    """The words after the number n, up to two, up to a word that ends the noun phrase ("1 of ...")."""
    found = re.search(rf"(?<![\d/.]){n}(?![\d/.])((?:\s+[A-Za-z][\w']*){{0,2}})", text)
    words = found.group(1).split() if found else []
    return list(next(iter([words[:i] for i, w in enumerate(words) if w in ENDS_NOUN_PHRASE]), words))


def test_count_messages_are_found() -> None:
    keys = {key for key, _ in _count_messages()}
    assert {"table.page", "drafts.offer", "err.places", "err.too_long", "home.unassigned"} <= keys


@pytest.mark.parametrize(("key", "count"), _count_messages())
def test_english_says_one_and_many_rightly(key: str, count: str) -> None:
    one, two = _said("en", key, count, 1), _said("en", key, count, 2)
    assert "(s)" not in one + two
    singular, plural = _counted(one, 1), _counted(two, 2)
    assert [w for w in singular if w.endswith("s") and w not in SAME_FOR_ONE_AND_MANY] == [], one
    if plural and plural == singular:  # "2 row": the same words for many as for one
        assert plural[0] in SAME_FOR_ONE_AND_MANY, two


@pytest.mark.parametrize(("key", "count"), _count_messages())
def test_chinese_says_the_count_for_one_and_many(key: str, count: str) -> None:
    for n in (1, 2):
        said = _said("zh", key, count, n)
        assert str(n) in said
        assert "|" not in said, said
        assert "(s)" not in said, said


def test_one_row_one_form() -> None:
    t = Catalogue("en")
    assert t("table.page", page=1, pages=1, rows=1) == "page 1/1 · 1 row · PgUp/PgDn"
    assert t("table.page", page=1, pages=2, rows=12) == "page 1/2 · 12 rows · PgUp/PgDn"
    assert t("drafts.offer", n=1).startswith("1 unfinished form kept")
    assert t("drafts.offer", n=1).endswith("Open it? (N discards it)")
    assert t("drafts.offer", n=3).startswith("3 unfinished forms kept")
    assert t("drafts.offer", n=3).endswith("Open the newest? (N discards them)")
    t.switch("zh")
    assert t("drafts.offer", n=1).endswith("现在打开吗？（N：丢弃）")
    assert t("table.page", page=1, pages=1, rows=1) == "第 1/1 页 · 共 1 条 · PgUp/PgDn 翻页"

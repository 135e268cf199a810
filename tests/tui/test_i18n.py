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

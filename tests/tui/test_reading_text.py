"""A reading in the resident's file: a value kept outside the plausible range shows its reason."""

from __future__ import annotations

from typing import Any

from tui.i18n import Catalogue
from tui.screens.resident import _reading_text

BP: dict[str, Any] = {
    "code": "85354-9",
    "components": [
        {"code": "8480-6", "value": "330", "unit": "mm[Hg]"},
        {"code": "8462-4", "value": "150", "unit": "mm[Hg]"},
    ],
    "alerts": ["systolic 330 mm[Hg] ≥ 180 mmHg: urgent referral"],
}


def test_a_confirmed_extreme_value_shows_the_doctors_reason_in_both_languages() -> None:
    kept = {**BP, "extreme_reason": "复测两次\x1b[31m"}
    assert "⚠ extreme value kept: 复测两次?[31m" in str(_reading_text(kept, Catalogue("en")))
    assert "极端值经确认保留：复测两次" in str(_reading_text(kept, Catalogue("zh")))
    assert "kept" not in str(_reading_text(BP, Catalogue("en")))


def test_the_pulse_unit_is_written_as_each_language_writes_it() -> None:
    reading = {"components": [{"code": "8480-6", "value": "142", "unit": "mm[Hg]"}, *PULSE]}
    assert "次/分" in str(_reading_text(reading, Catalogue("zh")))
    assert "/min" not in str(_reading_text(reading, Catalogue("zh")))
    assert "71 /min" in str(_reading_text(reading, Catalogue("en")))


PULSE = [{"code": "8867-4", "value": "71", "unit": "/min"}]

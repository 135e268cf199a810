"""ID card numbers: every check is named, and the check digit catches every single-digit slip."""

from __future__ import annotations

import random
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_agent.core.errors import InvalidIdNumber, InvalidInput
from clinic_agent.core.idnumber import check_character, check_health_record_number, parse_id_number
from tests.support import id_number


def test_the_standard_s_worked_examples() -> None:
    first = parse_id_number("11010519491231002X")
    assert (first.birth_date, first.is_male, first.region_code) == (date(1949, 12, 31), False, "110105")
    second = parse_id_number("440524188001010014")
    assert (second.birth_date, second.is_male) == (date(1880, 1, 1), True)


def test_a_lower_case_x_and_spaces_are_accepted() -> None:
    assert parse_id_number(" 110105 19491231 002x ").number == "11010519491231002X"


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("1101051949123100", "length"),
        ("11010519491231002XX", "length"),
        ("110105491231002", "length"),  # the old 15-digit form
        ("1101051949123100AX", "characters"),
        ("11010519491231002Y", "characters"),
        ("00010519491231002X", "region"),
        ("110105194913310026", "birth_date"),  # month 13
        ("110105209912310021", "birth_date"),  # in the future
        ("110105187912310021", "birth_date"),  # before 1880
        ("110105194912310021", "check_digit"),
    ],
)
def test_each_failure_names_its_check(text: str, check: str) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number(text, today=date(2026, 11, 25))
    assert caught.value.check == check
    assert "ID number" in caught.value.message


def test_the_check_digit_message_says_what_it_should_be() -> None:
    with pytest.raises(InvalidIdNumber, match="should be X, not 1"):
        parse_id_number("110105194912310021")


@given(st.integers(min_value=0, max_value=2**32))
def test_generated_numbers_pass(seed: int) -> None:
    number = id_number(random.Random(seed))
    assert parse_id_number(number).number == number


@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=0, max_value=16), st.integers(1, 9))
def test_every_single_digit_change_is_caught(seed: int, position: int, delta: int) -> None:
    number = id_number(random.Random(seed))
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    with pytest.raises(InvalidIdNumber):
        parse_id_number(changed)


def test_check_character_is_iso_7064_mod_11_2() -> None:
    assert check_character("11010519491231002") == "X"
    assert check_character("44052418800101001") == "4"


def test_health_record_numbers_are_17_digits() -> None:
    assert check_health_record_number("52220100100100001") == "52220100100100001"
    for bad in ("5222010010010000", "5222010010010000A", "00220100100100001"):
        with pytest.raises(InvalidInput):
            check_health_record_number(bad)


def test_a_number_kept_for_a_reason_skips_only_the_check_digit() -> None:
    kept = parse_id_number("110105194912310021", check_digit=False)
    assert (kept.number, kept.birth_date, kept.is_male) == ("110105194912310021", date(1949, 12, 31), False)
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id_number("110105194913310021", check_digit=False)  # month 13: still refused
    assert caught.value.check == "birth_date"

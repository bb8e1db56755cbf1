"""PROCEDURES §1: the worked examples, and properties of the date rules."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from machines.calendar import (
    ENGLAND,
    WorkingCalendar,
    add_months,
    age_on,
    day_before_18th_birthday,
    end_of_month,
    extension_limit,
    so_expiry,
    start_of_month,
    twenty_six_weeks_date,
    two_weeks_after,
)
from machines.policy import Policy

dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@pytest.mark.parametrize(
    ("order", "k", "end"),
    [
        (date(2026, 1, 15), 9, date(2026, 10, 14)),
        (date(2026, 1, 15), 10, date(2026, 11, 14)),
        (date(2026, 5, 31), 9, date(2027, 2, 28)),  # 2027-02-31 does not exist: the month's last day
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 3, 1), 1, date(2026, 3, 31)),
    ],
)
def test_end_of_month_worked_examples(order: date, k: int, end: date) -> None:
    assert end_of_month(order, k) == end


def test_the_other_worked_examples() -> None:
    assert start_of_month(date(2026, 1, 15), 8) == date(2026, 8, 15)
    assert so_expiry(date(2026, 1, 15)) == date(2027, 1, 14)
    assert extension_limit(date(2026, 1, 15)) == date(2029, 1, 14)
    # Mon 2026-12-21 + 10 WD: 25 Dec (Fri), 28 Dec (Mon, Boxing Day substitute) and 1 Jan are bank holidays
    assert ENGLAND.add_working_days(date(2026, 12, 21), 10) == date(2027, 1, 7)
    assert two_weeks_after(date(2026, 10, 5)) == date(2026, 10, 19)
    assert twenty_six_weeks_date(date(2026, 3, 2)) == date(2026, 8, 30)


def test_stated_expiry_is_authoritative_and_everything_stops_at_18() -> None:
    assert so_expiry(date(2026, 1, 15), stated=date(2026, 9, 30)) == date(2026, 9, 30)
    dob = date(2009, 6, 1)  # 18 on 2027-06-01
    assert so_expiry(date(2026, 12, 1), dob=dob) == date(2027, 5, 31)
    assert extension_limit(date(2026, 1, 15), dob=dob) == date(2027, 5, 31)
    assert day_before_18th_birthday(date(2008, 2, 29)) == date(2026, 2, 28)
    assert age_on(date(2009, 1, 15), date(2026, 1, 15)) == 17 and age_on(date(2009, 1, 16), date(2026, 1, 15)) == 16


def test_bank_holidays_substitutes_one_offs_and_local_closures() -> None:
    assert not ENGLAND.is_working_day(date(2027, 12, 27))  # Christmas Day 2027 is a Saturday: substitute Monday
    assert not ENGLAND.is_working_day(date(2022, 9, 19))  # one-off: the late Queen's funeral
    assert ENGLAND.is_working_day(date(2026, 12, 24))
    local = Policy(closure_days=(date(2026, 12, 24),)).calendar
    assert not local.is_working_day(date(2026, 12, 24))
    assert local.add_working_days(date(2026, 12, 23), 1) == date(2026, 12, 29)


@given(dates, st.integers(1, 36))
def test_end_of_month_is_the_day_before_the_next_start(order: date, k: int) -> None:
    end = end_of_month(order, k)
    assert start_of_month(order, k + 1) == end + timedelta(days=1)
    assert end < add_months(order, k) or order.day > 28  # the day before k months on, unless that day does not exist
    assert end_of_month(order, k) < end_of_month(order, k + 1)


# the first call for a year loads its bank holidays: slow on a busy machine, not a fault
@settings(deadline=None)
@given(dates, st.integers(0, 60))
def test_working_days_land_on_working_days_and_invert(d: date, n: int) -> None:
    later = ENGLAND.add_working_days(d, n)
    assert later >= d
    assert n == 0 or ENGLAND.is_working_day(later)
    assert ENGLAND.working_days_between(d, later) == n
    if n and ENGLAND.is_working_day(d):
        assert ENGLAND.subtract_working_days(later, n) == d


# the first call for a year loads its bank holidays: slow on a busy machine, not a fault
@settings(deadline=None)
@given(dates, st.sets(dates, max_size=10), st.integers(1, 30))
def test_closures_only_ever_push_deadlines_later(d: date, closures: set[date], n: int) -> None:
    assert WorkingCalendar(closures).add_working_days(d, n) >= ENGLAND.add_working_days(d, n)


@given(st.dates(min_value=date(1995, 1, 1), max_value=date(2030, 12, 31)), dates)
def test_age_changes_only_on_birthdays(dob: date, on: date) -> None:
    assume(on >= dob)
    assert age_on(dob, on) - age_on(dob, on - timedelta(days=1)) in (0, 1)
    assert age_on(dob, day_before_18th_birthday(dob)) == 17
    assert age_on(dob, day_before_18th_birthday(dob) + timedelta(days=1)) == 18


def test_the_bank_holiday_table_is_the_holidays_packages() -> None:
    from cli.bank_holidays import table_text
    from machines.calendar import BANK_HOLIDAYS_FILE

    assert BANK_HOLIDAYS_FILE.read_text(encoding="ascii") == table_text(), "run: python -m cli.bank_holidays"

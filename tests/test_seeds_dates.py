"""Issue 12's date rules, exhaustively: the review's shape for every order date of 2024–2028 (month ends of the
29th–31st and the leap day 2028-02-29 included), shorter orders and extensions never past their expiry, and "today"
across the clocks changing (a DST weekend moves no date)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from machines.calendar import (
    end_of_month,
    extension_review_shape,
    month_of,
    order_review_shape,
    so_expiry,
    start_of_month,
    whole_months,
)
from storage import clock

ORDERS = [date(2024, 1, 1) + timedelta(days=n) for n in range((date(2028, 12, 31) - date(2024, 1, 1)).days + 1)]


def test_a_twelve_month_order_is_reviewed_during_month_9_shown_from_month_8() -> None:
    for order in ORDERS:
        expiry = so_expiry(order)
        s = order_review_shape(order, expiry)
        assert (s.months, s.review_month) == (12, 9), order
        assert s.shown_from == start_of_month(order, 8), order
        assert (s.window_start, s.review_due) == (start_of_month(order, 9), end_of_month(order, 9)), order
        assert s.reconvene_by == end_of_month(order, 10), order
        assert s.shown_from < s.window_start <= s.review_due < s.reconvene_by < expiry, order


@pytest.mark.parametrize("months", range(1, 13))
def test_no_date_of_a_shorter_order_falls_on_or_after_its_expiry(months: int) -> None:
    for order in ORDERS[::7]:
        expiry = end_of_month(order, months)
        s = order_review_shape(order, expiry)
        assert s.months == months and s.review_month == max(1, 3 * months // 4), order
        assert s.window_start is not None and s.review_due is not None and s.reconvene_by is not None
        assert order <= s.window_start <= s.review_due <= s.reconvene_by < expiry, order


@given(
    start=st.dates(date(2024, 1, 1), date(2030, 12, 31)),
    days=st.integers(0, 3 * 366),
    quarter=st.integers(2, 12),
)
def test_an_extensions_review_is_never_on_or_after_its_expiry(start: date, days: int, quarter: int) -> None:
    expiry = start + timedelta(days=days)
    s = extension_review_shape(start, expiry, quarter)
    if whole_months(start, expiry) == 0:
        assert s.review_due is None  # under one whole month: no review (D2)
        return
    assert s.review_due is not None and s.reconvene_by is not None and s.shown_from is not None
    assert start <= s.shown_from <= s.review_due <= s.reconvene_by < expiry


@given(start=st.dates(date(2024, 1, 1), date(2030, 12, 31)), days=st.integers(0, 1200))
def test_month_of_names_the_month_a_date_falls_in(start: date, days: int) -> None:
    d = start + timedelta(days=days)
    k = month_of(start, d)
    assert start_of_month(start, k) <= d <= end_of_month(start, k)


@pytest.mark.parametrize(
    ("instant", "london"),
    [
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), date(2026, 3, 28)),  # GMT: the same date
        (datetime(2026, 3, 29, 23, 30, tzinfo=UTC), date(2026, 3, 30)),  # BST from Sun 03-29: already the 30th
        (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), date(2026, 10, 25)),  # the last night of BST
        (datetime(2026, 10, 25, 23, 30, tzinfo=UTC), date(2026, 10, 25)),  # GMT again
    ],
)
def test_today_is_the_date_in_london_across_the_clocks_changing(
    monkeypatch: pytest.MonkeyPatch, instant: datetime, london: date
) -> None:
    class At(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return instant.astimezone(tz) if tz is not None else instant  # type: ignore[arg-type]

    monkeypatch.delenv("ORDERWATCH_TODAY", raising=False)
    monkeypatch.setattr(clock, "datetime", At)
    assert clock.today() == london

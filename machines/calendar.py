"""The date rules of PROCEDURES §1, in one place.

Every deadline in orderwatch is a *date* in England and Wales; nothing here reads the clock.

>>> end_of_month(date(2026, 1, 15), 9), end_of_month(date(2026, 1, 15), 10)
(datetime.date(2026, 10, 14), datetime.date(2026, 11, 14))
>>> end_of_month(date(2026, 5, 31), 9), end_of_month(date(2024, 2, 29), 12)
(datetime.date(2027, 2, 28), datetime.date(2025, 2, 28))
>>> start_of_month(date(2026, 1, 15), 8)
datetime.date(2026, 8, 15)
>>> so_expiry(date(2026, 1, 15)), extension_limit(date(2026, 1, 15))
(datetime.date(2027, 1, 14), datetime.date(2029, 1, 14))
>>> ENGLAND.add_working_days(date(2026, 12, 21), 10)
datetime.date(2027, 1, 7)
>>> two_weeks_after(date(2026, 10, 5)), twenty_six_weeks_date(date(2026, 3, 2))
(datetime.date(2026, 10, 19), datetime.date(2026, 8, 30))
"""

from __future__ import annotations

import calendar as _stdcal
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from machines.names import shown

__all__ = [
    "ENGLAND",
    "SO_MAX_AGE_AT_ORDER",
    "SO_MAX_MONTHS",
    "SO_MONTHS",
    "ReviewShape",
    "WorkingCalendar",
    "add_months",
    "age_on",
    "bank_holidays_from_package",
    "birthday_in",
    "day_before_18th_birthday",
    "end_of_month",
    "extension_limit",
    "extension_review_shape",
    "in_range",
    "midway",
    "month_of",
    "order_review_shape",
    "parse_date",
    "so_expiry",
    "start_of_month",
    "twenty_six_weeks_date",
    "two_weeks_after",
    "whole_months",
]

SO_MONTHS = 12  # CA89 Sch 3 para 6(1): a supervision order ends after one year unless it says otherwise
SO_MAX_MONTHS = 36  # CA89 Sch 3 para 6(4): no extension may run past three years from the order
SO_MAX_AGE_AT_ORDER = 17  # CA89 s.31(3): no SO for a child aged 17 or over
ADULT_AGE = 18  # CA89 s.91(13): every order ends at 18
PROCEEDINGS_WEEKS = 26  # CA89 s.32(1)(a)(ii)
FIRST_YEAR, LAST_YEAR = 1900, 2100  # the dates orderwatch takes: a typo of 9999 would overflow date arithmetic
# ASCII digits only: "\d" would take other scripts' digits, which fromisoformat refuses or reads differently
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(text: str) -> date:
    """Parse a strict ``YYYY-MM-DD`` date of the years 1900–2100; raises ``ValueError`` naming the bad value (cut
    and escaped). ``date.fromisoformat`` alone also takes ``2026-W47-4`` and ``20260115``.

    >>> parse_date("2026-02-28")
    datetime.date(2026, 2, 28)
    >>> parse_date("2026-02-30")
    Traceback (most recent call last):
    ...
    ValueError: '2026-02-30' is not a real date (YYYY-MM-DD)
    >>> parse_date("2026-W47-4")
    Traceback (most recent call last):
    ...
    ValueError: '2026-W47-4' is not a real date (YYYY-MM-DD)
    >>> parse_date("9999-12-31")
    Traceback (most recent call last):
    ...
    ValueError: '9999-12-31' is outside the years 1900-2100
    """
    if not isinstance(text, str) or _ISO_DATE.fullmatch(text) is None:
        raise ValueError(f"{shown(text)} is not a real date (YYYY-MM-DD)")
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{shown(text)} is not a real date (YYYY-MM-DD)") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ValueError(f"{shown(text)} is outside the years {FIRST_YEAR}-{LAST_YEAR}")
    return parsed


def in_range(d: date) -> bool:
    """Is the date within the years orderwatch takes (1900–2100)?"""
    return FIRST_YEAR <= d.year <= LAST_YEAR


def add_months(d: date, k: int) -> date:
    """``d`` plus ``k`` calendar months; a day that does not exist becomes the month's last day."""
    month_index = d.month - 1 + k
    year, month = d.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(d.day, _stdcal.monthrange(year, month)[1]))


def end_of_month(order_date: date, k: int) -> date:
    """End of month ``k`` of an order: the day before the date ``k`` months after the order date.

    Where that later date does not exist, the *last day of that month* is the end (PROCEDURES §1):
    order 2026-05-31, month 9 → 2027-02-28, not the day before 2027-02-28.
    """
    if k < 1:
        raise ValueError("month numbers start at 1")
    month_index = order_date.month - 1 + k
    year, month = order_date.year + month_index // 12, month_index % 12 + 1
    last = _stdcal.monthrange(year, month)[1]
    if order_date.day > last:
        return date(year, month, last)
    return date(year, month, order_date.day) - timedelta(days=1)


def start_of_month(order_date: date, k: int) -> date:
    """Start of month ``k``: the order date for month 1, else the day after the end of month ``k``-1."""
    if k == 1:
        return order_date
    return end_of_month(order_date, k - 1) + timedelta(days=1)


def birthday_in(dob: date, year: int) -> date:
    """The birthday in ``year``; a 29 February birthday falls on 1 March in other years."""
    if dob.month == 2 and dob.day == 29 and not _stdcal.isleap(year):
        return date(year, 3, 1)
    return dob.replace(year=year)


def day_before_18th_birthday(dob: date) -> date:
    """The last day any order can run (CA89 s.91(13)).

    >>> day_before_18th_birthday(date(2010, 6, 1)), day_before_18th_birthday(date(2008, 2, 29))
    (datetime.date(2028, 5, 31), datetime.date(2026, 2, 28))
    """
    return birthday_in(dob, dob.year + ADULT_AGE) - timedelta(days=1)


def age_on(dob: date, on: date) -> int:
    """Age in whole years on a date.

    >>> age_on(date(2009, 3, 1), date(2026, 2, 28)), age_on(date(2009, 3, 1), date(2026, 3, 1))
    (16, 17)
    """
    return on.year - dob.year - (1 if on < birthday_in(dob, on.year) else 0)


def _clip_to_age_limit(d: date, dob: date | None) -> date:
    return d if dob is None else min(d, day_before_18th_birthday(dob))


def so_expiry(order_date: date, stated: date | None = None, dob: date | None = None) -> date:
    """SO expiry: end of month 12, unless the sealed order states a date (authoritative); clipped at 18."""
    return _clip_to_age_limit(stated if stated is not None else end_of_month(order_date, SO_MONTHS), dob)


def extension_limit(order_date: date, dob: date | None = None) -> date:
    """The latest expiry any extension may give: end of month 36, clipped at the day before the 18th birthday."""
    return _clip_to_age_limit(end_of_month(order_date, SO_MAX_MONTHS), dob)


def two_weeks_after(d: date) -> date:
    """Two weeks after ``d``: ``d`` + 14 calendar days."""
    return d + timedelta(days=14)


def twenty_six_weeks_date(issued: date) -> date:
    """The 26-week date: "beginning with the day the application was issued", so issue + 26 weeks - 1 day."""
    return issued + timedelta(weeks=PROCEEDINGS_WEEKS) - timedelta(days=1)


def midway(start: date, end: date) -> date:
    """The date midway between two dates, rounded down.

    >>> midway(date(2026, 1, 1), date(2026, 1, 4))
    datetime.date(2026, 1, 2)
    """
    return start + timedelta(days=(end - start).days // 2)


BANK_HOLIDAYS_FILE = Path(__file__).with_name("england_bank_holidays.txt")


def bank_holidays_from_package(years: Iterable[int]) -> list[date]:
    """England and Wales' bank holidays from the ``holidays`` package (UK/ENG: substitute days and one-offs too,
    e.g. 2022-09-19) — the source of truth."""
    import holidays

    return sorted(holidays.country_holidays("GB", subdiv="ENG", years=list(years)).keys())


@lru_cache(maxsize=1)
def _bank_holiday_table() -> tuple[range, frozenset[date]]:
    """The package's answer for a span of years, kept in a file beside this module (a test keeps the two equal):
    the package takes a tenth of a second to load and compute its first year, on every command line."""
    lines = [ln for ln in BANK_HOLIDAYS_FILE.read_text(encoding="ascii").splitlines() if ln and ln[0] != "#"]
    first, last = (int(y) for y in lines[0].split("-"))
    return range(first, last + 1), frozenset(date.fromisoformat(ln) for ln in lines[1:])


def whole_months(start: date, end: date) -> int:
    """Whole months of a period from ``start`` to ``end`` inclusive: the largest k with end of month k on or before
    ``end`` (a part month does not count: PROCEDURES' "m-month order" read as months completed).

    >>> whole_months(date(2026, 1, 15), date(2026, 7, 14)), whole_months(date(2026, 1, 15), date(2026, 7, 20))
    (6, 6)
    >>> whole_months(date(2026, 1, 15), date(2026, 7, 13)), whole_months(date(2027, 1, 19), date(2027, 1, 19))
    (5, 0)
    """
    k = (end.year - start.year) * 12 + end.month - start.month + 1
    while k > 0 and end_of_month(start, k) > end:
        k -= 1
    return max(k, 0)


def month_of(start: date, d: date) -> int:
    """The month of a period (starting ``start``) that ``d`` falls in (month 1 holds ``start``).

    >>> month_of(date(2026, 1, 15), date(2026, 10, 14)), month_of(date(2026, 1, 15), date(2026, 10, 15))
    (9, 10)
    """
    return whole_months(start, d - timedelta(days=1)) + 1 if d > start else 1


@dataclass(frozen=True, slots=True)
class ReviewShape:
    """When a period's review falls: ``window_start``..``review_due`` (no lower bound after an extension), the
    reconvened meeting by ``reconvene_by``, shown on the worklist from ``shown_from``. No date falls on or after the
    expiry: such a date is pulled back to the day before it. ``review_due`` is ``None`` for a period under one whole
    month (no review)."""

    months: int
    review_month: int
    window_start: date | None
    review_due: date | None
    reconvene_by: date | None
    shown_from: date | None


def _clip(d: date, expiry: date) -> date:
    return min(d, expiry - timedelta(days=1))


def order_review_shape(order_date: date, expiry: date) -> ReviewShape:
    """An order of m whole months: the review during month r = ⌊¾·m⌋ (month 9 of a 12-month order), due by its end;
    reconvened by the end of month r+1; shown from the start of month r−1 (PROCEDURES §2, rev.).

    >>> s = order_review_shape(date(2026, 1, 15), date(2027, 1, 14))
    >>> s.review_month, s.window_start, s.review_due, s.reconvene_by, s.shown_from
    (9, datetime.date(2026, 9, 15), datetime.date(2026, 10, 14), datetime.date(2026, 11, 14), datetime.date(2026, 8, 15))
    >>> s = order_review_shape(date(2026, 1, 15), date(2026, 7, 14))  # a 6-month order: month 4
    >>> s.review_month, s.window_start, s.review_due, s.reconvene_by
    (4, datetime.date(2026, 4, 15), datetime.date(2026, 5, 14), datetime.date(2026, 6, 14))
    """
    m = whole_months(order_date, expiry)
    if m == 0:
        return ReviewShape(0, 0, None, None, None, None)
    r = max(1, 3 * m // 4)
    return ReviewShape(m, r, _clip(start_of_month(order_date, r), expiry), _clip(end_of_month(order_date, r), expiry),
                       _clip(end_of_month(order_date, r + 1), expiry),
                       _clip(start_of_month(order_date, max(1, r - 1)), expiry))  # fmt: skip


def extension_review_shape(start: date, expiry: date, quarter: int) -> ReviewShape:
    """An extended period of m whole months from ``start``: the review due at the start of its last 1/``quarter``
    (month R = m − ⌊m/quarter⌋ + 1; *default*, by analogy with month 9 of 12), no lower bound; reconvened by the
    end of month R; shown from the start of month R−2. Every date pulled back to the day before the expiry.

    >>> s = extension_review_shape(date(2027, 1, 15), date(2028, 1, 14), 4)
    >>> s.review_due, s.reconvene_by, s.shown_from
    (datetime.date(2027, 10, 15), datetime.date(2027, 11, 14), datetime.date(2027, 8, 15))
    >>> extension_review_shape(date(2027, 1, 19), date(2027, 1, 19), 4).review_due is None  # under one month
    True
    """
    m = whole_months(start, expiry)
    if m == 0:
        return ReviewShape(0, 0, None, None, None, None)
    r = m - m // quarter + 1
    return ReviewShape(m, r, None, _clip(start_of_month(start, r), expiry), _clip(end_of_month(start, r), expiry),
                       _clip(start_of_month(start, max(1, r - 2)), expiry))  # fmt: skip


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    span, table = _bank_holiday_table()
    if year in span:
        return frozenset(d for d in table if d.year == year)
    return frozenset(bank_holidays_from_package([year]))


class WorkingCalendar:
    """Working days: Monday–Friday except England-and-Wales bank holidays and local closure days.

    >>> cal = WorkingCalendar(closures=[date(2026, 12, 24)])
    >>> cal.is_working_day(date(2026, 12, 24)), cal.is_working_day(date(2026, 12, 23))
    (False, True)
    >>> cal.subtract_working_days(date(2027, 1, 7), 10)
    datetime.date(2026, 12, 18)
    """

    def __init__(self, closures: Iterable[date] = ()) -> None:
        self.closures: frozenset[date] = frozenset(closures)

    def is_working_day(self, d: date) -> bool:
        return d.weekday() < 5 and d not in self.closures and d not in _bank_holidays(d.year)

    def add_working_days(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (``d`` is day 0, whether or not it is a working day)."""
        if n < 0:
            return self.subtract_working_days(d, -n)
        step = timedelta(days=1)
        while n > 0:
            d += step
            if self.is_working_day(d):
                n -= 1
        return d

    def subtract_working_days(self, d: date, n: int) -> date:
        """The ``n``-th working day before ``d``."""
        step = timedelta(days=1)
        while n > 0:
            d -= step
            if self.is_working_day(d):
                n -= 1
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days fall after ``start`` up to and including ``end``."""
        count, d = 0, start
        while d < end:
            d += timedelta(days=1)
            count += self.is_working_day(d)
        return count


ENGLAND = WorkingCalendar()

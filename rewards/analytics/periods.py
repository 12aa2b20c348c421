"""The windows a program report is cut into: program days, weeks from Monday and calendar
months, as aware instants in the program's time zone (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKS_BY_DEFAULT = 12
EPOCH = date(1970, 1, 1)  # day 0 of the rollups' day numbers


def day_number(instant: datetime, zone: ZoneInfo) -> int:
    """The program day of an instant, as days since 1970-01-01."""
    return (instant.astimezone(zone).date() - EPOCH).days


def day_date(number: int) -> date:
    return EPOCH + timedelta(days=number)


def day_of(value: date) -> int:
    """The day number of a date."""
    return (value - EPOCH).days


def monday(number: int) -> int:
    """The day number of the Monday starting the day's week."""
    return number - day_date(number).weekday()


def month_number(day: date) -> int:
    """Months since year 0: year × 12 + month − 1."""
    return day.year * 12 + day.month - 1


def month_label(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


@dataclass(frozen=True)
class Window:
    """Program days `first` to `last`, both included."""

    first: date
    last: date
    timezone: str

    def start(self, day: date | None = None) -> datetime:
        """Midnight starting `day` (the window's first day by default)."""
        return datetime.combine(day or self.first, time(0), ZoneInfo(self.timezone))

    @property
    def end(self) -> datetime:
        """Midnight after the last day."""
        return self.start(self.last + timedelta(days=1))

    def weeks(self) -> list[tuple[date, datetime, datetime]]:
        """(week start, its first instant, its end) for each week from Monday that meets the
        window, the first and last cut to it."""
        monday = self.first - timedelta(days=self.first.weekday())
        weeks = []
        while monday <= self.last:
            first = max(monday, self.first)
            last = min(monday + timedelta(days=6), self.last)
            weeks.append((monday, self.start(first), self.start(last + timedelta(days=1))))
            monday += timedelta(days=7)
        return weeks

    def months(self) -> list[tuple[str, datetime, datetime]]:
        """("YYYY-MM", start, end) for each calendar month from the first day's to the last's."""
        months, month = [], self.first.replace(day=1)
        while month <= self.last:
            following = (month + timedelta(days=32)).replace(day=1)
            months.append((f"{month:%Y-%m}", self.start(month), self.start(following)))
            month = following
        return months


def window(first: date | None, last: date | None, today: date, timezone: str) -> Window:
    """The days asked for: `last` defaults to today, `first` to 12 weeks before `last`."""
    last = last or today
    return Window(first or last - timedelta(weeks=WEEKS_BY_DEFAULT), last, timezone)

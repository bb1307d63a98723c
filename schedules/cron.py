"""Cron expressions in a time zone: checking them and listing their fire times (croniter does the reading).

Five fields are the usual minute, hour, day of month, month and day of week; a sixth, last, field
gives seconds (`* * * * * */10`: every ten seconds). Times are computed in the schedule's zone, so
`0 9 * * *` in Europe/Paris fires at nine o'clock local time on both sides of a clock change.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter
from croniter.croniter import CroniterError

MAX_CRON_CHARS = 100


class CronError(ValueError):
    """An expression or zone that cannot schedule anything; `field` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# Files of the zone database that are no place: the server's own zone, and a template of rules.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) - NOT_ZONES


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; CronError naming `timezone` if there is none by that name."""
    # Checked against the list first: ZoneInfo also opens paths and names such as "localtime".
    if name not in _zones():
        raise CronError("timezone", f"unknown time zone {name[:60]!r}; use an IANA name such as Europe/Paris or UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError("timezone", f"unknown time zone {name[:60]!r}") from None


def fire_times(expression: str, tz: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after`, in the zone `tz`; CronError if the expression is bad."""
    zoneinfo = zone(tz)
    expression = " ".join(expression.split())
    if not expression or len(expression) > MAX_CRON_CHARS:
        raise CronError("cron", f"must be a cron expression of 5 or 6 fields, at most {MAX_CRON_CHARS} characters")
    fields = len(expression.split(" "))
    if fields not in (5, 6):
        raise CronError(
            "cron",
            f"has {fields} fields; a cron expression has 5 (minute hour day month weekday) or 6 (with seconds last)",
        )
    try:
        times = croniter(expression, after.astimezone(zoneinfo))
        return [times.get_next(datetime) for _ in range(count)]
    except (CroniterError, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise CronError("cron", f"is not a valid cron expression: {exc}") from None


def next_after(expression: str, tz: str, after: datetime) -> datetime:
    return fire_times(expression, tz, after, 1)[0]


def previous_before(expression: str, tz: str, before: datetime) -> datetime:
    """The last fire time strictly before `before` (the expression was checked when the schedule was saved)."""
    return croniter(" ".join(expression.split()), before.astimezone(zone(tz))).get_prev(datetime)

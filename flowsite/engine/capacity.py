"""How a step's machines may be obtained: on demand, as cheaper spot machines that can be taken back, or
queued until machines are free (flex-start); how long to wait for them; whether a restarted machine
restarts the job. A remote stack has its own settings; a step may ask otherwise, for itself.

A field left None means "as the stack says". A unit of several steps (a step group) runs on one machine,
so it gets what satisfies every member, as its resources do: the most reliable strategy any member asks
for (standard over flex-start over spot), the shortest wait any member allows, and a restart if any
member asks for one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

# From the most reliable to the least: a unit gets the first its members ask for.
STRATEGIES = ("standard", "flex-start", "spot")
MIN_WAIT_SECONDS = 60
MAX_WAIT_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Capacity:
    strategy: str | None = None
    max_wait_seconds: int | None = None
    restart_job_on_worker_restart: bool | None = None

    def __post_init__(self) -> None:
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise ValueError(f"capacity strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        wait = self.max_wait_seconds
        if wait is not None and (
            isinstance(wait, bool) or not isinstance(wait, int) or not MIN_WAIT_SECONDS <= wait <= MAX_WAIT_SECONDS
        ):
            raise ValueError(
                f"capacity max_wait_seconds must be a whole number of seconds from {MIN_WAIT_SECONDS} to "
                f"{MAX_WAIT_SECONDS}, not {wait!r}"
            )
        restart = self.restart_job_on_worker_restart
        if restart is not None and not isinstance(restart, bool):
            raise ValueError(f"capacity restart_job_on_worker_restart must be true or false, not {restart!r}")

    @classmethod
    def from_value(cls, value: Capacity | Mapping[str, Any] | None, owner: str) -> Capacity | None:
        """A step's `capacity` option as given (a Capacity or a mapping of its fields), checked; ValueError
        naming the step and the field otherwise."""
        if value is None or isinstance(value, Capacity):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"{owner}: capacity must be a mapping such as {{'strategy': 'spot'}}, not {value!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"{owner}: capacity has no setting {unknown[0]!r} (it has {', '.join(sorted(known))})")
        try:
            return cls(**value)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None

    def over(self, default: Capacity) -> Capacity:
        """This request, with what it leaves unsaid taken from `default` (the stack's settings)."""
        return replace(
            default, **{f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        )

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def unit_capacity(requests: Iterable[Capacity | None], default: Capacity) -> Capacity:
    """What a unit's job gets: each member's request over the stack's `default`, then what satisfies all."""
    wanted = [(request or Capacity()).over(default) for request in requests] or [default]
    strategies = [c.strategy for c in wanted if c.strategy is not None]
    waits = [c.max_wait_seconds for c in wanted if c.max_wait_seconds is not None]
    return Capacity(
        strategy=min(strategies, key=STRATEGIES.index) if strategies else None,
        max_wait_seconds=min(waits) if waits else None,
        restart_job_on_worker_restart=any(bool(c.restart_job_on_worker_restart) for c in wanted),
    )

"""Steps that run together in one environment."""

from __future__ import annotations

from collections.abc import Iterable

from .resources import ResourceConfig
from .step import Step


class StepGroup:
    """Consecutive steps sharing an `execution_group`, run as one unit.

    Its resources are the maximum of what its members ask for, so one machine serves all.
    """

    def __init__(
        self,
        group_name: str,
        steps: Iterable[Step],
        execution_order: Iterable[str] | None = None,
        aggregated_resources: ResourceConfig | None = None,
    ) -> None:
        self.group_name = group_name
        self.steps = list(steps)
        if not self.steps:
            raise ValueError(f"step group {group_name!r} has no steps")
        names = [s.name for s in self.steps]
        self.execution_order = list(execution_order) if execution_order is not None else names
        unknown = [n for n in self.execution_order if n not in names]
        if unknown:
            raise ValueError(
                f"step group {group_name!r}: execution order names {unknown[0]!r}, which is not in the group"
            )
        if sorted(self.execution_order) != sorted(names):
            raise ValueError(f"step group {group_name!r}: execution order must name each step exactly once")
        if aggregated_resources is None:
            for resources in (s.resources for s in self.steps if s.resources is not None):
                aggregated_resources = (
                    resources if aggregated_resources is None else aggregated_resources.merge(resources)
                )
        self.aggregated_resources = aggregated_resources

    @property
    def name(self) -> str:
        return self.group_name

    def __repr__(self) -> str:
        return f"StepGroup({self.group_name!r}, {self.execution_order})"

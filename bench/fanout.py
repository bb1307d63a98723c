"""A pipeline of twenty independent steps, for bench/vertex.py's fan-out figures."""

from __future__ import annotations

from flowsite.engine import Pipeline, Step


def _branch(i: int) -> Step:
    def branch(width: int = 1) -> int:
        return width * i

    branch.__name__ = branch.__qualname__ = f"branch_{i:02d}"
    return Step(branch, outputs=[f"out_{i:02d}"])


fan_out = Pipeline("fan-out-20", [_branch(i) for i in range(20)], description="Twenty steps that need nothing.")

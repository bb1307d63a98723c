"""A pipeline whose steps ask for capacity otherwise than their stack (tests/vertex/test_vertex_unit_capacity.py)."""

from __future__ import annotations

from flowsite.engine import Pipeline, step


@step(outputs=["cheap"], capacity={"strategy": "spot", "max_wait_seconds": 600})
def thrifty() -> int:
    return 1


@step(outputs=["sure"], capacity={"strategy": "standard"})
def steady() -> int:
    return 2


@step(outputs=["plain"])
def ordinary() -> int:
    return 3


@step(outputs=["half"], execution_group="pair", capacity={"strategy": "spot"})
def pair_first() -> int:
    return 4


@step(inputs=["half"], outputs=["whole"], execution_group="pair",
      capacity={"strategy": "flex-start", "max_wait_seconds": 300, "restart_job_on_worker_restart": True})  # fmt: skip
def pair_second(half: int) -> int:
    return half * 2


capacities = Pipeline("capacities", [thrifty, steady, ordinary, pair_first, pair_second])

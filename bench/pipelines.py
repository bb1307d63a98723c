"""Pipelines for the control-plane benchmarks."""

from __future__ import annotations

import time

from flowsite.engine import Pipeline, Step, step


def _first() -> int:
    return 0


def _next(x: int) -> int:
    return x + 1


CHAIN_LENGTH = 2000
chain = Pipeline(
    "bench-chain",
    [Step(_first, name="s0", cache=False)]
    + [Step(_next, name=f"s{i}", inputs=[f"s{i - 1}"], cache=False) for i in range(1, CHAIN_LENGTH)],
)


@step(cache=False)
def ping() -> int:
    return 1


one_step = Pipeline("bench-one-step", [ping])


@step(cache=False)
def busy(mode: str = "python", seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    if mode == "c":
        time.sleep(seconds)
    while time.monotonic() < end:
        pass


blocking = Pipeline("bench-blocking", [busy])


@step(cache=False)
def shout(lines: int = 200_000) -> int:
    for i in range(lines):
        print(f"line {i}")
    return lines


chatty = Pipeline("bench-chatty", [shout])

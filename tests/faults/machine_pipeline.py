"""The pipeline of tests/faults/test_machines.py, which copies this file into each worker machine's own
folder as that machine's checkout of the team's code. Every step appends its name to the run's `ledger`
as it starts, so the test counts what really executed, on whichever machine."""

from __future__ import annotations

import time
from pathlib import Path

from flowsite.engine import Pipeline, step


def _note(ledger: str, entry: str) -> None:
    with open(ledger, "a") as f:
        f.write(entry + "\n")


@step(outputs=["started"], cache=False)
def begin(ledger: str) -> str:
    _note(ledger, "begin")
    return "started"


@step(inputs=["started"], outputs=["held"], cache=False)
def hold(started: str, ledger: str, gate: str = "", seconds: float = 60.0) -> str:
    """Holds until the `gate` file exists: a long step to lose a machine under, or to let go."""
    _note(ledger, "hold")
    deadline = time.monotonic() + seconds
    while gate and not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gate {gate} stayed closed for {seconds:g} s")
        time.sleep(0.02)
    return "held"


@step(inputs=["held"], cache=False)
def end(held: str, ledger: str) -> None:
    _note(ledger, "end")


relay = Pipeline("relay", [begin, hold, end], description="Begin, hold until a gate opens, end.")

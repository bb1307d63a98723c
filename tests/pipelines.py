"""Pipelines the control-plane tests run through real workers. Parameters steer their behaviour;
`ledger` files let a test count how often a step really executed."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

from flowsite.engine import Pipeline, Step, step


def _note(ledger: str, entry: str) -> int:
    """Append an entry to the ledger; returns how many times it is there now."""
    if not ledger:
        return 0
    with open(ledger, "a") as f:
        f.write(entry + "\n")
    return Path(ledger).read_text().splitlines().count(entry)


@step(outputs=["greeting"])
def hello(name: str = "world", ledger: str = "") -> str:
    _note(ledger, f"hello {name}")
    print(f"hello {name}")
    print("second line")
    return f"hello {name}"


greeting = Pipeline("greeting", [hello], description="One step that says hello.")


@step(outputs=["numbers"])
def produce(n: int = 3, ledger: str = "") -> list[int]:
    _note(ledger, "produce")
    return list(range(n))


@step(inputs=["numbers"], outputs=["total"])
def add_up(numbers: list[int], gate: str = "", ledger: str = "") -> int:
    _note(ledger, "add_up")
    if gate and not os.path.exists(gate):
        raise FileNotFoundError(f"gate {gate} is closed")
    return sum(numbers)


arithmetic = Pipeline("arithmetic", [produce, add_up], description="Produce numbers, then add them up.")


@step
def explode(message: str = "bad input") -> None:
    print("about to fail")
    raise ValueError(message)


exploding = Pipeline("exploding", [explode])


@step(retry=2, retry_delay=0.05)
def flaky(ledger: str = "", failures: int = 2) -> str:
    attempt = _note(ledger, "flaky")
    if attempt <= failures:
        raise ConnectionError(f"attempt {attempt} failed")
    return f"succeeded on attempt {attempt}"


retrying = Pipeline("retrying", [flaky])


@step(timeout=0.5)
def overrun(seconds: float = 30.0) -> str:
    time.sleep(seconds)
    return "too late"


timing_out = Pipeline("timing-out", [overrun])


@step(cache=False)
def linger(mode: str = "python", seconds: float = 60.0, pidfile: str = "") -> str:
    """Keeps running in one of several ways, for cancellation tests."""
    print(f"lingering in {mode}", flush=True)
    end = time.monotonic() + seconds
    if mode == "python":
        while time.monotonic() < end:
            pass
    elif mode == "c":
        time.sleep(seconds)
    elif mode == "subprocess":
        # A child with a child of its own: both must be gone once the run is cancelled.
        process = subprocess.Popen(["sh", "-c", f"sleep {seconds} & echo $! > {pidfile}.grandchild; wait"])
        Path(pidfile).write_text(str(process.pid))
        process.wait()
    elif mode == "stubborn":
        while time.monotonic() < end:
            try:
                time.sleep(seconds)
            except BaseException:
                pass
    return "done lingering"


lingering = Pipeline("lingering", [linger])


@step
def chatter(lines: int = 1000) -> int:
    for i in range(lines):
        print(f"line {i}")
    return lines


chatty = Pipeline("chatty", [chatter])


@step
def leak() -> None:
    print(f"token is {os.environ.get('API_TOKEN', 'unset')}")
    print("nul\x00byte")
    print("x" * 70_000)
    subprocess.run(["echo", "from a child process"], check=True)


leaky = Pipeline("leaky", [leak])


# Remote report limits: what a remote step may print that a report must carry anyway.

LONG_LINE_CHARS = 2_000_000
REPORT_LINES = 3000
LONG_ERROR_CHARS = 150_000


@step(cache=False)
def hostile_output(lines: int = REPORT_LINES) -> None:
    import logging
    import sys

    print("nul\x00byte")
    print("caf\udce9.txt")
    # Written with its newline: print() hands a line this long to the capture in two writes.
    sys.stdout.write("x" * LONG_LINE_CHARS + "\n")
    logging.addLevelName(45, "A_CUSTOM_LEVEL_NAME_TOO_LONG_TO_STORE")
    logging.getLogger("limits").log(45, "custom level")
    for i in range(lines):
        print(f"line {i:05d} " + "y" * 1000)
    raise ValueError("e" * LONG_ERROR_CHARS)


hostile_reporting = Pipeline("hostile-reporting", [hostile_output])


# Recording under faults


def _link(index: int) -> Step:
    def link(lines: int = 1000, pause: float = 0.05) -> int:
        for i in range(lines):
            print(f"step {index:02d} line {i:05d}")
        time.sleep(pause)
        return index

    return Step(link, name=f"link{index:02d}", cache=False)


long_chain = Pipeline("long-chain", [_link(i) for i in range(30)], description="30 steps that print and pause.")


@step(cache=False)
def undecodable() -> int:
    print("caf\udce9.txt")
    subprocess.run(["printf", "r\\351sum\\351.pdf\\n"], check=True)
    logging.addLevelName(25, "progress-of-the-training-loop")
    logging.getLogger("training").log(25, "epoch 1")
    print("after")
    return 3


unencodable_names = Pipeline("unencodable-names", [undecodable])


# Secrets that user code spills


@step(cache=False)
def spill() -> None:
    token = os.environ["API_TOKEN"]
    print(f"using {token}")
    logging.getLogger("client").warning("retrying with %s", token)
    raise ValueError(f"the service refused token {token}")


spilling = Pipeline("spilling", [spill])


# Three branches and a join, for stacks that place each unit on its own machine. Each branch waits
# until all three have started (a barrier in a shared file), so the run ends only if they ran at once.
@step(outputs=["seed"])
def sow(base: int = 3) -> int:
    return base


def _await_siblings(barrier: str, name: str, sign: bool = True, count: int = 3) -> None:
    if not barrier:
        return
    if sign:
        with open(barrier, "a") as f:
            f.write(name + "\n")
    deadline = time.monotonic() + 30
    while not Path(barrier).exists() or len(Path(barrier).read_text().splitlines()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"branch {name}: the other branches never started beside it")
        time.sleep(0.05)


@step(inputs=["seed"], outputs=["left"], resources={"cpu": "8", "memory": "16Gi"})
def go_left(seed: int, barrier: str = "", fail_branch: str = "") -> int:
    _await_siblings(barrier, "left")
    if fail_branch == "left":
        raise ValueError("the left branch broke")
    return seed * 10


@step(inputs=["seed"], outputs=["half"], execution_group="middle")
def middle_first(seed: int, barrier: str = "") -> int:
    _await_siblings(barrier, "middle")
    return seed * 100


@step(inputs=["half"], outputs=["middle"], execution_group="middle")
def middle_second(half: int) -> int:
    return half + 1


@step(inputs=["seed"], outputs=["right"])
def go_right(seed: int, barrier: str = "", fail_branch: str = "") -> int:
    if fail_branch == "right":
        # Breaks once the other two are running (and waiting for it, in vain).
        _await_siblings(barrier, "right", sign=False, count=2)
        raise ValueError("the right branch broke")
    _await_siblings(barrier, "right")
    return seed * 1000


@step(inputs=["left", "middle", "right"], outputs=["total"])
def join(left: int, middle: int, right: int) -> int:
    print(f"total {left + middle + right}")
    return left + middle + right


branching = Pipeline(
    "branching", [sow, go_left, middle_first, middle_second, go_right, join],
    description="Three branches (one a step group) that must run at once, then a join.",
)  # fmt: skip

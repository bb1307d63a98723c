"""Engine overhead: microseconds per step, with log capture off and on.

    python -m bench.engine [--calls N] [--chain N]

Targets (issue 2): at most 20 us per `execute_step` without capture and 60 us with it.
"""

from __future__ import annotations

import argparse
import statistics
import time

from flowsite.engine import LocalExecutor, Pipeline, RunObserver, Step, step


class CountingObserver(RunObserver):
    """What a control plane does at the least: count what it is told."""

    def __init__(self) -> None:
        self.events = 0

    def step_started(self, step_name: str, attempt: int) -> None:
        self.events += 1

    def log_line(self, step_name: str, stream: str, level: str, text: str) -> None:
        self.events += 1

    def step_finished(self, result: object) -> None:
        self.events += 1


@step
def trivial() -> int:
    return 1


def per_execute_step(calls: int, capture: bool) -> float:
    executor = LocalExecutor(observer=CountingObserver() if capture else None)
    run_id = "bench" if capture else None
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            executor.execute_step(trivial, {}, {}, run_id=run_id)
        rounds.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(rounds)


def chain(length: int) -> Pipeline:
    steps = [Step(lambda: 0, name="s0", cache=False)]
    for i in range(1, length):
        steps.append(Step(lambda x: x + 1, name=f"s{i}", inputs=[f"s{i - 1}"], cache=False))
    return Pipeline(f"chain-{length}", steps)


def per_chain_step(length: int, capture: bool) -> float:
    pipeline = chain(length)
    pipeline.execution_units()
    executor = LocalExecutor(observer=CountingObserver() if capture else None)
    rounds = []
    for _ in range(3):
        start = time.perf_counter()
        result = pipeline.run(executor=executor)
        rounds.append((time.perf_counter() - start) / length * 1e6)
        assert result.success and result[f"s{length - 1}"] == length - 1
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="execute_step calls per round")
    parser.add_argument("--chain", type=int, default=1_000, help="steps in the Pipeline.run chain")
    args = parser.parse_args()
    print(f"{'measure':<44} {'us/step':>8}  target")
    print(f"{'execute_step, trivial step, capture off':<44} {per_execute_step(args.calls, False):>8.1f}  <= 20")
    print(f"{'execute_step, trivial step, capture on':<44} {per_execute_step(args.calls, True):>8.1f}  <= 60")
    print(f"{f'Pipeline.run, {args.chain}-step chain, capture off':<44} {per_chain_step(args.chain, False):>8.1f}")
    print(f"{f'Pipeline.run, {args.chain}-step chain, capture on':<44} {per_chain_step(args.chain, True):>8.1f}")


if __name__ == "__main__":
    main()

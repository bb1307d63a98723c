"""Pipelines: steps wired into a DAG by output and input names, run in-process."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .context import Context
from .executor import STOPPED_BY_USER, Executor, LocalExecutor, step_params
from .groups import StepGroup
from .observer import RunObserver
from .outputs import SkippedOutput, map_inputs, publish_outputs, skipped_outputs
from .parameters import ParameterSpec, step_parameters
from .results import ExecutionResult
from .step import Step, validate_name

ExecutionUnit = Step | StepGroup


def step_status(result: ExecutionResult) -> str:
    """A step result as one word: cached, skipped, completed or failed."""
    if result.cached:
        return "cached"
    if result.skipped:
        return "skipped"
    return "completed" if result.success else "failed"


def unit_steps(unit: ExecutionUnit) -> list[Step]:
    return list(unit.steps) if isinstance(unit, StepGroup) else [unit]


def execute_unit(
    unit: ExecutionUnit,
    values: dict[str, Any],
    context: Context,
    executor: Executor,
    cache_store: Any | None = None,
    artifact_store: Any | None = None,
    run_id: str = "",
    project_name: str = "default",
) -> list[ExecutionResult]:
    """Run one unit given the values of its inputs: what `Pipeline.run` does for each unit, and what a
    remote job placed per unit does for its own."""
    if isinstance(unit, StepGroup):
        return executor.execute_step_group(
            unit,
            values,
            context=context,
            cache_store=cache_store,
            artifact_store=artifact_store,
            run_id=run_id,
            project_name=project_name,
        )
    return [
        executor.execute_step(
            unit,
            map_inputs(unit, {n: values[n] for n in unit.inputs if n in values}),
            step_params(unit, context),
            cache_store=cache_store,
            artifact_store=artifact_store,
            run_id=run_id,
            project_name=project_name,
        )
    ]


@dataclass
class PipelineResult:
    """What a run produced: a result per step, the outputs, and how it ended."""

    pipeline_name: str
    run_id: str
    success: bool
    step_results: dict[str, ExecutionResult]
    outputs: dict[str, Any]
    duration_seconds: float
    stopped: bool = False
    error: str | None = None
    failed_step: str | None = field(default=None)

    def summary(self) -> str:
        """A table a person can read: each step's outcome, time, attempts and note."""
        outcome = "completed" if self.success else ("stopped" if self.stopped else "failed")
        lines = [f"{self.pipeline_name} run {self.run_id}: {outcome} in {self.duration_seconds:.2f} s"]
        width = max((len(name) for name in self.step_results), default=4)
        lines.append(f"  {'step':<{width}}  {'status':<9}  {'seconds':>8}  {'attempts':>8}  note")
        for name, r in self.step_results.items():
            status = step_status(r)
            attempts = "" if r.cached or r.skipped else str(r.retries + (1 if r.success else 0))
            note = (r.error or "").strip().splitlines()[-1] if r.error else ""
            lines.append(f"  {name:<{width}}  {status:<9}  {r.duration_seconds:>8.3f}  {attempts:>8}  {note}")
        return "\n".join(lines)

    def __getitem__(self, name: str) -> Any:
        try:
            return self.outputs[name]
        except KeyError:
            available = ", ".join(sorted(self.outputs)) or "none"
            raise KeyError(f"run {self.run_id} has no output {name!r} (outputs: {available})") from None


class Pipeline:
    def __init__(
        self, name: str, steps: Iterable[Step | Callable[..., Any]] | None = None, description: str = ""
    ) -> None:
        self.name = validate_name(name, "pipeline")
        self.description = description
        self._steps: list[Step] = []
        self._units: list[ExecutionUnit] | None = None
        for s in steps or ():
            self.add_step(s)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={[s.name for s in self._steps]})"

    @property
    def steps(self) -> list[Step]:
        return list(self._steps)

    def add_step(self, step: Step | Callable[..., Any]) -> Pipeline:
        """Add a step (a plain function becomes a step with default options); returns the pipeline."""
        self._steps.append(step if isinstance(step, Step) else Step(step))
        self._units = None
        return self

    def upstream(self) -> dict[str, list[str]]:
        """Each step's producers, in the order of its inputs; raises ValueError on a bad graph."""
        producers: dict[str, str] = {}
        names: set[str] = set()
        for s in self._steps:
            if s.name in names:
                raise ValueError(f"pipeline {self.name!r}: two steps are named {s.name!r}")
            names.add(s.name)
            for output in s.outputs:
                if output in producers:
                    raise ValueError(
                        f"pipeline {self.name!r}: output {output!r} is produced by both "
                        f"step {producers[output]!r} and step {s.name!r}"
                    )
                producers[output] = s.name
        graph: dict[str, list[str]] = {}
        for s in self._steps:
            deps: list[str] = []
            for input_name in s.inputs:
                if input_name not in producers:
                    raise ValueError(
                        f"pipeline {self.name!r}: step {s.name!r} needs input {input_name!r}, which no step produces"
                    )
                if producers[input_name] not in deps:
                    deps.append(producers[input_name])
            graph[s.name] = deps
        return graph

    def execution_units(self) -> list[ExecutionUnit]:
        """Steps and step groups in a topological order that keeps each group's steps together."""
        if self._units is None:
            self._units = self._build_units()
        return list(self._units)

    def _build_units(self) -> list[ExecutionUnit]:
        graph = self.upstream()
        by_name = {s.name: s for s in self._steps}
        position = {s.name: i for i, s in enumerate(self._steps)}
        waiting = {name: len(deps) for name, deps in graph.items()}
        downstream: dict[str, list[str]] = {name: [] for name in graph}
        for name, deps in graph.items():
            for dep in deps:
                downstream[dep].append(name)
        ready = sorted((n for n, count in waiting.items() if count == 0), key=position.__getitem__)
        order: list[Step] = []
        while ready:
            group = order[-1].execution_group if order else None
            pick = next((n for n in ready if group and by_name[n].execution_group == group), ready[0])
            ready.remove(pick)
            order.append(by_name[pick])
            for child in downstream[pick]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
            ready.sort(key=position.__getitem__)
        if len(order) < len(self._steps):
            raise ValueError(f"pipeline {self.name!r} has a cycle: {' -> '.join(self._find_cycle(graph))}")

        units: list[ExecutionUnit] = []
        for s in order:
            previous = units[-1] if units else None
            if s.execution_group and isinstance(previous, StepGroup) and previous.group_name == s.execution_group:
                units[-1] = StepGroup(s.execution_group, [*previous.steps, s])
            elif s.execution_group:
                units.append(StepGroup(s.execution_group, [s]))
            else:
                units.append(s)
        return units

    def _find_cycle(self, graph: dict[str, list[str]]) -> list[str]:
        visiting: list[str] = []
        done: set[str] = set()

        def visit(name: str) -> list[str] | None:
            if name in visiting:
                return [*visiting[visiting.index(name) :], name]
            if name in done:
                return None
            visiting.append(name)
            for dep in graph[name]:
                cycle = visit(dep)
                if cycle:
                    return cycle
            visiting.pop()
            done.add(name)
            return None

        for s in self._steps:
            cycle = visit(s.name)
            if cycle:
                # Found walking from consumers to producers; show it in the direction data flows.
                return cycle[::-1]
        return []

    def parameters(self) -> list[ParameterSpec]:
        """The run parameters the steps (and their conditions) read, with types and defaults."""
        return step_parameters(self._steps)

    def graph(self) -> dict[str, Any]:
        """The DAG as plain data: steps in execution order, and producer -> consumer edges."""
        upstream = self.upstream()
        nodes = []
        for unit in self.execution_units():
            for s in unit.steps if isinstance(unit, StepGroup) else [unit]:
                nodes.append(
                    {
                        "name": s.name,
                        "group": s.execution_group,
                        "inputs": list(s.inputs),
                        "outputs": list(s.outputs),
                        "upstream": upstream[s.name],
                        "retry": s.retry,
                        "timeout": s.timeout,
                        "cache": s.cache if isinstance(s.cache, (bool, str)) else "custom",
                        "conditional": s.condition is not None,
                        "tags": dict(s.tags),
                    }
                )
        edges = [[producer, n["name"]] for n in nodes for producer in n["upstream"]]
        return {"nodes": nodes, "edges": edges}

    def code_version(self) -> str:
        """A hash of every step's code and wiring: changes whenever what would run changes."""
        h = hashlib.sha256()
        for s in self._steps:
            h.update(f"{s.name}|{s.inputs}|{s.outputs}|{s.execution_group}|{s.get_code_hash()}\n".encode())
        return h.hexdigest()[:16]

    def run(
        self,
        context: Context | Mapping[str, Any] | None = None,
        executor: Executor | None = None,
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        *,
        run_id: str | None = None,
        project_name: str = "default",
    ) -> PipelineResult:
        """Run every step in this process and return what they produced.

        After a failure (or a stop request) no further unit starts; the steps that did
        not run are reported as skipped, with the reason in their error.
        """
        units = self.execution_units()
        if context is None:
            context = Context()
        elif not isinstance(context, Context):
            context = Context(**context)
        executor = executor or LocalExecutor()
        run_id = run_id or uuid.uuid4().hex
        # Executors written against the seed's interface may not have one.
        observer = getattr(executor, "observer", None)
        start = time.perf_counter()
        values: dict[str, Any] = {}
        results: dict[str, ExecutionResult] = {}
        stop_reason: str | None = None
        failed: ExecutionResult | None = None
        stopped = False

        for unit in units:
            members = unit.steps if isinstance(unit, StepGroup) else [unit]
            if stop_reason is None and observer is not None and observer.should_stop():
                stopped, stop_reason = True, f"Not run: {STOPPED_BY_USER.lower()}"
            if stop_reason is not None:
                for member in members:
                    results[member.name] = self._not_run(member, stop_reason, observer)
                continue
            unit_results = execute_unit(
                unit, values, context, executor, cache_store, artifact_store, run_id, project_name
            )
            by_name = {s.name: s for s in members}
            for result in unit_results:
                results[result.step_name] = result
                member = by_name[result.step_name]
                if not result.success:
                    failed = failed or result
                    stopped = stopped or result.error == STOPPED_BY_USER
                elif result.skipped:
                    values.update(skipped_outputs(member))
                else:
                    values.update(publish_outputs(member, result.output))
            if failed is not None:
                stop_reason = (
                    f"Not run: {STOPPED_BY_USER.lower()}" if stopped else f"Not run: step {failed.step_name!r} failed"
                )

        return PipelineResult(
            pipeline_name=self.name,
            run_id=run_id,
            success=failed is None and not stopped,
            step_results=results,
            outputs={k: v for k, v in values.items() if type(v) is not SkippedOutput},
            duration_seconds=time.perf_counter() - start,
            stopped=stopped,
            error=failed.error if failed is not None else (STOPPED_BY_USER if stopped else None),
            failed_step=failed.step_name if failed is not None else None,
        )

    def unit(self, name: str) -> ExecutionUnit:
        """The execution unit named `name`: a step outside any group, or a step group."""
        for unit in self.execution_units():
            if unit.name == name:
                return unit
        raise LookupError(f"pipeline {self.name!r} has no step or step group named {name!r}")

    @staticmethod
    def _not_run(step: Step, reason: str, observer: RunObserver | None) -> ExecutionResult:
        result = ExecutionResult(step.name, success=True, skipped=True, error=reason)
        if observer is not None:
            observer.step_finished(result)
        return result

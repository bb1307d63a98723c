"""Executors run steps: conditions, cache, retries, timeouts, stop requests and logs."""

from __future__ import annotations

import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

from .capture import LogCapture
from .context import Context
from .interrupts import ForcedStop, StepTimeout, supervisor
from .metrics import MetricSink
from .metrics import start as start_metrics
from .metrics import stop as stop_metrics
from .observer import RunObserver
from .outputs import SkippedOutput, map_inputs, publish_outputs, skipped_outputs
from .results import ExecutionResult, StopExecution
from .signature import accepted_kwargs, select_kwargs

if TYPE_CHECKING:
    from .groups import StepGroup
    from .step import Step

logger = logging.getLogger("flowsite.engine")

STOPPED_BY_USER = "Execution stopped by user"
SKIPPED_IN_GROUP = "Skipped due to earlier failure in group"
SKIPPED_BY_CONDITION = "Skipped: its condition returned false"


def materialize_outputs(step: Step, output: Any, artifact_store: Any, run_id: str, project_name: str) -> str | None:
    """Store each output the step declares as an artifact of that name; the first one's URI.

    A step with outputs ["train", "test"] that returns a pair makes two artifacts, `train` and `test`,
    each readable on its own, as the steps that take them as inputs see them.
    """
    uris = [
        artifact_store.materialize(obj=value, name=name, run_id=run_id, step_name=step.name, project_name=project_name)
        for name, value in publish_outputs(step, output).items()
        if value is not None
    ]
    return uris[0] if uris else None


def step_params(step: Step, context: Context) -> dict[str, Any]:
    """The context parameters a step's function or its condition names."""
    params = context.inject_params(step.func)
    if step.condition is not None:
        params.update(context.inject_params(step.condition))
    return params


class Executor:
    """Runs steps. Subclasses decide where; `observer` hears about what happens."""

    def __init__(self, observer: RunObserver | None = None) -> None:
        self.observer = observer

    def execute_step(
        self,
        step: Step,
        inputs: dict[str, Any],
        context_params: dict[str, Any],
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        run_id: str | None = None,
        project_name: str = "default",
    ) -> ExecutionResult:
        raise NotImplementedError(f"{type(self).__name__} does not implement execute_step")

    def execute_step_group(
        self,
        step_group: StepGroup,
        inputs: dict[str, Any],
        context: Context | None = None,
        context_params: dict[str, Any] | None = None,
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        run_id: str | None = None,
        project_name: str = "default",
    ) -> list[ExecutionResult]:
        raise NotImplementedError(f"{type(self).__name__} does not implement execute_step_group")


class LocalExecutor(Executor):
    """Runs steps in the calling thread of this process."""

    def execute_step(
        self,
        step: Step,
        inputs: dict[str, Any],
        context_params: dict[str, Any],
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        run_id: str | None = None,
        project_name: str = "default",
    ) -> ExecutionResult:
        start = time.perf_counter()
        result = self._execute(step, inputs, context_params, cache_store, artifact_store, run_id, project_name)
        result.duration_seconds = time.perf_counter() - start
        if self.observer is not None:
            self.observer.step_finished(result)
        return result

    def _execute(
        self,
        step: Step,
        inputs: dict[str, Any],
        context_params: dict[str, Any],
        cache_store: Any | None,
        artifact_store: Any | None,
        run_id: str | None,
        project_name: str,
    ) -> ExecutionResult:
        name = step.name
        for input_name, value in inputs.items():
            if type(value) is SkippedOutput:
                return ExecutionResult(
                    name,
                    success=True,
                    skipped=True,
                    error=f"Skipped: input {input_name!r} comes from skipped step {value.step_name!r}",
                )

        if step.condition is not None:
            try:
                should_run = step.condition(**select_kwargs(step.condition, {**inputs, **context_params}))
            except Exception as exc:
                return ExecutionResult(name, success=False, error=f"Condition check failed: {exc}")
            if not should_run:
                return ExecutionResult(name, success=True, skipped=True, error=SKIPPED_BY_CONDITION)

        cache_key = None
        if cache_store is not None and step.cache is not False:
            try:
                cache_key = step.get_cache_key(inputs, context_params)
            except Exception as exc:
                return ExecutionResult(name, success=False, error=f"Cache key failed: {exc}")
            if cache_key is not None:
                cached = cache_store.get(cache_key)
                if cached is not None:
                    return ExecutionResult(name, success=True, output=cached, cached=True, cache_key=cache_key)

        observer = self.observer
        if observer is not None and observer.should_stop():
            return ExecutionResult(name, success=False, error=STOPPED_BY_USER)
        kwargs = {**inputs, **accepted_kwargs(step.func, context_params)}
        capture = LogCapture(name, observer) if run_id and observer is not None else None
        if capture is not None:
            capture.start()
        try:
            return self._attempts(step, kwargs, capture, cache_store, cache_key, artifact_store, run_id, project_name)
        finally:
            if capture is not None:
                capture.stop()

    def _attempts(
        self,
        step: Step,
        kwargs: dict[str, Any],
        capture: LogCapture | None,
        cache_store: Any | None,
        cache_key: str | None,
        artifact_store: Any | None,
        run_id: str | None,
        project_name: str,
    ) -> ExecutionResult:
        name = step.name
        observer = self.observer
        error = ""
        retries = 0
        # Every attempt's metrics are kept: a failed attempt's loss curve is worth seeing too.
        metrics = MetricSink(name, observer)
        for attempt in range(step.retry + 1):
            if observer is not None:
                observer.step_started(name, attempt + 1)
            try:
                start_metrics(metrics)
                try:
                    output = self._call(step, kwargs)
                finally:
                    stop_metrics(metrics)
                artifact_uri = None
                if artifact_store is not None and run_id and output is not None:
                    artifact_uri = materialize_outputs(step, output, artifact_store, run_id, project_name)
            except (StopExecution, ForcedStop):
                if capture is not None:
                    capture.emit_block(STOPPED_BY_USER, level="WARNING")
                return ExecutionResult(
                    name, success=False, error=STOPPED_BY_USER, retries=retries, metrics=metrics.metrics
                )
            except StepTimeout:
                error = f"Step {name!r} timed out after {step.timeout:g} s"
                if capture is not None:
                    capture.emit_block(error)
            except Exception as exc:
                trace = _user_traceback(exc)
                error = f"{type(exc).__name__}: {exc}\n{trace}"
                if capture is not None:
                    capture.emit_block(trace)
            else:
                if cache_key is not None and output is not None:
                    self._store_in_cache(cache_store, cache_key, output, step)
                return ExecutionResult(
                    name, success=True, output=output, retries=retries, artifact_uri=artifact_uri, cache_key=cache_key,
                    metrics=metrics.metrics,
                )  # fmt: skip
            retries += 1
            if attempt < step.retry and self._stopped_during_backoff(step.retry_delay * 2**attempt):
                return ExecutionResult(
                    name, success=False, error=STOPPED_BY_USER, retries=retries, metrics=metrics.metrics
                )
        return ExecutionResult(
            name, success=False, error=error, retries=retries, cache_key=cache_key, metrics=metrics.metrics
        )

    def _call(self, step: Step, kwargs: dict[str, Any]) -> Any:
        if step.timeout is None and self.observer is None:
            return step.func(**kwargs)
        watch = supervisor.watch(step.timeout, self.observer)
        try:
            output = step.func(**kwargs)
        finally:
            while True:
                try:
                    supervisor.release(watch)
                    break
                except (StopExecution, ForcedStop, StepTimeout):
                    # Landed while the step was already ending: what fired is judged below.
                    continue
        if watch.fired is not None:
            # The step swallowed the interrupt and returned; the deadline or stop still stands.
            raise StopExecution() if watch.fired is ForcedStop else watch.fired()
        return output

    def _stopped_during_backoff(self, seconds: float) -> bool:
        """Sleep before a retry; True if a stop request arrived meanwhile."""
        observer = self.observer
        deadline = time.monotonic() + seconds
        while True:
            if observer is not None and observer.should_stop():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(remaining, 0.1) if observer is not None else remaining)

    def _store_in_cache(self, cache_store: Any, key: str, output: Any, step: Step) -> None:
        try:
            cache_store.set_value(key, output, step.name, step.get_code_hash())
        except Exception:
            # A cache that cannot be written costs a re-run later, not this step's result.
            logger.warning("could not cache the output of step %r", step.name, exc_info=True)

    def execute_step_group(
        self,
        step_group: StepGroup,
        inputs: dict[str, Any],
        context: Context | None = None,
        context_params: dict[str, Any] | None = None,
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        run_id: str | None = None,
        project_name: str = "default",
    ) -> list[ExecutionResult]:
        """Run the group's steps one after another in this process, sharing their outputs."""
        results: list[ExecutionResult] = []
        values = dict(inputs)
        steps = {s.name: s for s in step_group.steps}
        order = step_group.execution_order
        for index, step_name in enumerate(order):
            step = steps[step_name]
            params = step_params(step, context) if context is not None else (context_params or {})
            result = self.execute_step(
                step,
                map_inputs(step, values),
                params,
                cache_store=cache_store,
                artifact_store=artifact_store,
                run_id=run_id,
                project_name=project_name,
            )
            results.append(result)
            if not result.success:
                for remaining in order[index + 1 :]:
                    skipped = ExecutionResult(remaining, success=True, skipped=True, error=SKIPPED_IN_GROUP)
                    if self.observer is not None:
                        self.observer.step_finished(skipped)
                    results.append(skipped)
                break
            values.update(skipped_outputs(step) if result.skipped else publish_outputs(step, result.output))
        return results


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the step's own code down, without the executor's frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))

"""How step outputs become the next steps' inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .signature import parameters

if TYPE_CHECKING:
    from .step import Step


class SkippedOutput:
    """Stands in for an output its step never produced because it was skipped.

    A step that receives one is skipped in turn, rather than called with a missing value.
    """

    __slots__ = ("step_name",)

    def __init__(self, step_name: str) -> None:
        self.step_name = step_name

    def __repr__(self) -> str:
        return f"SkippedOutput({self.step_name!r})"


def publish_outputs(step: Step, output: Any) -> dict[str, Any]:
    """The values a finished step makes available, keyed by its output names."""
    names = step.outputs
    if len(names) == 1:
        return {names[0]: output}
    if isinstance(output, (list, tuple)) and len(output) == len(names):
        return dict(zip(names, output))
    if isinstance(output, dict):
        return {name: output[name] for name in names if name in output}
    return {names[0]: output}


def skipped_outputs(step: Step) -> dict[str, Any]:
    marker = SkippedOutput(step.name)
    return {name: marker for name in step.outputs}


def input_parameters(step: Step) -> set[str]:
    """Names of the parameters that `map_inputs` fills from declared inputs."""
    return set(map_inputs(step, dict.fromkeys(step.inputs)))


def map_inputs(step: Step, available: dict[str, Any]) -> dict[str, Any]:
    """Arguments for `step` from the available values.

    A declared input goes to the parameter of the same name, else to the parameter at
    its position; then any other parameter named like an available value receives it.
    """
    params = [p for p in parameters(step.func) if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = {p.name for p in params}
    arguments: dict[str, Any] = {}
    for position, input_name in enumerate(step.inputs):
        if input_name not in available:
            continue
        if input_name in names:
            arguments[input_name] = available[input_name]
        elif position < len(params) and params[position].name not in arguments:
            arguments[params[position].name] = available[input_name]
    for param in params:
        if param.name in available and param.name not in arguments:
            arguments[param.name] = available[param.name]
    return arguments

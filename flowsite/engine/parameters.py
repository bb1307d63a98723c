"""The run parameters a pipeline takes, read from its steps' signatures and defaults."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .outputs import input_parameters
from .signature import parameters

if TYPE_CHECKING:
    from .step import Step

_JSON_TYPES = {
    "int": "integer",
    "float": "number",
    "str": "string",
    "bool": "boolean",
    "list": "array",
    "tuple": "array",
    "dict": "object",
}


@dataclass
class ParameterSpec:
    """One parameter: its JSON type ("" when anything goes), default, and the steps that read it.

    A default that JSON cannot hold is kept only as `default_repr`; the function's own
    default then applies when a run does not set the parameter.
    """

    name: str
    type: str
    required: bool
    default: Any = None
    default_repr: str = ""
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "default_repr": self.default_repr,
            "steps": list(self.steps),
        }


def _json_type(param: inspect.Parameter) -> str:
    annotation = param.annotation
    if annotation is inspect.Parameter.empty:
        if param.default is inspect.Parameter.empty or param.default is None:
            return ""
        annotation = type(param.default)
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    base = text.split("[", 1)[0].strip()
    return _JSON_TYPES.get(base, "")


def _set_default(spec: ParameterSpec, value: Any) -> None:
    spec.required = False
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        spec.default, spec.default_repr = None, repr(value)
    else:
        spec.default, spec.default_repr = value, ""


def step_parameters(steps: list[Step]) -> list[ParameterSpec]:
    """Parameters in first-use order. A parameter is required only if no step gives it a default."""
    specs: dict[str, ParameterSpec] = {}
    for step in steps:
        fed = input_parameters(step)
        callables = [step.func] + ([step.condition] if step.condition is not None else [])
        for func in callables:
            for param in parameters(func):
                if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) or param.name in fed:
                    continue
                if func is step.condition and param.name in step.inputs:
                    continue
                has_default = param.default is not inspect.Parameter.empty
                spec = specs.get(param.name)
                if spec is None:
                    spec = specs[param.name] = ParameterSpec(name=param.name, type=_json_type(param), required=True)
                    if has_default:
                        _set_default(spec, param.default)
                else:
                    if spec.type != _json_type(param):
                        spec.type = ""
                    if has_default and spec.required:
                        _set_default(spec, param.default)
                if step.name not in spec.steps:
                    spec.steps.append(step.name)
    return list(specs.values())

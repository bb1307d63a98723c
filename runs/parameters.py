"""Checking run parameters against a pipeline's parameter specs."""

from __future__ import annotations

from typing import Any

_CHECKS = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def resolve_params(specs: list[dict[str, Any]], given: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The full parameters of a run (given values over defaults), and errors keyed by parameter name."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        return {}, {"params": "must be a JSON object of parameter names to values"}
    by_name = {spec["name"]: spec for spec in specs}
    errors: dict[str, str] = {}
    for name in given:
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            errors[name] = f"this pipeline takes no parameter {name!r} (parameters: {known})"
    resolved: dict[str, Any] = {}
    for name, spec in by_name.items():
        if name in given:
            value = given[name]
            check = _CHECKS.get(spec["type"])
            if check is not None and not check(value):
                errors[name] = f"must be of type {spec['type']}, not {type(value).__name__} {value!r:.60}"
            resolved[name] = value
        elif spec["required"]:
            errors[name] = "this parameter is required"
        elif not spec.get("default_repr"):
            resolved[name] = spec["default"]
    return resolved, errors

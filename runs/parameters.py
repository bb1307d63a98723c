"""Checking run parameters against a pipeline's parameter specs, and against what can be stored."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from flowsite import strict_json

_CHECKS = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def resolve_params(specs: list[dict[str, Any]], given: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The full parameters of a run (given values over defaults), and errors keyed by parameter name.

    `params` names what concerns them all: not an object, or more JSON than FLOWSITE_MAX_PARAMS_BYTES.
    """
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
            problem = strict_json.unstorable(value)
            if problem:
                errors[name] = f"holds {problem}, which cannot be stored"
            elif check is not None and not check(value):
                errors[name] = f"must be of type {spec['type']}, not {type(value).__name__} {value!r:.60}"
            resolved[name] = value
        elif spec["required"]:
            errors[name] = "this parameter is required"
        elif not spec.get("default_repr"):
            resolved[name] = spec["default"]
    size = params_size(resolved)
    limit = settings.FLOWSITE_MAX_PARAMS_BYTES
    if size > limit:
        errors["params"] = (
            f"take {size} bytes of JSON with their defaults; at most {limit} are allowed (FLOWSITE_MAX_PARAMS_BYTES)"
        )
    return resolved, errors


def params_size(params: dict[str, Any]) -> int:
    """The bytes `params` take as compact JSON, about what the database stores and every run list sends."""
    text = json.dumps(params, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))

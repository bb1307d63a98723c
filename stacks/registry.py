"""The kinds of stack Flowsite can run on: each a config schema and a lazily imported orchestrator.

Validating a config imports only pydantic; the orchestrator (and any cloud SDK it needs) is
imported when a run actually goes to the stack.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from .kinds.local import LocalConfig
from .kinds.vertex.config import VertexConfig


@dataclass(frozen=True)
class StackKind:
    name: str
    label: str
    config: type[BaseModel]
    orchestrator: str
    # Remote runs are watched by the reconciler, not by a local worker's heartbeat.
    remote: bool = False

    def load_orchestrator(self) -> type[Any]:
        module, _, attribute = self.orchestrator.rpartition(".")
        return getattr(importlib.import_module(module), attribute)


KINDS: dict[str, StackKind] = {
    "local": StackKind("local", "Local worker", LocalConfig, "stacks.kinds.local.LocalOrchestrator"),
    "vertex": StackKind(
        "vertex", "Google Vertex AI", VertexConfig, "stacks.kinds.vertex.orchestrator.VertexAIOrchestrator", remote=True
    ),
}


def kind_choices() -> list[tuple[str, str]]:
    return [(kind.name, kind.label) for kind in KINDS.values()]


class ConfigError(ValueError):
    """A stack config that its kind's schema refuses; `errors` maps each field to its reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors.items()))
        self.errors = errors


def parse_config(kind: str, config: Any) -> BaseModel:
    """The kind's config model for `config`, or ConfigError naming each bad field."""
    if kind not in KINDS:
        raise ConfigError({"kind": f"unknown stack kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}"})
    if not isinstance(config, dict):
        raise ConfigError({"config": "must be a JSON object"})
    try:
        return KINDS[kind].config.model_validate(config)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "config"
            if error["type"] == "extra_forbidden":
                message = "unknown setting for this kind of stack"
            elif error["type"] == "value_error":
                message = str(error["ctx"]["error"])  # the validator's own words, without "Value error, "
            else:
                message = error["msg"]
            errors.setdefault(field, message)
        raise ConfigError(errors) from None


def remote_kinds() -> list[str]:
    return [kind.name for kind in KINDS.values() if kind.remote]

"""The pipelines this deployment runs: imported from FLOWSITE_PIPELINES and recorded as PipelineDefs."""

from __future__ import annotations

import importlib
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from flowsite.engine import Pipeline

from .models import PipelineDef

_lock = threading.Lock()
_loaded: dict[str, tuple[Pipeline, str]] | None = None


def pipelines() -> dict[str, tuple[Pipeline, str]]:
    """Every Pipeline defined at the top level of the configured modules, by name, with its module."""
    global _loaded
    with _lock:
        if _loaded is None:
            found: dict[str, tuple[Pipeline, str]] = {}
            for module_name in settings.FLOWSITE_PIPELINES:
                try:
                    module = importlib.import_module(module_name)
                except ImportError as exc:
                    raise ImproperlyConfigured(f"FLOWSITE_PIPELINES names {module_name!r}, which cannot be imported: {exc}")
                for value in vars(module).values():
                    if not isinstance(value, Pipeline):
                        continue
                    if value.name in found and found[value.name][0] is not value:
                        raise ImproperlyConfigured(
                            f"two pipelines are named {value.name!r}: in {found[value.name][1]} and in {module_name}"
                        )
                    found[value.name] = (value, module_name)
            _loaded = found
        return _loaded


def get_pipeline(name: str) -> Pipeline | None:
    entry = pipelines().get(name)
    return entry[0] if entry else None


def record(pipeline: Pipeline, module: str) -> PipelineDef:
    """The definition row for this pipeline's current code, created on first sight."""
    definition, _ = PipelineDef.objects.get_or_create(
        name=pipeline.name,
        code_version=pipeline.code_version(),
        defaults={
            "module": module,
            "description": pipeline.description,
            "dag": pipeline.graph(),
            "parameters": [spec.to_dict() for spec in pipeline.parameters()],
        },
    )
    return definition


def sync_pipelines() -> list[PipelineDef]:
    return [record(pipeline, module) for pipeline, module in pipelines().values()]

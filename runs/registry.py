"""The pipelines this deployment runs: imported from FLOWSITE_PIPELINES and recorded as PipelineDefs.

A PipelineDef is what a run is triggered for; WorkerCode rows say which hosts have which version
on disk, so a trigger for code no worker has is refused, and a run's process imports the code fresh
and runs it only if it is the version the run was triggered for.
"""

from __future__ import annotations

import importlib
import linecache
import os
import sys
import threading
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from flowsite.engine import Pipeline

from .models import PipelineDef, WorkerCode

# Never re-imported for a run: Flowsite's own packages, which a pipeline module's package must not shadow.
_OWN_PACKAGES = frozenset({"flowsite", "runs", "stacks", "accounts", "dashboard", "django", "django_q"})

_lock = threading.Lock()
_loaded: dict[str, tuple[Pipeline, str]] | None = None
# The pipeline packages' source files as they were when _loaded was imported: (mtime, size) by path.
_files: dict[str, tuple[int, int]] = {}


def pipelines() -> dict[str, tuple[Pipeline, str]]:
    """Every Pipeline defined at the top level of the configured modules, by name, with its module."""
    global _loaded, _files
    with _lock:
        if _loaded is None:
            found: dict[str, tuple[Pipeline, str]] = {}
            for module_name in settings.FLOWSITE_PIPELINES:
                try:
                    module = importlib.import_module(module_name)
                except ImportError as exc:
                    raise ImproperlyConfigured(
                        f"FLOWSITE_PIPELINES names {module_name!r}, which cannot be imported: {exc}"
                    ) from exc
                for value in vars(module).values():
                    if not isinstance(value, Pipeline):
                        continue
                    if value.name in found and found[value.name][0] is not value:
                        raise ImproperlyConfigured(
                            f"two pipelines are named {value.name!r}: in {found[value.name][1]} and in {module_name}"
                        )
                    found[value.name] = (value, module_name)
            _loaded, _files = found, _source_files()
        return _loaded


def get_pipeline(name: str) -> Pipeline | None:
    entry = pipelines().get(name)
    return entry[0] if entry else None


def as_on_disk() -> tuple[dict[str, tuple[Pipeline, str]], bool]:
    """The pipelines as their files are now, for a run's own (forked) process; True if imported afresh.

    The worker imported them when it started; code changed since then must take effect without a
    restart, and only the run's process, which ends with the run, may pay for a fresh import. When no
    source file of the pipelines' packages changed, what the worker imported is what is on disk.
    """
    with _lock:
        loaded, files = _loaded, _files
    if loaded is not None and files == _source_files():
        return loaded, False
    return reload_from_disk(), True


def _packages() -> set[str]:
    return {name.split(".")[0] for name in settings.FLOWSITE_PIPELINES} - _OWN_PACKAGES


def _source_files() -> dict[str, tuple[int, int]]:
    files = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) if name.split(".")[0] in _packages() else None
        if path:
            try:
                stat = os.stat(path)
                files[path] = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                files[path] = (-1, -1)
    return files


def reload_from_disk() -> dict[str, tuple[Pipeline, str]]:
    """Import the pipeline modules again, as they are on disk now (see `as_on_disk`)."""
    global _loaded
    packages = _packages()
    for loaded in [name for name in sys.modules if name.split(".")[0] in packages]:
        del sys.modules[loaded]
    importlib.invalidate_caches()
    # Code versions hash the steps' source, which inspect reads through linecache.
    linecache.checkcache()
    with _lock:
        _loaded = None
    return pipelines()


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
    """Record this host's pipelines: their definitions, and that this host can run these versions."""
    found = pipelines()
    # Together, so that a new version is never visible before a worker that has it is: a trigger in
    # between would be refused for want of a worker.
    with transaction.atomic():
        definitions = [record(pipeline, module) for pipeline, module in found.values()]
        note_worker_code(found)
    return definitions


def unavailable(name: str, code_version: str) -> str | None:
    """Why no worker can run this version of the pipeline, or None if one can."""
    return why_unavailable(name, code_version, worker_versions([name]).get(name, set()))


def worker_versions(names: Iterable[str]) -> dict[str, set[str]]:
    """The code versions workers have of each named pipeline, in one query."""
    versions: dict[str, set[str]] = {}
    for pipeline, version in WorkerCode.objects.filter(pipeline__in=list(names)).values_list(
        "pipeline", "code_version"
    ):
        versions.setdefault(pipeline, set()).add(version)
    return versions


def why_unavailable(name: str, code_version: str, versions: set[str]) -> str | None:
    if code_version in versions:
        return None
    if not versions:
        return f"no worker has pipeline {name!r}: add its module to FLOWSITE_PIPELINES on the workers"
    return (
        f"no worker has version {code_version} of pipeline {name!r} (workers have {', '.join(sorted(versions))}): "
        "ship the code to the workers and run sync_pipelines there"
    )


def note_worker_code(found: dict[str, tuple[Pipeline, str]]) -> None:
    """Say which version of each pipeline this host has on disk now."""
    host, now = settings.FLOWSITE_WORKER_NAME, timezone.now()
    WorkerCode.objects.bulk_create(
        [
            WorkerCode(host=host, pipeline=name, code_version=p.code_version(), seen_at=now)
            for name, (p, _) in found.items()
        ],
        update_conflicts=True,
        unique_fields=["host", "pipeline"],
        update_fields=["code_version", "seen_at"],
    )

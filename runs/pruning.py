"""Retention: what finished runs leave behind (log lines, events, artifacts and their files) is deleted
after a while, in small batches so that no statement holds a lock for long.

A pruned run keeps its row, its steps and its outcome, so history and counts stay true; `pruned_at`
says its details are gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from stacks.models import Stack

from .models import FINAL_RUN_STATES, Artifact, LogLine, Run, RunEvent, RunStatus
from .recording import path_of
from .remote_artifacts import StackArtifacts, is_remote

logger = logging.getLogger(__name__)

BATCH = 10_000
RUNS_PER_ROUND = 200


@dataclass
class Pruned:
    runs: int = 0
    log_lines: int = 0
    events: int = 0
    artifacts: int = 0
    files: int = 0
    file_errors: int = 0


def prune(older_than: timedelta, keep_failed: bool = False) -> Pruned:
    """Delete the details of runs that finished more than `older_than` ago; returns what went."""
    cutoff = timezone.now() - older_than
    done = Pruned()
    candidates = Run.objects.filter(status__in=FINAL_RUN_STATES, pruned_at__isnull=True).filter(
        Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff)
    )
    if keep_failed:
        candidates = candidates.exclude(status__in=[RunStatus.FAILED, RunStatus.DEAD])
    while True:
        run_ids = list(candidates.order_by("pk").values_list("pk", flat=True)[:RUNS_PER_ROUND])
        if not run_ids:
            return done
        done.log_lines += _delete_in_batches(LogLine, run_ids)
        done.events += _delete_in_batches(RunEvent, run_ids, step__isnull=False)
        _delete_artifacts(run_ids, done)
        done.runs += Run.objects.filter(pk__in=run_ids).update(pruned_at=timezone.now())


def _delete_in_batches(model: Any, run_ids: list[int], **conditions: Any) -> int:
    deleted = 0
    for run_id in run_ids:
        # One run at a time and unordered, so each batch is a range of the (run, ...) index, not a sort.
        rows = model.objects.filter(run_id=run_id, **conditions).order_by()
        while ids := list(rows.values_list("pk", flat=True)[:BATCH]):
            deleted += model.objects.filter(pk__in=ids).delete()[0]
    return deleted


def _delete_artifacts(run_ids: list[int], done: Pruned) -> None:
    stacks = {stack.pk: stack for stack in Stack.objects.filter(runs__in=run_ids).distinct()}
    remote = StackArtifacts()
    rows = Artifact.objects.filter(run_id__in=run_ids).values_list("pk", "uri", "run__stack_id")
    for artifact_id, uri, stack_id in rows.iterator():
        try:
            stack = stacks.get(stack_id)
            if stack is not None and is_remote(uri, stack):
                # A remote job's output: deleted with its stack's own credentials and endpoint.
                remote.delete(uri, stack)
            elif uri.startswith("file://"):
                path_of(uri).unlink(missing_ok=True)
        except Exception:
            # The row goes all the same: a file nobody can name any more is the lesser harm.
            done.file_errors += 1
            logger.warning("could not delete the file of artifact %s (%s)", artifact_id, uri, exc_info=True)
        else:
            done.files += not uri.startswith("inline:")
        done.artifacts += Artifact.objects.filter(pk=artifact_id).delete()[1].get("runs.Artifact", 0)

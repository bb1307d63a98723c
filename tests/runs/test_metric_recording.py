"""How a run's metrics reach the database: numbered by the run's one writer, recognisable after a lost answer."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from runs.models import Metric, Run
from runs.recording import BatchWriter

pytestmark = pytest.mark.django_db(transaction=True)


def metric(name: str, value: float, index: int | None = None) -> tuple:
    return ("metric", "hello", name, value, index, timezone.now())


def test_a_metrics_batch_whose_answer_was_lost_is_found_durable_and_numbering_carries_on(ready):
    run = Run.objects.trigger(project=ready, pipeline="greeting")
    writer = BatchWriter.resume(run.pk, ["hush-hush-value"])
    batch = writer.prepare([metric("loss", 0.5, 0), metric("loss", 0.25, 1), metric("hush-hush-value", 1.0)])
    with transaction.atomic():
        writer.write_batch(batch)
    # The commit went through but its answer was lost: the writer asks before writing it again.
    assert writer.committed(batch)
    writer.advance(batch)

    resumed = BatchWriter.resume(run.pk, [])
    resumed.write([metric("accuracy", 0.9), ("metric", "no-such-step", "x", 1.0, None, timezone.now())])
    rows = list(Metric.objects.filter(run=run).values_list("seq", "step__name", "name", "value", "step_index"))
    assert rows == [
        (1, "hello", "loss", 0.5, 0),
        (2, "hello", "loss", 0.25, 1),
        (3, "hello", "****", 1.0, None),
        (4, "hello", "accuracy", 0.9, None),
    ]


def test_a_metrics_batch_that_never_committed_is_not_found(ready):
    run = Run.objects.trigger(project=ready, pipeline="greeting")
    writer = BatchWriter.resume(run.pk, [])
    batch = writer.prepare([metric("loss", 0.5)])
    assert not writer.committed(batch)

"""Conditional requests on the runs list: an ETag that changes when the page would, computed without building it.

A client polling the list (the portal does, every second or two) sends back the ETag it got in If-None-Match and
gets a bodiless 304 while nothing on its page changed. The tag covers what a listed run can change through: which
runs the page holds and in what order (new runs, filters, memberships), their status and heartbeat (a running
run's beats, so its duration and steps stay live), and the newest event among them (every run and step
transition writes one). It costs one narrow query on the listing's own index and one aggregate over the page's
events, instead of the joins, step counts and serialisation of the page itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db.models import Max
from django.utils.http import parse_etags
from rest_framework.request import Request

from ..models import RunEvent

TAG_FIELDS = ("id", "created_at", "status", "heartbeat_at")


def list_tag(view: Any, request: Request) -> str:
    """The weak ETag of the page of runs that `view.list` would answer to this request."""
    queryset = view.filter_queryset(view.get_queryset()).select_related(None).prefetch_related(None)
    # The paginator reads the cursor and page size as the listing does, and raises the same 400s.
    page = view.paginator.paginate_queryset(queryset.only(*TAG_FIELDS), request, view=view)
    rows = [(run.pk, run.status, run.heartbeat_at) for run in page]
    last_event = RunEvent.objects.filter(run_id__in=[pk for pk, _, _ in rows]).aggregate(last=Max("id"))["last"]
    links = (view.paginator.get_next_link() is not None, view.paginator.get_previous_link() is not None)
    state = repr((request.user.pk, request.get_full_path(), rows, last_event, links))
    return f'W/"{hashlib.sha256(state.encode()).hexdigest()[:32]}"'


def unchanged(request: Request, tag: str) -> bool:
    """Whether the client's If-None-Match names `tag` (compared weakly, as RFC 9110 says GET does)."""
    given = parse_etags(request.headers.get("If-None-Match", ""))
    return "*" in given or tag in given or tag.removeprefix("W/") in given

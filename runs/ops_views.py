"""Endpoints for load balancers and Prometheus, outside the API: no session, no API token."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .health import readiness
from .metrics import FlowsiteCollector

# The apps above `runs` (the scheduler of `schedules`) register their collectors here when Django starts.
registry = CollectorRegistry(auto_describe=False)
registry.register(FlowsiteCollector())


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers; nothing else is checked, so a slow database does not get it restarted."""
    return JsonResponse({"status": "alive"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a scraper holding FLOWSITE_METRICS_TOKEN; off (404) without one."""
    expected = settings.FLOWSITE_METRICS_TOKEN
    if not expected:
        return HttpResponse("metrics are off: set FLOWSITE_METRICS_TOKEN\n", status=404, content_type="text/plain")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return HttpResponse(
            "a Bearer token (FLOWSITE_METRICS_TOKEN) is needed\n", status=401, content_type="text/plain"
        )
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

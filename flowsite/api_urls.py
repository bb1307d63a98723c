"""Every endpoint under /api/."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.routers import DefaultRouter

from accounts.api import ApiTokenViewSet, MeView
from flowsite.api_docs import DocsView, SchemaView
from notifications.api import DeliveryViewSet, RuleViewSet
from runs.api.remote import RemoteReportView, RemoteRunView, RemoteSecretsView
from runs.api.views import (
    ArtifactViewSet,
    MemberViewSet,
    PipelineRunViewSet,
    PipelineViewSet,
    ProjectViewSet,
    RunViewSet,
)  # fmt: skip
from schedules.api import ScheduleViewSet
from stacks.api import StackViewSet


class ApiRouter(DefaultRouter):
    # One URL per resource: DRF's format suffixes (runs.json) add URLs the API never documents, and the
    # suffixed forms of extra actions (runs/1/steps.json) crashed with a 500.
    include_format_suffixes = False


router = ApiRouter()
router.register("projects", ProjectViewSet, basename="project")
router.register(r"projects/(?P<project_slug>[-a-zA-Z0-9_]+)/members", MemberViewSet, basename="member")
router.register(
    r"projects/(?P<project_slug>[-a-zA-Z0-9_]+)/notification-rules", RuleViewSet, basename="notification-rule"
)
router.register(r"projects/(?P<project_slug>[-a-zA-Z0-9_]+)/deliveries", DeliveryViewSet, basename="delivery")
router.register("stacks", StackViewSet, basename="stack")
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register(r"pipelines/(?P<pipeline_name>[^/]+)/runs", PipelineRunViewSet, basename="pipeline-run")
router.register("runs", RunViewSet, basename="run")
router.register("artifacts", ArtifactViewSet, basename="artifact")
router.register("schedules", ScheduleViewSet, basename="schedule")
router.register("tokens", ApiTokenViewSet, basename="token")


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Paths under /api/ that name nothing get the API's error body, not an HTML page."""
    error = {"status": 404, "code": "not_found", "message": f"no API endpoint at {request.path}", "fields": {}}
    return JsonResponse({"error": error}, status=404)


urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="schema"), name="docs"),
    path("me/", MeView.as_view(), name="me"),
    path("remote/runs/<int:pk>/", RemoteRunView.as_view(), name="remote-run"),
    path("remote/runs/<int:pk>/report/", RemoteReportView.as_view(), name="remote-report"),
    path("remote/runs/<int:pk>/secrets/", RemoteSecretsView.as_view(), name="remote-secrets"),
    path("", include(router.urls)),
    # Any character, newlines too: a path with an encoded newline would otherwise miss this and get an HTML 404.
    re_path(r"^[\s\S]*$", api_not_found),
]

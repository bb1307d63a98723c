from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from ..models import Run, RunQuerySet, RunStatus

SEARCH_CHARS = 200


class RunFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug", help_text="Project slug.")
    pipeline = django_filters.CharFilter(field_name="pipeline__name", help_text="Pipeline name.")
    # Not DISTINCT (django-filter's default for it), which no filter on a run's own column needs: PostgreSQL
    # then counted the steps of every matching run and sorted them all to return one page.
    status = django_filters.MultipleChoiceFilter(
        choices=RunStatus.choices, distinct=False, method="filter_status", help_text="Repeat for several."
    )
    stack = django_filters.CharFilter(field_name="stack__name", help_text="Stack name.")
    triggered_by = django_filters.CharFilter(field_name="triggered_by__username", help_text="Username.")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=SEARCH_CHARS,
        help_text="Runs whose id is this number (42 or #42), or whose pipeline's name or parameters (as JSON) "
        "contain this text, ignoring case.",
    )

    class Meta:
        model = Run
        fields = [
            "project", "pipeline", "status", "stack", "triggered_by", "created_after", "created_before", "search",
        ]  # fmt: skip

    def filter_status(self, queryset: QuerySet[Run], name: str, value: list[str]) -> QuerySet[Run]:
        # One IN, not django-filter's OR of equalities: a single condition the planner estimates as one.
        return queryset.filter(status__in=value) if value else queryset

    def filter_search(self, queryset: RunQuerySet, name: str, value: str) -> RunQuerySet:
        return queryset.search(value)

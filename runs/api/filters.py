from __future__ import annotations

import django_filters

from ..models import Run, RunStatus


class RunFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug", help_text="Project slug.")
    pipeline = django_filters.CharFilter(field_name="pipeline__name", help_text="Pipeline name.")
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices, help_text="Repeat for several.")
    stack = django_filters.CharFilter(field_name="stack__name", help_text="Stack name.")
    triggered_by = django_filters.CharFilter(field_name="triggered_by__username", help_text="Username.")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["project", "pipeline", "status", "stack", "triggered_by", "created_after", "created_before"]

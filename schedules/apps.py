from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    name = "schedules"
    verbose_name = "Schedules"

    def ready(self) -> None:
        from runs.health import add_check
        from runs.ops_views import registry

        from .health import SchedulerCollector, readiness_check

        add_check("scheduler", readiness_check)
        registry.register(SchedulerCollector())

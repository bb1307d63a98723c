from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from .execution import record_pipelines_at_worker_start

        post_spawn.connect(record_pipelines_at_worker_start, dispatch_uid="flowsite-record-pipelines")

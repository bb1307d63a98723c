from django.apps import AppConfig


class UnitJobsConfig(AppConfig):
    name = "unitjobs"
    verbose_name = "Remote unit jobs"

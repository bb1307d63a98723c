from django.apps import AppConfig


class StacksConfig(AppConfig):
    name = "stacks"
    verbose_name = "Stacks"

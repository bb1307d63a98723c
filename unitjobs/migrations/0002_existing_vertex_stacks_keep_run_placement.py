"""Vertex stacks made before placement existed keep what they did: one job per run.

A new stack without the setting gets the config's default, `unit`; an existing one is given `run`
explicitly here, so upgrading never changes where a team's runs go or what they cost.
"""

from django.db import migrations


def keep_run_placement(apps, schema_editor):
    Stack = apps.get_model("stacks", "Stack")
    for stack in Stack.objects.filter(kind="vertex"):
        config = dict(stack.config or {})
        if "placement" not in config:
            Stack.objects.filter(pk=stack.pk).update(config={**config, "placement": "run"})


def forget_run_placement(apps, schema_editor):
    # The code before this migration knows no placement and refuses a config that names one; "run" is
    # what it did anyway. A stack placed per unit cannot be expressed there and is left to say so.
    Stack = apps.get_model("stacks", "Stack")
    for stack in Stack.objects.filter(kind="vertex"):
        config = dict(stack.config or {})
        if config.get("placement") == "run":
            del config["placement"]
            Stack.objects.filter(pk=stack.pk).update(config=config)


class Migration(migrations.Migration):
    dependencies = [
        ("unitjobs", "0001_unit_jobs"),
        ("stacks", "0004_stack_grants"),
    ]

    operations = [migrations.RunPython(keep_run_placement, forget_run_placement)]

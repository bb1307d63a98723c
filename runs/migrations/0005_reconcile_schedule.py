from django.db import migrations


def create_schedule(apps, schema_editor):
    # A safety net: the loop is started by every submission and cancel; this restarts it if it died.
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name="flowsite-reconcile-remote-runs",
        defaults={"func": "runs.tasks.reconcile_remote_runs", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="flowsite-reconcile-remote-runs").delete()


class Migration(migrations.Migration):
    dependencies = [("runs", "0004_remote_runs")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]

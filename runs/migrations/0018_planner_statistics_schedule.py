from django.db import migrations


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name="flowsite-planner-statistics",
        defaults={"func": "runs.tasks.refresh_planner_statistics", "schedule_type": "H", "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="flowsite-planner-statistics").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0017_project_membership_to_accounts"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]

from django.db import migrations


def create_schedule(apps, schema_editor):
    # Finds runs running too long, and sends what is due when no run's end started a delivery loop
    # (a retry after the loop left, a task the broker lost).
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name="flowsite-notifications",
        defaults={"func": "notifications.tasks.check_notifications", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="flowsite-notifications").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_rules_and_deliveries"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]

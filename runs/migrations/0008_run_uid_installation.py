"""Runs get a uid that is never reused, and the control plane an installation id: together they
label remote jobs, so that a job is recognised as a run's own even after a database reset or beside
another control plane. Existing runs each get their own uid (a column default would give them one)."""

import uuid

import django.utils.timezone
from django.db import migrations, models


def give_each_run_a_uid(apps, schema_editor):
    Run = apps.get_model("runs", "Run")
    for pk in Run.objects.filter(uid__isnull=True).values_list("pk", flat=True).iterator():
        Run.objects.filter(pk=pk).update(uid=uuid.uuid4())


class Migration(migrations.Migration):

    dependencies = [
        ('runs', '0007_worker_code'),
    ]

    operations = [
        migrations.CreateModel(
            name='Installation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uid', models.UUIDField(default=uuid.uuid4, editable=False)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.AddField(
            model_name='run',
            name='uid',
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(give_each_run_a_uid, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='run',
            name='uid',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name='run',
            name='failure_reason',
            field=models.CharField(blank=True, choices=[('step_failed', 'Step Failed'), ('cancelled', 'Cancelled'), ('heartbeat_lost', 'Heartbeat Lost'), ('process_died', 'Process Died'), ('pipeline_missing', 'Pipeline Missing'), ('stack_error', 'Stack Error'), ('remote_job_failed', 'Remote Job Failed'), ('remote_job_gone', 'Remote Job Gone'), ('internal_error', 'Internal Error'), ('recording_lost', 'Recording Lost'), ('code_mismatch', 'Code Mismatch'), ('remote_steps_unfinished', 'Remote Steps Unfinished')], max_length=32),
        ),
    ]

"""Stacks are granted to projects. An upgrade keeps teams running: every stack that exists is granted
to every project that exists. Stacks made later start granted to nobody, and projects made later get
only the stacks staff grant them (or stacks open to every project).
"""

from django.db import migrations, models

BATCH = 1000


def grant_existing(apps, schema_editor):
    Stack = apps.get_model("stacks", "Stack")
    Project = apps.get_model("runs", "Project")
    Grant = Stack.projects.through
    projects = list(Project.objects.values_list("pk", flat=True))
    for stack in Stack.objects.values_list("pk", flat=True):
        Grant.objects.bulk_create(
            (Grant(stack_id=stack, project_id=project) for project in projects), batch_size=BATCH
        )


class Migration(migrations.Migration):

    dependencies = [
        ('runs', '0010_run_pruned_at'),
        ('stacks', '0003_encrypt_secrets'),
    ]

    operations = [
        migrations.AddField(
            model_name='stack',
            name='open_to_all_projects',
            field=models.BooleanField(default=False, help_text='Every project may run on this stack, including projects created later.'),
        ),
        migrations.AddField(
            model_name='stack',
            name='projects',
            field=models.ManyToManyField(blank=True, help_text='The projects that may run on this stack.', related_name='granted_stacks', to='runs.project', verbose_name='granted to'),
        ),
        migrations.RunPython(grant_existing, migrations.RunPython.noop),
    ]

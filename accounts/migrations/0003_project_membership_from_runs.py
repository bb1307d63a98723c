"""Projects and memberships move here from runs, in Django's state only: their tables keep their names
(runs_project, runs_membership), so no row moves and every foreign key to them stays valid. The content
types move too, so the admin permissions granted on them keep working.

The other apps' foreign keys are pointed here by their own state-only migrations, after which
runs 0016 forgets its old models.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = ("project", "membership")


def move_content_types(apps, schema_editor, source="runs", target="accounts"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        # A type already at the target (left by an earlier run of this migration) keeps its permissions.
        if not ContentType.objects.using(db).filter(app_label=target, model=model).exists():
            ContentType.objects.using(db).filter(app_label=source, model=model).update(app_label=target)


def move_content_types_back(apps, schema_editor):
    move_content_types(apps, schema_editor, source="accounts", target="runs")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_token_expiry"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("runs", "0015_run_remote_refusals"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Project",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("slug", models.SlugField(max_length=64, unique=True)),
                        ("name", models.CharField(max_length=200)),
                        ("description", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={"db_table": "runs_project", "ordering": ["slug"]},
                ),
                migrations.CreateModel(
                    name="Membership",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        (
                            "role",
                            models.CharField(
                                choices=[("owner", "Owner"), ("member", "Member"), ("viewer", "Viewer")],
                                default="member",
                                max_length=16,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="memberships",
                                to="accounts.project",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="memberships",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "runs_membership",
                        "constraints": [
                            models.UniqueConstraint(fields=("user", "project"), name="one_membership_per_user")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]

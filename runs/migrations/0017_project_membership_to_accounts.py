"""Runs point at accounts' Project and forget their own Project and Membership: state only, the tables
stay where they are (see accounts 0003). Comes after every app's foreign keys were pointed at accounts.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_project_membership_from_runs"),
        ("notifications", "0003_project_in_accounts"),
        ("runs", "0016_runner_reports"),
        ("schedules", "0002_project_in_accounts"),
        ("stacks", "0005_project_in_accounts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="run",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="runs", to="accounts.project"
                    ),
                ),
                migrations.DeleteModel(name="Membership"),
                migrations.DeleteModel(name="Project"),
            ],
            database_operations=[],
        ),
    ]

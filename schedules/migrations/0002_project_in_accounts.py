"""Projects moved to accounts (accounts 0003): the foreign key follows, in state only."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_project_membership_from_runs"),
        ("schedules", "0001_schedules_and_their_fires"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="schedule",
                    name="project",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="schedules", to="accounts.project"
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]

"""Projects moved to accounts (accounts 0003): the grants follow, in state only (same table)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_project_membership_from_runs"),
        ("stacks", "0004_stack_grants"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="stack",
                    name="projects",
                    field=models.ManyToManyField(
                        blank=True,
                        help_text="The projects that may run on this stack.",
                        related_name="granted_stacks",
                        to="accounts.project",
                        verbose_name="granted to",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]

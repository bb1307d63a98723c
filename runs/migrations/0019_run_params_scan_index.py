"""An index of the runs' parameters on SQLite, which the runs list's search reads instead of the runs table.

No index serves a search inside a text on SQLite (PostgreSQL has its trigram index, 0013), so the search reads
every run's parameters (RunQuerySet.search). Read from the table, that is every page of the runs, failure
messages and tracebacks included; read from this index, only the parameters: at 100,000 runs of which a fifth
ended with a 2 KB message, 70 to 110 ms from the table and 30 to 45 ms from the index (a loaded machine).
Not on PostgreSQL, whose b-tree entries are capped below the 64 KiB of parameters a run may have.
"""

from django.db import migrations

INDEX = "run_params_text"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON runs_run (params)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("runs", "0018_planner_statistics_schedule")]

    operations = [migrations.RunPython(create, drop)]

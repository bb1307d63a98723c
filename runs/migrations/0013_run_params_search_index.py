"""A trigram index for searching runs by parameter value on PostgreSQL (SQLite scans, fast enough at 100,000 runs).

The runs list's `search` matches `UPPER(params::text) LIKE UPPER('%term%')`, which no b-tree serves; without this
index a search that matches few runs read all of them (some 200 ms at 100,000 runs). pg_trgm is a trusted
extension (PostgreSQL 13+): the database's owner may create it.
"""

from django.db import migrations

INDEX = "run_params_search"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON runs_run USING gin ((UPPER(params::text)) gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("runs", "0012_run_use_cache")]

    operations = [migrations.RunPython(create, drop)]

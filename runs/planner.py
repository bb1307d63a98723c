"""Statistics for the database's query planner, without which SQLite plans the runs list badly.

SQLite keeps no statistics of its own: until ANALYZE has run it takes every index to be as selective as
any other, and listed runs of several statuses by reading all of them and sorting (700 ms at 100,000
runs) instead of walking the newest-first index until a page is full (under 1 ms). `PRAGMA optimize`
of SQLite 3.40 never analyzes a table that was never analyzed, so ANALYZE is run outright: of every
table on a sample of each index (`analysis_limit`: milliseconds whatever the size, the log lines
included), then of the runs table in full, since a sample of it misleads the planner about the
statuses (at 100,000 runs it still sorted queued, running and failed runs: 0.1 s of CPU for the runs).
PostgreSQL's autovacuum analyzes tables as they change, so nothing is done there.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections

from .models import Run

# Rows of each index SQLite reads to estimate it, but for the runs table.
ANALYSIS_LIMIT = 1000


def refresh_statistics(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Bring the planner's statistics up to date where the database does not itself; whether it did."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        cursor.execute("ANALYZE")
        cursor.execute("PRAGMA analysis_limit=0")
        cursor.execute(f"ANALYZE {connection.ops.quote_name(Run._meta.db_table)}")
    return True

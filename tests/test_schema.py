"""The schema the migrations build is the one `store/tables.py` describes: the
tables, columns, types, keys and indexes the store's statements rely on."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sessions_server.app import App
from sessions_server.store.tables import metadata
from sqlalchemy.engine import Connection


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_the_migrated_schema_is_the_one_tables_py_describes(server: App) -> None:
    async with server.engine.connect() as connection:
        differences = await connection.run_sync(_differences)

    # Alembic's own bookkeeping table is the migrations', not the service's.
    assert [d for d in differences if "alembic_version" not in repr(d)] == []

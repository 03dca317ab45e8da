"""The PostgreSQL engine (issue 20): the throwaway server, the schema derived from the SQLite
migrations, the dialect, the change feed and claims across pools."""

from __future__ import annotations

import psycopg

from .fixtures_postgres import PostgresServer


def test_the_throwaway_server_gives_each_test_its_own_empty_database(
    postgres_server: PostgresServer, empty_postgres_url: str
) -> None:
    other = postgres_server.create_database()
    try:
        with psycopg.connect(empty_postgres_url) as conn:
            conn.execute("CREATE TABLE only_here (x integer)")
            conn.commit()
        with psycopg.connect(other) as conn:
            row = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_here'"
            ).fetchone()
        assert row == (0,)
    finally:
        postgres_server.drop_database(other)

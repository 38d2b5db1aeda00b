"""The application's use of PostgreSQL: record a visit, read the latest ones back."""

from __future__ import annotations

import pg8000.native

from paracrine_demo_app.config import Config


def connect(config: Config) -> pg8000.native.Connection:
    return pg8000.native.Connection(
        config.db_user,
        host=config.db_host,
        port=config.db_port,
        database=config.db_name,
        password=config.db_password,
        timeout=10,
    )


def record_visit(conn: pg8000.native.Connection, path: str, agent: str) -> int:
    """Store one visit; returns its id."""
    rows = conn.run(
        "INSERT INTO visits (path, agent) VALUES (:path, :agent) RETURNING id", path=path[:200], agent=agent[:200]
    )
    return int(rows[0][0])


def recent(conn: pg8000.native.Connection, limit: int = 5) -> tuple[int, list[tuple[int, str, str]]]:
    """The number of visits and the latest ones: ``(count, [(id, at, path), ...])``."""
    count = int(conn.run("SELECT count(*) FROM visits")[0][0])
    rows = conn.run(
        "SELECT id, to_char(at, 'YYYY-MM-DD HH24:MI:SS'), path FROM visits ORDER BY id DESC LIMIT :n", n=limit
    )
    return count, [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def delete_older_than(conn: pg8000.native.Connection, days: int) -> int:
    rows = conn.run("DELETE FROM visits WHERE at < now() - make_interval(days => :d) RETURNING id", d=days)
    return len(rows)

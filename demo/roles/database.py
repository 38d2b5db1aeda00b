"""PostgreSQL: listening on this host's port, running, with the application's role, database and table."""

from __future__ import annotations

from paracrine import host
from paracrine.operations import files, postgresql, server
from roles.common import PG_CONF, PG_CTL, PG_DATA, PG_VERSION, ports

VISITS = """
CREATE TABLE visits (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), path text, agent text);
ALTER TABLE visits OWNER TO {owner};
"""


def database() -> None:
    port = ports().db
    conf = files.line(PG_CONF, f"port = {port}", match=r"^#?\s*port\s*=")
    cluster = f"{PG_VERSION} main"
    # No operation fits: Debian runs each cluster through the template unit postgresql@15-main,
    # which the lab's daemonless systemctl cannot start, so pg_ctlcluster starts it (on a real
    # server: systemd.service("postgresql@15-main", running=True)). The guard asks pg_ctl itself,
    # as pg_ctlcluster's status does, without its Perl start-up (a quarter of the host's fact time).
    running = ["runuser", "-u", "postgres", "--", PG_CTL, "status", "-D", PG_DATA]
    started = server.shell(f"pg_ctlcluster {cluster} start", unless=running)
    server.shell(f"pg_ctlcluster {cluster} restart", reload_on=[conf], requires=[started], title="restart PostgreSQL")
    user = host.data.db_user
    postgresql.role(user, password=host.data.db_password, port=port, requires=[started])
    postgresql.database(host.data.db_name, owner=user, port=port)
    postgresql.sql(
        VISITS.format(owner=user),
        database=host.data.db_name,
        unless="SELECT 1 FROM pg_tables WHERE tablename = 'visits'",
        port=port,
        title="table visits",
    )

"""Facts about a local PostgreSQL server, read with ``psql`` as the ``postgres`` user through its socket.

Every fact connects through the server's Unix socket in the default directory
(``/var/run/postgresql`` on Debian) to the server listening on ``port``, as the
``postgres`` operating system user (peer authentication). They run as root and
switch to that user, or run as it already (``become="postgres"``). Their
queries run in read-only transactions: gathering facts never changes a server,
so ``--dry-run`` and ``--check`` stay harmless.
"""

from __future__ import annotations

from typing import Any, TypedDict

from paracrine.fact import fact
from paracrine.facts import _command

#: The OS user (and PostgreSQL role, by peer authentication) that runs the SQL.
SUPERUSER = "postgres"


CLIENTS = "/usr/lib/postgresql"
"""Where Debian installs each PostgreSQL version's programs (``<version>/bin/psql``)."""


def psql_binary() -> str:
    """The newest version's own ``psql`` under :data:`CLIENTS`, else ``psql`` from the PATH.

    Debian's ``/usr/bin/psql`` is ``pg_wrapper``, a Perl script that picks a client
    version for the cluster: about 35 ms of CPU before psql itself starts, in every
    fact round. psql connects to servers of its own and all older versions, so the
    newest installed client serves every cluster on the host.
    """
    import os

    try:
        versions = [name for name in os.listdir(CLIENTS) if name.isdigit()]
    except OSError:
        return "psql"
    for version in sorted(versions, key=int, reverse=True):
        path = os.path.join(CLIENTS, version, "bin", "psql")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return "psql"


def psql_invocation(
    port: int, database: str, *, tuples: bool = False, read_only: bool = False, single_transaction: bool = False
) -> tuple[list[str], dict[str, str]]:
    """The ``psql`` argv and environment for SQL on standard input (shared with :mod:`paracrine.changes.sql`).

    Args:
        port: the server's port (its socket is ``.s.PGSQL.<port>`` in the default directory).
        database: the database to connect to.
        tuples: print rows only, unaligned, each ended by a NUL byte (for facts).
        read_only: make every transaction read-only (guards and facts must not change anything).
        single_transaction: run all the SQL in one transaction.
    """
    argv = [psql_binary(), "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1"]
    argv += ["--no-align", "--tuples-only", "--record-separator-zero"] if tuples else []
    argv += ["--single-transaction"] if single_transaction else []
    env = {"PGDATABASE": database, "PGPORT": str(port), "PGCLIENTENCODING": "UTF8", "PGAPPNAME": "paracrine"}
    if read_only:
        env["PGOPTIONS"] = "-c default_transaction_read_only=on"
    return [*argv, "--file", "-"], env


def run_as(user: str) -> str | None:
    """``user``, or None when this process already runs as ``user`` (no switch needed, or possible)."""
    import os
    import pwd

    return None if os.geteuid() == pwd.getpwnam(user).pw_uid else user


class Role(TypedDict):
    """A role's attributes, named after ``CREATE ROLE``'s options."""

    login: bool
    superuser: bool
    createdb: bool
    createrole: bool
    inherit: bool
    replication: bool
    connection_limit: int
    password: bool


class Database(TypedDict):
    """A database's owner, encoding and locale."""

    owner: str
    encoding: str
    collate: str
    ctype: str


CLUSTER_SQL = """\
SELECT json_build_object(
  'version', current_setting('server_version_num')::int,
  'roles', (SELECT coalesce(json_object_agg(rolname, json_build_object(
      'login', rolcanlogin, 'superuser', rolsuper, 'createdb', rolcreatedb, 'createrole', rolcreaterole,
      'inherit', rolinherit, 'replication', rolreplication, 'connection_limit', rolconnlimit,
      'password', rolpassword IS NOT NULL)), '{}') FROM pg_authid WHERE rolname !~ '^pg_'),
  'databases', (SELECT coalesce(json_object_agg(datname, json_build_object(
      'owner', pg_get_userbyid(datdba), 'encoding', pg_encoding_to_char(encoding),
      'collate', datcollate, 'ctype', datctype)), '{}') FROM pg_database))
"""
"""Roles (without PostgreSQL's own ``pg_*`` roles) and databases, as one JSON object."""

VERIFIERS_SQL = """\
SELECT coalesce(json_object_agg(rolname, rolpassword), '{}') FROM pg_authid WHERE rolname !~ '^pg_'
"""

DATABASE_EXISTS_SQL = "SELECT 1 FROM pg_database WHERE datname = :'database'\n"
"""Whether the database named by the psql variable ``database`` exists (psql quotes the value)."""


def _psql(sql: str, port: int, database: str, variables: dict[str, str] | None = None) -> _command.Output | None:
    """Run ``sql`` read-only with psql as ``postgres``; None if psql or the ``postgres`` user is missing."""
    import subprocess

    if _command.which("psql") is None:
        return None
    try:
        user = run_as(SUPERUSER)
    except KeyError:
        return None
    argv, pg_env = psql_invocation(port, database, tuples=True, read_only=True)
    for name, value in (variables or {}).items():
        argv[1:1] = ["--set", f"{name}={value}"]  # psql quotes the value where the SQL says :'name'
    env = {"LC_ALL": "C", "PATH": _command.STANDARD_PATH, **pg_env}
    switch: dict[str, Any] = {}
    if user is not None:
        from paracrine.changes.command import _user_settings

        switch = _user_settings(user, env)
    try:
        proc = subprocess.run(
            argv, input=sql.encode("utf-8"), capture_output=True, env=env, cwd="/", timeout=_command.TIMEOUT, **switch
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"psql on port {port} did not finish within {_command.TIMEOUT:g} s") from None
    return _command.Output(
        proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    )


def _failed(out: _command.Output, port: int, database: str) -> RuntimeError:
    lines = out.stderr.strip().splitlines() or out.stdout.strip().splitlines() or ["no output"]
    return RuntimeError(
        f"psql (port {port}, database {database!r}) failed with exit code {out.returncode}: {lines[-1]}"
    )


def parse_json_row(text: str) -> Any:
    """The JSON value of the one row psql printed (unaligned, tuples only, ended by a NUL byte).

    Args:
        text: psql's output, e.g. ``{"roles" : {}}\\0``.
    """
    import json

    rows = [row for row in text.split("\0") if row.strip()]
    if len(rows) != 1:
        raise ValueError(f"expected one row of JSON from psql, got {len(rows)}")
    return json.loads(rows[0])


def parse_cluster(text: str) -> dict[str, Any]:
    """Parse the output of :data:`CLUSTER_SQL`.

    Args:
        text: psql's output.

    Returns:
        {"version": 150020, "roles": {name: Role}, "databases": {name: Database}}.
    """
    data = parse_json_row(text)
    roles: dict[str, Role] = {str(name): role for name, role in data["roles"].items()}
    databases: dict[str, Database] = {str(name): db for name, db in data["databases"].items()}
    return {"version": int(data["version"]), "roles": roles, "databases": databases}


@fact(concurrent=True)
def cluster(port: int = 5432) -> dict[str, Any] | None:
    """The roles and databases of the PostgreSQL server on ``port`` (one ``psql`` call).

    Args:
        port: the server's port (``port`` in ``postgresql.conf``).

    Returns:
        {"version": 150020 (``server_version_num``), "roles": {"app": {"login": True,
        "superuser": False, "createdb": False, "createrole": False, "inherit": True,
        "replication": False, "connection_limit": -1, "password": True}},
        "databases": {"app": {"owner": "app", "encoding": "UTF8", "collate": "C.UTF-8",
        "ctype": "C.UTF-8"}}}; None if ``psql`` or the ``postgres`` user is not there
        (PostgreSQL is not installed). PostgreSQL's own ``pg_*`` roles are left out.

    Raises:
        RuntimeError: psql could not connect (the server is not running on ``port``) or failed.

    Example:
        paracrine facts db1 postgresql.cluster port=5432
    """
    out = _psql(CLUSTER_SQL, port, "postgres")
    if out is None:
        return None
    if out.returncode != 0:
        raise _failed(out, port, "postgres")
    return parse_cluster(out.stdout)


@fact(cache=False, concurrent=True)
def password_verifiers(port: int = 5432) -> dict[str, str | None] | None:
    """The stored password verifiers of the roles (``pg_authid.rolpassword``).

    A verifier (``SCRAM-SHA-256$...`` or ``md5...``) lets the controller check
    whether a role's password is the one a deploy gives, without sending the
    password. Never written to the fact cache.

    Args:
        port: the server's port.

    Returns:
        Role -> verifier (None: the role has no password); None if PostgreSQL
        is not installed.

    Example:
        paracrine facts db1 postgresql.password_verifiers
    """
    out = _psql(VERIFIERS_SQL, port, "postgres")
    if out is None:
        return None
    if out.returncode != 0:
        raise _failed(out, port, "postgres")
    data = parse_json_row(out.stdout)
    return {str(role): None if verifier is None else str(verifier) for role, verifier in data.items()}


@fact(prefetch=False, concurrent=True)
def query_rows(sql: str, database: str, port: int = 5432) -> int | None:
    """How many rows a query returns (for guards such as ``postgresql.sql(..., unless=...)``).

    The query runs read-only: a statement that writes fails the fact. With
    several statements, the rows of all of them count.

    Args:
        sql: the query, e.g. ``SELECT 1 FROM pg_tables WHERE tablename = 'items'``.
        database: the database it runs in.
        port: the server's port.

    Returns:
        The number of rows; None if the database does not exist or PostgreSQL
        is not installed.

    Raises:
        RuntimeError: the query failed (the message quotes psql's error).

    Example:
        paracrine facts db1 postgresql.query_rows sql="SELECT 1 FROM pg_tables WHERE tablename = 'items'" database=app
    """
    out = _psql(sql, port, database)
    if out is None:
        return None
    if out.returncode != 0:
        exists = _psql(DATABASE_EXISTS_SQL, port, "postgres", {"database": database})
        if exists is not None and exists.returncode == 0 and not exists.stdout.count("\0"):
            return None
        raise _failed(out, port, database)
    return out.stdout.count("\0")

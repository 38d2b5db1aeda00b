"""Operations on a local PostgreSQL server: roles, databases and SQL (mirrors ``paracrine.facts.postgresql``).

Every operation talks to the server listening on ``port`` through its Unix
socket, as the ``postgres`` user (peer authentication; the run switches to
that user from root, or is it already with ``become="postgres"``). SQL goes to
``psql`` on its standard input, never on a command line; names are quoted as
SQL identifiers and values as SQL string literals, so any name or password
works and none can inject SQL. Roles and databases are read from the
``postgresql.cluster`` fact (one ``psql`` call for all of them), so a server
already right runs nothing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from paracrine.changes import RunSQL
from paracrine.changes.sql import SUPERUSER
from paracrine.errors import PlanError, did_you_mean
from paracrine.facts import postgresql as pg_facts
from paracrine.operation import Changes, operation
from paracrine.operations._pgpassword import predicted_verifier, verifies
from paracrine.plan import OpContext
from paracrine.predict import Effect, fact_named
from paracrine.secret import Secret
from paracrine.validate import Converter, OneLine

#: PostgreSQL truncates longer names (NAMEDATALEN - 1 bytes): a longer one would never match.
MAX_NAME_BYTES = 63
RESERVED_ROLES = ("public", "none", "current_role", "current_user", "session_user")
#: What ``postgresql.cluster`` is taken to be before PostgreSQL is installed (``initdb``'s defaults).
INITDB_CLUSTER: dict[str, Any] = {
    "version": None,
    "roles": {
        SUPERUSER: {
            "login": True,
            "superuser": True,
            "createdb": True,
            "createrole": True,
            "inherit": True,
            "replication": True,
            "connection_limit": -1,
            "password": False,
        }
    },
    "databases": {
        name: {"owner": SUPERUSER, "encoding": None, "collate": None, "ctype": None}
        for name in ("postgres", "template0", "template1")
    },
}
ROLE_FLAGS = ("login", "superuser", "createdb", "createrole", "inherit", "replication")


def _name(value: Any) -> Any:
    if isinstance(value, str):
        if not value or "\0" in value:
            raise ValueError(f"{value!r} is not a PostgreSQL name (empty, or a NUL character)")
        if len(value.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(f"{value!r} is longer than {MAX_NAME_BYTES} bytes (PostgreSQL would truncate it)")
    return value


def _role_name(value: Any) -> Any:
    _name(value)
    if isinstance(value, str) and (value.startswith("pg_") or value.lower() in RESERVED_ROLES):
        raise ValueError(f"{value!r} is a reserved role name")
    return value


def _password(value: Any) -> Any:
    if isinstance(value, str):
        if "\0" in value:
            raise ValueError("a password cannot contain a NUL character")
        return value if isinstance(value, Secret) else Secret(value)
    return value


def _encoding(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        raise ValueError(f"{value!r} is not an encoding name such as 'UTF8'")
    return value


#: A database name: up to 63 bytes, anything but NUL (quoted as an SQL identifier).
DatabaseName = Annotated[str, Converter(_name, "a PostgreSQL database name")]
#: A role name: like a database name, not ``pg_*`` or a reserved name such as ``public``.
RoleName = Annotated[str, Converter(_role_name, "a PostgreSQL role name")]
#: A password: a :class:`Secret` (a plain string is made one, so the operation is sensitive).
Password = Annotated[Secret, Converter(_password, "a password (a string or a Secret)")]
#: A server encoding name, e.g. ``UTF8`` or ``LATIN1``.
Encoding = Annotated[str, Converter(_encoding, "an encoding name such as 'UTF8'")]


# ---------------------------------------------------------------- SQL text


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier: in double quotes, a double quote doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as an SQL string literal that means the same whatever ``standard_conforming_strings`` says.

    Quotes are doubled; a value with a backslash becomes an escape string
    (``E'...'``) with its backslashes doubled. psql does not expand
    ``:variables`` inside either.
    """
    quoted = "'" + value.replace("'", "''") + "'"
    return "E" + quoted.replace("\\", "\\\\") if "\\" in value else quoted


def _run(ctx: OpContext, sql: str, database: str, port: int, effects: list[Effect], **kwargs: Any) -> RunSQL:
    """A RunSQL as ``postgres`` (or as the operation's own user when that is ``postgres`` already)."""
    user = None if ctx.user == SUPERUSER else SUPERUSER
    return RunSQL(sql, database, port, user, predicted=tuple(effects), **kwargs)


def _cluster(value: Any) -> dict[str, Any]:
    """The cluster fact, or initdb's defaults when PostgreSQL is not installed yet (None)."""
    return copy.deepcopy(value if value is not None else INITDB_CLUSTER)


def _cluster_effect(port: int, change: Callable[[dict[str, Any]], None]) -> list[Effect]:
    """The cluster fact after ``change``; every guard query's result on the server is unknown."""

    def update(old: Any) -> Any:
        new = _cluster(old)
        change(new)
        return new

    return [
        Effect.opaque(fact_named("postgresql.query_rows", port=port)),
        Effect.updating(fact_named("postgresql.cluster", port=port), update),
    ]


# ---------------------------------------------------------------- roles


def _role_clauses(wanted: dict[str, Any], current: dict[str, Any] | None) -> list[str]:
    """``LOGIN NOSUPERUSER ...``: every wanted attribute for a new role, the differing ones for an existing one."""
    clauses = []
    for flag in ROLE_FLAGS:
        if current is None or current[flag] != wanted[flag]:
            clauses.append(("" if wanted[flag] else "NO") + flag.upper())
    limit = wanted["connection_limit"]
    if limit is not None and (current is None or current["connection_limit"] != limit):
        clauses.append(f"CONNECTION LIMIT {int(limit)}")
    return clauses


def _role_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("pg-role", f"{args['port']}/{args['role']}")] if args["present"] else []


def _database_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("pg-database", f"{args['port']}/{args['database']}")] if args["present"] else []


def _database_needs(args: dict[str, Any]) -> list[tuple[str, str]]:
    owner = args["owner"]
    return [("pg-role", f"{args['port']}/{owner}")] if owner else []


def _sql_needs(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("pg-database", f"{args['port']}/{args['database']}")]


@operation(provides=_role_provides)
def role(
    ctx: OpContext,
    role: RoleName,
    *,
    present: bool = True,
    password: Password | None = None,
    password_update: Literal["always", "on_create"] = "always",
    login: bool = True,
    superuser: bool = False,
    createdb: bool = False,
    createrole: bool = False,
    inherit: bool = True,
    replication: bool = False,
    connection_limit: int | None = None,
    port: int = 5432,
) -> Changes:
    """Ensure a PostgreSQL role exists with the given attributes and password, or does not exist.

    The attributes are managed: an existing role that differs is altered
    (``ALTER ROLE``), only in what differs. A password is never shown and
    never on a command line; with ``password_update="always"`` it is compared
    with the stored verifier (SCRAM-SHA-256 or MD5, read from ``pg_authid``)
    and set only when it differs, so a role already right runs nothing; with
    ``"on_create"`` it is set only when the role is created (as Ansible's
    ``update_password``). Without ``password`` the role's password is left
    alone. A call with a password is sensitive: its SQL is not shown.

    Args:
        role: the role's name (any characters; quoted as an identifier).
        present: False to drop the role (``DROP ROLE``; it must own nothing).
        password: its password (a :class:`~paracrine.secret.Secret`; a string is made one).
        password_update: ``"always"`` (make it match) or ``"on_create"``.
        login: it can log in (a user) or not (a group).
        superuser: it is a superuser.
        createdb: it can create databases.
        createrole: it can create roles.
        inherit: it inherits the privileges of the roles it is a member of.
        replication: it can start streaming replication.
        connection_limit: its connection limit (-1: none); None leaves it as it is.
        port: the server's port.

    Example:
        postgresql.role("app", password=host.data.db_password, createdb=True)
    """
    check_password = password is not None and password_update == "always"
    requests: list[tuple[Callable[..., Any], dict[str, Any]]] = [(pg_facts.cluster, {"port": port})]
    if check_password:
        requests.append((pg_facts.password_verifiers, {"port": port}))
    found = ctx.facts(*requests)
    cluster, verifiers = _cluster(found[0]), (found[1] if check_password else None) or {}
    current = cluster["roles"].get(role)
    if not present:
        if current is not None:
            sql = f"DROP ROLE {quote_ident(role)};\n"
            yield _run(ctx, sql, "postgres", port, _role_effects(port, role, None, None))
        return
    flags = (login, superuser, createdb, createrole, inherit, replication)
    wanted: dict[str, Any] = {**dict(zip(ROLE_FLAGS, flags, strict=True)), "connection_limit": connection_limit}
    if role == SUPERUSER and current is not None and current["superuser"] and not superuser:
        raise PlanError(
            f"this would take SUPERUSER from {SUPERUSER}, the role Paracrine connects as",
            hint="pass superuser=True",
        )
    clauses = _role_clauses(wanted, current)
    set_password = password is not None and (
        current is None or (check_password and not verifies(verifiers.get(role), role, password.value))
    )
    if current is not None and not clauses and not set_password:
        return
    if password is not None and set_password:
        clauses.append(f"PASSWORD {quote_literal(password.value)}")
    verb = "CREATE" if current is None else "ALTER"
    sql = f"{verb} ROLE {quote_ident(role)} WITH {' '.join(clauses)};\n"
    entry = {**wanted, "connection_limit": connection_limit if connection_limit is not None else -1}
    if current is not None and connection_limit is None:
        entry["connection_limit"] = current["connection_limit"]
    entry["password"] = password is not None or bool(current and current["password"])
    new_password = password.value if password is not None and set_password else None
    yield _run(ctx, sql, "postgres", port, _role_effects(port, role, entry, new_password))


def _role_effects(port: int, role: str, entry: dict[str, Any] | None, password: str | None) -> list[Effect]:
    """The role as it will be (None: dropped) in the cluster fact and, with a new password, its verifier."""

    def change(cluster: dict[str, Any]) -> None:
        if entry is None:
            cluster["roles"].pop(role, None)
        else:
            cluster["roles"][role] = dict(entry)

    effects = _cluster_effect(port, change)
    if entry is None or password is not None:
        verifier = predicted_verifier(role, password) if password is not None else None

        def update(old: Any) -> Any:
            new = dict(old) if isinstance(old, dict) else {}
            if entry is None:
                new.pop(role, None)
            else:
                new[role] = verifier
            return new

        effects.append(Effect.updating(fact_named("postgresql.password_verifiers", port=port), update))
    return effects


# ---------------------------------------------------------------- databases


def _same_encoding(a: str | None, b: str | None) -> bool:
    def norm(name: str | None) -> str | None:
        return None if name is None else re.sub(r"[-_]", "", name).upper()

    return a is None or b is None or norm(a) == norm(b)


@operation(provides=_database_provides, needs=_database_needs)
def database(
    ctx: OpContext,
    database: DatabaseName,
    *,
    present: bool = True,
    owner: RoleName | None = None,
    encoding: Encoding = "UTF8",
    lc_collate: OneLine | None = None,
    lc_ctype: OneLine | None = None,
    template: DatabaseName | None = None,
    port: int = 5432,
) -> Changes:
    """Ensure a PostgreSQL database exists with the given owner, encoding and locale, or does not exist.

    A new database is copied from ``template`` (default ``template1``, or
    ``template0`` when the encoding or locale differs from ``template1``'s,
    which PostgreSQL requires). An existing database gets a new owner if it
    differs; its encoding and locale cannot change, so a difference is an
    error. The owner role must exist (``postgresql.role`` earlier in the deploy).

    Args:
        database: the database's name (any characters; quoted as an identifier).
        present: False to drop the database (``DROP DATABASE``: its data is gone; no one may be connected).
        owner: the role that owns it (default: ``postgres``, on creation).
        encoding: its character encoding.
        lc_collate: its collation locale, e.g. ``"C.UTF-8"`` (default: the template's).
        lc_ctype: its character classification locale (default: the template's).
        template: the database it is copied from.
        port: the server's port.

    Example:
        postgresql.database("app", owner="app", encoding="UTF8")
    """
    cluster = _cluster(ctx.fact(pg_facts.cluster, port=port))
    current = cluster["databases"].get(database)
    if not present:
        if current is not None:
            effects = _cluster_effect(port, lambda new: new["databases"].pop(database, None))
            yield _run(ctx, f"DROP DATABASE {quote_ident(database)};\n", "postgres", port, effects)
        return
    if owner is not None and owner not in cluster["roles"]:
        hint = did_you_mean(owner, cluster["roles"]) or "create it with postgresql.role(...) earlier in the deploy"
        raise PlanError(f"owner role {owner!r} does not exist", hint=hint)
    wanted = {"owner": owner or SUPERUSER, "encoding": encoding, "collate": lc_collate, "ctype": lc_ctype}
    if current is None:
        yield _create_database(ctx, database, wanted, template, cluster, port)
        return
    for key, what in (("encoding", "encoding"), ("collate", "lc_collate"), ("ctype", "lc_ctype")):
        if wanted[key] is not None and not _same_encoding(current[key], wanted[key]):
            raise PlanError(
                f"database {database!r} has {what} {current[key]}, not {wanted[key]}",
                hint="a database's encoding and locale cannot change: dump it, drop it and create it again",
            )
    if owner is not None and current["owner"] != owner:
        sql = f"ALTER DATABASE {quote_ident(database)} OWNER TO {quote_ident(owner)};\n"
        effects = _cluster_effect(port, lambda new: new["databases"][database].update(owner=owner))
        yield _run(ctx, sql, "postgres", port, effects)


def _create_database(
    ctx: OpContext, database: str, wanted: dict[str, Any], template: str | None, cluster: dict[str, Any], port: int
) -> RunSQL:
    base = cluster["databases"].get("template1") or {}
    if template is None and not all(
        _same_encoding(base.get(key), wanted[key]) for key in ("encoding", "collate", "ctype")
    ):
        template = "template0"  # template1's encoding or locale differs: PostgreSQL wants template0
    clauses = [f"OWNER {quote_ident(wanted['owner'])}", f"ENCODING {quote_literal(wanted['encoding'])}"]
    clauses += [f"LC_COLLATE {quote_literal(wanted['collate'])}"] if wanted["collate"] else []
    clauses += [f"LC_CTYPE {quote_literal(wanted['ctype'])}"] if wanted["ctype"] else []
    clauses += [f"TEMPLATE {quote_ident(template)}"] if template else []
    source = cluster["databases"].get(template or "template1") or {}
    entry = {
        "owner": wanted["owner"],
        "encoding": wanted["encoding"].upper(),
        "collate": wanted["collate"] or source.get("collate"),
        "ctype": wanted["ctype"] or source.get("ctype"),
    }
    effects = _cluster_effect(port, lambda new: new["databases"].__setitem__(database, entry))
    return _run(ctx, f"CREATE DATABASE {quote_ident(database)} {' '.join(clauses)};\n", "postgres", port, effects)


# ---------------------------------------------------------------- SQL


@operation(needs=_sql_needs)
def sql(
    ctx: OpContext,
    sql: str,
    *,
    database: DatabaseName,
    unless: str | None = None,
    onlyif: str | None = None,
    single_transaction: bool = False,
    port: int = 5432,
) -> Changes:
    """Run SQL in a database, unless a guard query says the server is already right.

    The guards are queries that run read-only when facts are gathered (also
    with ``--dry-run``): ``unless`` skips the SQL when its query returns a
    row, ``onlyif`` when its query returns none. Without a guard the SQL runs
    on every run. Either way, what the SQL changes is not predicted: the
    other PostgreSQL facts of the server are gathered again after it ran.

    Args:
        sql: the SQL (one or more statements); the first failing statement stops it.
        database: the database it runs in (it must exist).
        unless: skip when this query returns at least one row.
        onlyif: skip when this query returns no row.
        single_transaction: run all the statements in one transaction (all or nothing).
        port: the server's port.

    Example:
        postgresql.sql("CREATE TABLE items (id serial PRIMARY KEY, name text)", database="app",
                       unless="SELECT 1 FROM pg_tables WHERE tablename = 'items'")
    """
    guards = {
        name: (pg_facts.query_rows, {"sql": query, "database": database, "port": port})
        for name, query in (("unless", unless), ("onlyif", onlyif))
        if query is not None
    }
    cluster, *rows = ctx.facts((pg_facts.cluster, {"port": port}), *guards.values())
    found = dict(zip(guards, rows, strict=True))
    if cluster is not None and database not in cluster["databases"]:
        hint = did_you_mean(database, cluster["databases"]) or "create it with postgresql.database(...) first"
        raise PlanError(f"database {database!r} does not exist", hint=hint)
    if found.get("unless") or ("onlyif" in found and not found["onlyif"]):
        return
    effects = [Effect.opaque(lambda key: key.name.startswith("postgresql.") and key.args.get("port") == port)]
    for name, after in (("unless", 1), ("onlyif", 0)):
        if name in guards:
            effects.append(Effect.set(fact_named("postgresql.query_rows", **guards[name][1]), after))
    statements = sql if sql.endswith("\n") else sql + "\n"
    yield _run(ctx, statements, database, port, effects, single_transaction=single_transaction)

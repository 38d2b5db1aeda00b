"""Tests of paracrine.facts.postgresql: the parsers on captured psql output, the facts with a fake psql."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_tools import fake_psql

from paracrine.facts import _command, postgresql
from paracrine.factspec import spec_of


def test_parse_cluster_of_captured_output(captured: Callable[[str], str]) -> None:
    cluster = postgresql.parse_cluster(captured("psql-cluster-15.txt"))
    assert cluster["version"] == 150020
    assert set(cluster["roles"]) == {"postgres", "app", "u2", 'we"ird:role', 'we"ird:x \\n'}
    assert cluster["roles"]["postgres"] == {
        "login": True,
        "superuser": True,
        "createdb": True,
        "createrole": True,
        "inherit": True,
        "replication": True,
        "connection_limit": -1,
        "password": False,
    }
    assert cluster["roles"]["app"]["password"] and cluster["roles"]["app"]["createdb"]
    assert not cluster["roles"]['we"ird:role']["login"]
    assert cluster["databases"]["app db"] == {
        "owner": "app",
        "encoding": "UTF8",
        "collate": "C.UTF-8",
        "ctype": "C.UTF-8",
    }
    assert set(cluster["databases"]) == {"postgres", "app db", "template0", "template1"}


@pytest.mark.parametrize("text", ["", "\0", '{"a": 1}\0{"b": 2}\0'])
def test_parse_json_row_wants_one_row(text: str) -> None:
    with pytest.raises(ValueError, match="expected one row of JSON"):
        postgresql.parse_json_row(text)


def test_cluster_runs_one_read_only_psql_as_postgres(tmp_path: Path, captured: Callable[[str], str]) -> None:
    with fake_psql(tmp_path / "bin", [("'version'", captured("psql-cluster-15.txt"), 0)]) as calls:
        cluster = postgresql.cluster(port=2001)
    assert cluster is not None and "app db" in cluster["databases"]
    (call,) = calls
    assert call["sql"] == postgresql.CLUSTER_SQL
    assert call["argv"][-2:] == ["--file", "-"] and "--no-psqlrc" in call["argv"]
    assert call["env"] == {
        "PGPORT": "2001",
        "PGDATABASE": "postgres",
        "PGCLIENTENCODING": "UTF8",
        "PGAPPNAME": "paracrine",
        "PGOPTIONS": "-c default_transaction_read_only=on",
        "LC_ALL": "C",
    }


def test_cluster_reports_a_server_that_is_not_running(tmp_path: Path) -> None:
    refused = 'connection to server on socket "/var/run/postgresql/.s.PGSQL.2001" failed: No such file or directory\n'
    with (
        fake_psql(tmp_path / "bin", [("'version'", refused, 2)]),
        pytest.raises(
            RuntimeError, match=r"psql \(port 2001, database 'postgres'\) failed with exit code 2: psql: error"
        ),
    ):
        postgresql.cluster(port=2001)


def test_facts_are_none_without_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_command, "which", lambda name: None)
    assert postgresql.cluster() is None
    assert postgresql.password_verifiers() is None
    assert postgresql.query_rows("SELECT 1", "app") is None


def test_facts_are_none_without_the_postgres_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_command, "which", lambda name: "/usr/bin/psql")

    def no_user(user: str) -> None:
        raise KeyError(user)

    monkeypatch.setattr(postgresql, "run_as", no_user)
    assert postgresql.cluster() is None


def test_password_verifiers(tmp_path: Path) -> None:
    out = '{"postgres" : null, "app" : "SCRAM-SHA-256$4096:c2FsdA==$a2V5:c2VydmVy"}\0'
    with fake_psql(tmp_path / "bin", [("rolpassword", out, 0)]):
        verifiers = postgresql.password_verifiers(port=5433)
    assert verifiers == {"postgres": None, "app": "SCRAM-SHA-256$4096:c2FsdA==$a2V5:c2VydmVy"}
    assert spec_of(postgresql.password_verifiers).cache is False


def test_query_rows_counts_the_rows_of_every_statement(tmp_path: Path) -> None:
    with fake_psql(tmp_path / "bin", [("items", "1\0multi\nline\0\0", 0)]) as calls:
        assert postgresql.query_rows("SELECT 1 FROM items; SELECT name FROM items", "app db", 5433) == 3
    assert calls[0]["env"]["PGDATABASE"] == "app db" and calls[0]["env"]["PGPORT"] == "5433"
    assert "--record-separator-zero" in calls[0]["argv"]
    assert spec_of(postgresql.query_rows).prefetch is False


def test_query_rows_in_a_missing_database_is_none(tmp_path: Path) -> None:
    rules = [("datname", "", 0), ("items", 'FATAL:  database "app" does not exist\n', 2)]
    with fake_psql(tmp_path / "bin", rules) as calls:
        assert postgresql.query_rows("SELECT 1 FROM items", "app") is None
    check = calls[1]
    assert check["sql"] == postgresql.DATABASE_EXISTS_SQL and check["env"]["PGDATABASE"] == "postgres"
    assert check["argv"][:2] == ["--set", "database=app"]  # psql quotes the name: no SQL is built from it


def test_query_rows_reports_a_failing_query(tmp_path: Path) -> None:
    rules = [("datname", "1\0", 0), ("INSERT", "ERROR:  cannot execute INSERT in a read-only transaction\n", 3)]
    with (
        fake_psql(tmp_path / "bin", rules),
        pytest.raises(RuntimeError, match="exit code 3: psql: error: ERROR:  cannot execute INSERT in a read-only"),
    ):
        postgresql.query_rows("INSERT INTO items VALUES (1)", "app")


@pytest.mark.lab
def test_lab_postgresql_is_absent_on_a_base_host(lab_fact: Callable[..., Any]) -> None:
    assert lab_fact(postgresql.cluster, port=5432) is None
    assert lab_fact(postgresql.query_rows, sql="SELECT 1", database="postgres", port=5432) is None

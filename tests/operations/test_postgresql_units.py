"""Units of the PostgreSQL operations: quoting, password verifiers, and the RunSQL change kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from paracrine.changes import RunSQL
from paracrine.changes.sql import psql_invocation
from paracrine.operations._pgpassword import _saslprep, predicted_verifier, verifies
from paracrine.operations.postgresql import quote_ident, quote_literal
from paracrine.predict import Effect
from paracrine.secret import MASK

# Verifiers PostgreSQL 15 stored (lab host) for CREATE ROLE ... PASSWORD E'p\\a''ss:foo :"x" \\echo' and 'pässwörd'.
SCRAM_ASCII = (
    "SCRAM-SHA-256$4096:jCb56CjkCW8jcK8PVeQe5w==$MSSpnNPzS8vfgmFlmzW/9Zhyq/muwKimiLBnB4AFMIA="
    ":c95o1O5GIk/Q/VfGSED2EHOQt5QsFuLIYx8dLV4DV8c="
)
SCRAM_UNICODE = (
    "SCRAM-SHA-256$4096:5KUK6NrnKAOWgibDq1KYqA==$+TTk2bQW071Tw4w0YU3vyo1ElYtwH4gSDScYHmlwkOY="
    ":1x8M5AJSVO+iSzk0ZmSAhrPOINMU+O+y+Qui3Srikxo="
)


def test_verifiers_made_by_postgresql() -> None:
    assert verifies(SCRAM_ASCII, "any", 'p\\a\'ss:foo :"x" \\echo')
    assert not verifies(SCRAM_ASCII, "any", 'p\\a\'ss:foo :"x" \\echo ')
    assert verifies(SCRAM_UNICODE, "u2", "pässwörd")
    assert verifies(SCRAM_UNICODE, "u2", "pa\u0308sswo\u0308rd")  # decomposed: SASLprep normalizes (NFKC)
    assert not verifies(SCRAM_UNICODE, "u2", "passwort")


def test_md5_plain_and_missing_verifiers() -> None:
    md5 = "md56a422f785c9e20873908ce25d1736ae2"  # "md5" + md5("secret" + "app"), as PostgreSQL stores it
    assert verifies(md5, "app", "secret")
    assert not verifies(md5, "other", "secret") and not verifies(md5, "app", "Secret")
    assert verifies("secret", "app", "secret")  # plain text, before PostgreSQL 10
    assert not verifies(None, "app", "secret")
    assert not verifies("SCRAM-SHA-256$4096:!!!$a:b", "app", "secret")


def test_predicted_verifier_verifies() -> None:
    verifier = predicted_verifier("app", "s3cret")
    assert verifier.startswith("SCRAM-SHA-256$4096:") and verifies(verifier, "app", "s3cret")
    assert not verifies(verifier, "app", "other")


@pytest.mark.parametrize(
    ("password", "prepared"),
    [
        ("plain ascii\t", "plain ascii\t"),  # ASCII is used as it is, as PostgreSQL does
        ("a\u00a0b", "a b"),  # non-ASCII space -> space
        ("a\u00adb", "ab"),  # soft hyphen: mapped to nothing
        ("\u2168", "IX"),  # NFKC
        ("a\u0007b\u00e9", "a\u0007b\u00e9"),  # a prohibited control character: used unchanged
        ("\u05d0a\u05d0", "\u05d0a\u05d0"),  # right-to-left mixed with left-to-right: unchanged
    ],
)
def test_saslprep(password: str, prepared: str) -> None:
    assert _saslprep(password) == prepared


def test_quoting() -> None:
    assert quote_ident('we"ird:x \\n') == '"we""ird:x \\n"'
    assert quote_literal("it's") == "'it''s'"
    assert quote_literal("back\\slash 'q' :var") == "E'back\\\\slash ''q'' :var'"


def test_run_sql_shows_its_sql_unless_masked() -> None:
    change = RunSQL("CREATE TABLE items (id int);\nINSERT INTO items VALUES (1);\n", "app db", 5433)
    assert change.describe() == (
        "run SQL in database app db (port 5433) as postgres: CREATE TABLE items (id int); INSERT INTO items VALUES (1);"
    )
    assert change.describe(masked=True) == f"run SQL in database app db (port 5433) as postgres: {MASK}"
    long = RunSQL("SELECT " + "x, " * 100 + "1", user=None)
    assert long.describe().endswith("...") and " as " not in long.describe()
    assert change.to_json() == {
        "kind": "sql",
        "sql": "CREATE TABLE items (id int);\nINSERT INTO items VALUES (1);\n",
        "database": "app db",
        "port": 5433,
        "user": "postgres",
        "single_transaction": False,
    }
    assert change.to_json(masked=True)["sql"] == MASK
    assert change.to_wire()["module"] == "paracrine.changes.sql"
    assert [e.opaque_ for e in change.effects()] == [True]
    known = Effect.opaque(lambda key: False)
    assert RunSQL("SELECT 1", predicted=(known,)).effects() == [known]


def test_psql_invocation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from paracrine.facts import postgresql

    monkeypatch.setattr(postgresql, "CLIENTS", str(tmp_path / "none"))
    argv, env = psql_invocation(2001, "app", single_transaction=True)
    assert argv == ["psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction", "--file", "-"]
    assert env == {"PGDATABASE": "app", "PGPORT": "2001", "PGCLIENTENCODING": "UTF8", "PGAPPNAME": "paracrine"}
    argv, env = psql_invocation(5432, "postgres", tuples=True, read_only=True)
    assert "--record-separator-zero" in argv and env["PGOPTIONS"] == "-c default_transaction_read_only=on"


def test_psql_is_the_newest_versioned_client_when_there_is_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from paracrine.facts import postgresql

    monkeypatch.setattr(postgresql, "CLIENTS", str(tmp_path))
    for version, executable in (("13", True), ("15", True), ("16", False), ("9.6", True)):
        tool = tmp_path / version / "bin" / "psql"
        tool.parent.mkdir(parents=True)
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755 if executable else 0o644)
    (tmp_path / "README").write_text("not a version")
    assert postgresql.psql_binary() == str(tmp_path / "15" / "bin" / "psql")  # 16 is not executable
    assert psql_invocation(5432, "postgres")[0][0] == str(tmp_path / "15" / "bin" / "psql")


def test_run_sql_without_a_postgres_user_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from paracrine.changes import sql
    from paracrine.remote import wire

    def no_user(user: str) -> None:
        raise KeyError(user)

    monkeypatch.setattr(sql, "run_as", no_user)
    outcome = wire.new_outcome()
    sql.apply(RunSQL("SELECT 1").to_wire(), outcome)
    assert outcome["error"] == "there is no user 'postgres' to run psql as: is PostgreSQL installed?"
    assert not outcome["changed"]

"""paracrine.changes: each kind's description, JSON and wire forms, masking, and its own checks."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import ClassVar

import engine_calls
import pytest

from paracrine.changes import (
    CallFunction,
    Change,
    LocalFile,
    MakeDirectory,
    MakeLink,
    RemovePath,
    RunCommand,
    SetAttributes,
    WriteFile,
)
from paracrine.changes.base import attrs_text, shown
from paracrine.changes.remove import is_protected
from paracrine.predict import Effect, PredictedState, Unpredictable, fact_named
from paracrine.secret import Secret


def test_descriptions() -> None:
    assert WriteFile("/etc/motd", b"hi\n", mode=0o644, owner="root").describe() == (
        "write /etc/motd (3 bytes, mode 0644, owner root)"
    )
    checked = WriteFile("/etc/sudoers", b"x", validate=("visudo", "-cf", "{}"))
    assert checked.describe() == "write /etc/sudoers (1 bytes, checked with visudo -cf {})"
    assert checked.describe(masked=True) == "write /etc/sudoers (1 bytes, checked with ***)"
    assert MakeDirectory("/srv/app").describe() == "create directory /srv/app"
    assert MakeDirectory("/srv/app", group="app").describe() == "create directory /srv/app (group app)"
    assert MakeLink("/a", "/b").describe() == "link /a -> /b"
    assert RemovePath("/srv/old", recursive=True).describe() == "remove /srv/old (recursively)"
    assert SetAttributes("/f", mode=0o600).describe() == "set mode 0600 on /f"
    assert RunCommand(("echo", "a b"), user="app").describe() == "run echo 'a b' as app"
    assert RunCommand(("echo", "secret")).describe(masked=True) == "run ***"
    call = CallFunction.of(engine_calls.refuse, reason="why")
    assert call.describe() == "call engine_calls.refuse(reason='why')"
    assert call.describe(masked=True) == "call engine_calls.refuse(reason=***)"


def test_control_characters_are_escaped_in_descriptions() -> None:
    assert shown("plain text") == "plain text"
    assert shown("a\nb\r\tc\x1b[31m\u2028") == "a\\nb\\r\\tc\\x1b[31m\\u2028"
    assert MakeLink("/x\n", "/t").describe() == "link /x\\n -> /t"
    assert attrs_text(None, None, None) == ""
    assert attrs_text(0o7, "o", "g") == "mode 0007, owner o, group g"


def test_json_forms() -> None:
    text = WriteFile("/f", b"hello\n", mode=0o600)
    assert text.to_json() == {"kind": "write", "path": "/f", "mode": 0o600, "owner": None, "group": None,
                              "sha256": hashlib.sha256(b"hello\n").hexdigest(), "size": 6}  # fmt: skip
    assert text.to_json(contents=True)["content"] == "hello\n"
    assert "content" not in text.to_json(masked=True, contents=True)
    assert "content" not in WriteFile("/b", b"\xff").to_json(contents=True)
    assert WriteFile("/v", b"", validate=("true", "{}")).to_json()["validate"] == ["true", "{}"]
    command = RunCommand(("mysql", "-p", "pw"), env={"PW": "pw"}, stdin=b"1234")
    assert command.to_json()["stdin"] == "<4 bytes>" and command.to_json()["env"] == {"PW": "pw"}
    assert command.to_json(masked=True)["argv"] == ["***"]
    assert command.to_json(masked=True)["env"] == {"PW": "***"}
    assert RunCommand(("true",)).to_json(masked=True)["env"] is None
    call = CallFunction.of(engine_calls.refuse, reason="why")
    assert call.to_json() == {"kind": "call", "function_module": "engine_calls", "function": "refuse",
                              "kwargs": {"reason": "why"}}  # fmt: skip
    assert call.to_json(masked=True)["kwargs"] == {"reason": "***"}


def test_wire_forms() -> None:
    secret = Secret("s3cret-value")
    wired = RunCommand(("echo", secret), env={"K": "v"}).to_wire()
    assert wired["module"] == "paracrine.changes.command"
    assert type(wired["argv"][1]) is str and wired["env"] == {"K": "v"}
    assert "predicted" not in wired
    assert RunCommand(("true",)).to_wire()["env"] is None
    assert "force" not in RemovePath("/etc", force=True).to_wire()
    # (Secrets inside env= and kwargs= are made plain when the batch is built: see test_batches)


def test_write_file_takes_content_or_a_local_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="exactly one of data= and source="):
        WriteFile("/f")
    source = tmp_path / "src"
    source.write_bytes(b"from disk")
    local = LocalFile.of(str(source))
    change = WriteFile("/f", source=local)
    assert (change.size, change.sha256, change.content()) == (9, hashlib.sha256(b"from disk").hexdigest(), b"from disk")
    assert change.to_wire()["source"] == {"path": str(source), "size": 9} and change.to_wire()["data"] is None
    assert change.to_json(contents=True)["content"] == "from disk"


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("relative", "RemovePath needs a normalised absolute path, got 'relative'"),
        ("/srv/../etc", "normalised absolute path"),
        ("/srv/", "normalised absolute path"),
        ("/", "refusing to remove /, a system directory; pass force=True if you mean it"),
        ("/usr/lib", "refusing to remove /usr/lib"),
        ("/etc/ssh", "refusing to remove /etc/ssh"),
    ],
)
def test_remove_path_refuses_what_it_must_not_remove(path: str, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("(", "\\(").replace(")", "\\)")):
        RemovePath(path)


def test_protected_paths() -> None:
    assert is_protected("/") and is_protected("etc") and is_protected("//var/lib/")
    assert not is_protected("/etc/nginx") and not is_protected("/srv/app")
    assert RemovePath("/etc", force=True).path == "/etc"


def test_predicted_effects_of_commands_and_calls() -> None:
    made = Effect.set(fact_named("server.hostname"), "new")
    for change in (RunCommand(("hostname", "new"), predicted=(made,)), CallFunction.of(engine_calls.nothing, (made,))):
        state = PredictedState(lambda key: "old")
        state.apply(change.effects())
        from paracrine.gather import make_key

        assert state.lookup(make_key("server.hostname", {})) == "new"
    opaque = PredictedState(lambda key: "old")
    opaque.apply(CallFunction.of(engine_calls.nothing).effects())
    from paracrine.gather import make_key

    with pytest.raises(Unpredictable):
        opaque.lookup(make_key("server.hostname", {}))


def test_a_kind_of_ones_own_gets_a_wire_form_and_opaque_effects() -> None:
    @dataclasses.dataclass(frozen=True)
    class Ping(Change):
        kind: ClassVar[str] = "ping"
        host: str
        local_only: int = dataclasses.field(default=0, metadata={"wire": False})

    ping = Ping("example.org", 3)
    assert ping.to_wire() == {"kind": "ping", "module": __name__, "host": "example.org"}
    assert ping.to_json() == {"kind": "ping", "host": "example.org"}
    assert ping.effects()[0].opaque_
    with pytest.raises(NotImplementedError):
        ping.describe()

"""paracrine.predict: facts as planned changes leave them (rules newest first, opaque effects, derived facts)."""

from __future__ import annotations

from typing import Any

import pytest

from paracrine.changes import MakeDirectory, MakeLink, RemovePath, RunCommand, SetAttributes, WriteFile
from paracrine.changes.write import MAX_PREDICTED_LINES
from paracrine.factkey import FactKey
from paracrine.gather import make_key
from paracrine.predict import Effect, FactMissing, PredictedState, Unpredictable, fact_named

FILE = {"kind": "file", "mode": 0o600, "owner": "app", "group": "app", "uid": 1000, "gid": 1000, "size": 3,
        "mtime": 1.0, "target": None}  # fmt: skip


def info(path: str) -> FactKey:
    return make_key("files.path_info", {"path": path})


def key(name: str, path: str) -> FactKey:
    return make_key(name, {"path": path})


def state_over(facts: dict[FactKey, Any]) -> PredictedState:
    def base(k: FactKey) -> Any:
        if k not in facts:
            raise FactMissing([k])
        return facts[k]

    return PredictedState(base)


def planned(state: PredictedState, *changes: Any) -> PredictedState:
    for change in changes:
        state.apply(change.effects())
    return state


def test_gathered_facts_until_a_rule_matches_newest_first() -> None:
    state = state_over({info("/a"): FILE})
    assert state.lookup(info("/a")) == FILE
    state.apply([Effect.set(fact_named("files.path_info", path="/a"), "first")])
    state.apply([Effect.set(fact_named("files.path_info", path="/b"), "other")])
    state.apply([Effect.updating(fact_named("files.path_info", path="/a"), lambda old: f"{old}, then second")])
    assert state.lookup(info("/a")) == "first, then second"
    with pytest.raises(FactMissing) as missing:
        state.lookup(info("/c"))
    assert str(missing.value) == "files.path_info(path='/c')"


def test_an_opaque_effect_makes_later_lookups_unpredictable_unless_speculative() -> None:
    state = planned(state_over({info("/a"): FILE}), RunCommand(("true",)))
    with pytest.raises(Unpredictable) as unknown:
        state.lookup(info("/a"))
    assert unknown.value.key == info("/a")
    assert str(unknown.value) == "files.path_info(path='/a')"
    state.speculative = True
    assert state.lookup(info("/a")) == FILE


def test_opaque_effects_can_be_limited_to_some_facts() -> None:
    state = state_over({info("/a"): FILE, info("/b"): None})
    state.apply([Effect.opaque(fact_named("files.path_info", path="/a"))])
    assert state.lookup(info("/b")) is None
    with pytest.raises(Unpredictable):
        state.lookup(info("/a"))


def test_a_written_file() -> None:
    old = {info("/srv/app/conf"): FILE, key("files.listing", "/srv/app"): ["old"], info("/srv/app"): None}
    state = state_over({**old, key("files.lines", "/srv/app/conf"): ["old"]})
    change = WriteFile("/srv/app/conf", b"one\ntwo\n", mode=0o640)
    planned(state, change)
    assert state.lookup(info("/srv/app/conf")) == {**FILE, "mode": 0o640, "uid": None, "gid": None, "size": 8,
                                                   "mtime": None}  # fmt: skip
    assert state.lookup(key("files.sha256", "/srv/app/conf")) == change.sha256
    assert state.lookup(key("files.lines", "/srv/app/conf")) == ["one", "two"]
    assert state.lookup(key("files.listing", "/srv/app/conf")) is None
    assert state.lookup(info("/srv/app/conf/below")) is None
    assert state.lookup(key("files.listing", "/srv/app")) == ["conf", "old"]
    assert state.lookup(info("/srv/app"))["kind"] == "directory"  # a missing parent is created


def test_a_large_written_file_has_unpredictable_lines() -> None:
    state = planned(state_over({info("/big"): None}), WriteFile("/big", b"x" * (MAX_PREDICTED_LINES + 1)))
    with pytest.raises(Unpredictable):
        state.lookup(key("files.lines", "/big"))
    assert state.lookup(info("/big"))["size"] == MAX_PREDICTED_LINES + 1


def test_a_new_directory_and_an_existing_one() -> None:
    state = state_over({info("/d"): None, key("files.listing", "/"): None, key("files.listing", "/d"): None})
    planned(state, MakeDirectory("/d", owner="app"))
    assert state.lookup(info("/d"))["kind"] == "directory"
    assert state.lookup(info("/d"))["mode"] == 0o755 and state.lookup(info("/d"))["owner"] == "app"
    assert state.lookup(key("files.listing", "/d")) == []
    assert state.lookup(key("files.sha256", "/d")) is None
    assert state.lookup(key("files.listing", "/")) == ["d"]
    existing = state_over({info("/e"): {**FILE, "kind": "directory", "mode": 0o700}, key("files.listing", "/e"): ["x"]})
    planned(existing, MakeDirectory("/e", group="staff"))
    assert existing.lookup(key("files.listing", "/e")) == ["x"]
    assert existing.lookup(info("/e"))["mode"] == 0o700 and existing.lookup(info("/e"))["group"] == "staff"


def test_a_link() -> None:
    state = planned(state_over({info("/l"): None}), MakeLink("/l", "/target"))
    assert state.lookup(info("/l"))["kind"] == "link" and state.lookup(info("/l"))["target"] == "/target"
    assert state.lookup(key("files.lines", "/l")) is None


def test_a_removed_tree() -> None:
    state = state_over({key("files.listing", "/srv"): ["app", "other"], key("files.listing", "/gone"): None})
    planned(state, RemovePath("/srv/app", recursive=True), RemovePath("/gone/x"))
    assert state.lookup(info("/srv/app")) is None
    assert state.lookup(key("files.lines", "/srv/app/deep/file")) is None
    assert state.lookup(key("files.listing", "/srv")) == ["other"]
    assert state.lookup(key("files.listing", "/gone")) is None
    with pytest.raises(FactMissing):
        state.lookup(info("/srv/application"))  # not below /srv/app


def test_attributes_update_only_what_they_set() -> None:
    state = state_over({info("/f"): FILE, info("/none"): None})
    planned(state, SetAttributes("/f", mode=0o644, owner="root"), SetAttributes("/none", mode=0o600))
    assert state.lookup(info("/f")) == {**FILE, "mode": 0o644, "owner": "root", "uid": None}
    assert state.lookup(info("/none")) is None
    same = planned(state_over({info("/f"): FILE}), SetAttributes("/f", owner="app", group="staff"))
    assert same.lookup(info("/f")) == {**FILE, "group": "staff", "gid": None}


def test_a_path_derived_custom_fact_follows_the_planned_changes() -> None:
    import engine_facts  # noqa: F401  (registers the custom facts)

    size = make_key("engine_facts.conf_size", {"path": "/etc/app.conf"})
    owner = make_key("engine_facts.conf_owner", {"path": "/etc/app.conf"})
    state = state_over({size: {"size": 1}, owner: 0, info("/etc/app.conf"): FILE})
    assert state.lookup(size) == {"size": 1}
    planned(state, WriteFile("/etc/other.conf", b"x"))
    assert state.lookup(size) == {"size": 1}  # another path: still the gathered value
    assert state.lookup(owner) == 0
    planned(state, WriteFile("/etc/app.conf", b"12345"))
    assert state.lookup(size) == {"size": 5}
    with pytest.raises(Unpredictable):
        state.lookup(owner)
    planned(state, RemovePath("/etc/app.conf"))
    assert state.lookup(size) is None

"""paracrine.factcache: the controller's fact cache and the keys file, with damaged and foreign contents."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from paracrine.factcache import FORMAT_VERSION, CachedFact, FactCache, state_dir
from paracrine.factkey import FactKey
from paracrine.gather import make_key


def entry(key: FactKey, value: object, fp: object = None) -> CachedFact:
    return CachedFact(key.name, key.args, key.user, value, fp, 1000.0)


def test_values_round_trip_with_bytes_and_nested_containers(tmp_path: Path) -> None:
    cache = FactCache(tmp_path)
    key = make_key("files.path_info", {"path": "/etc"})
    value = {"raw": b"\x00\xff", "list": [b"a", ("t", 1)], "n": None}
    cache.update("web1", {key.id: entry(key, value, fp=[1, 2])})
    loaded = cache.load("web1")[key.id]
    assert loaded == CachedFact("files.path_info", {"path": "/etc"}, None, {**value, "list": [b"a", ["t", 1]]}, [1, 2],
                                1000.0)  # fmt: skip
    assert json.loads(cache.path("web1").read_text())["version"] == FORMAT_VERSION


def test_an_unchanged_update_only_touches_the_file(tmp_path: Path) -> None:
    cache = FactCache(tmp_path)
    key = make_key("server.hostname", {})
    cache.update("web1", {key.id: entry(key, "web1")})
    os.utime(cache.path("web1"), (1, 1))
    content = cache.path("web1").read_bytes()
    cache.update("web1", {key.id: entry(key, "web1")})
    cache.update("web1", {})
    assert cache.path("web1").read_bytes() == content
    age = cache.age("web1")
    assert age is not None and age < 60
    assert cache.age("never") is None


def test_a_host_name_never_escapes_the_cache_directory(tmp_path: Path) -> None:
    assert FactCache(tmp_path).path("../../etc/x") == tmp_path / "facts" / ".._.._etc_x.json"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        json.dumps({"version": 1, "facts": {}}),
    ],
)
def test_unreadable_or_old_caches_are_empty(tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]) -> None:
    cache = FactCache(tmp_path)
    cache.path("web1").parent.mkdir(parents=True)
    cache.path("web1").write_text(content)
    assert cache.load("web1") == {}
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "facts",
    [
        {"k": {"fact": "x"}},
        {"k": {"fact": "x", "args": 5, "user": None, "value": 1, "time": 0}},
        {"k": {"fact": "x", "args": {}, "user": None, "value": 1, "time": "soon"}},
        {"k": {"fact": "x", "args": {}, "user": None, "value": {"__bytes__": "not base64!"}, "time": 0}},
        [1, 2],
    ],
)
def test_a_damaged_cache_is_ignored_with_one_warning(
    tmp_path: Path, facts: object, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = FactCache(tmp_path)
    cache.path("web1").parent.mkdir(parents=True)
    cache.path("web1").write_text(json.dumps({"version": FORMAT_VERSION, "facts": facts}))
    assert cache.load("web1") == {}
    assert cache.load("web1") == {}
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"warning: fact cache {cache.path('web1')} is damaged (")
    assert err[0].endswith("; ignoring it, it is rebuilt by this run")
    key = make_key("server.hostname", {})
    cache.update("web1", {key.id: entry(key, "web1")})  # rebuilt
    assert list(cache.load("web1")) == [key.id]


def test_keys_are_saved_per_deploy_and_validated_when_read(tmp_path: Path) -> None:
    cache = FactCache(tmp_path)
    one = make_key("files.path_info", {"path": "/a"})
    two = make_key("files.sha256", {"path": "/b"}, "nobody")
    cache.save_keys("web1", "deploy-a", [two, one])
    cache.save_keys("web1", "deploy-b", [one])
    assert cache.load_keys("web1", "deploy-a") == {one, two}
    assert cache.load_keys("web1", "deploy-b") == {one}
    assert cache.load_keys("web1", "deploy-c") == set()
    doc = json.loads(cache.keys_path("web1").read_text())
    assert doc["deploy-a"] == [["files.path_info", {"path": "/a"}, None], ["files.sha256", {"path": "/b"}, "nobody"]]
    mtime = cache.keys_path("web1").stat().st_mtime_ns
    time.sleep(0.01)
    cache.save_keys("web1", "deploy-b", [one])  # the same keys: not written again
    assert cache.keys_path("web1").stat().st_mtime_ns == mtime

    doc["deploy-a"].extend([[1, {}, None], ["x", "not args", None], ["y", {}, 5], ["ok.fact", {"a": 1}, "root"]])
    cache.keys_path("web1").write_text(json.dumps(doc))
    assert cache.load_keys("web1", "deploy-a") == {one, two, FactKey("ok.fact", '{"a": 1}', "root")}
    doc["deploy-a"] = [["too", "few"]]
    cache.keys_path("web1").write_text(json.dumps(doc))
    assert cache.load_keys("web1", "deploy-a") == set()


@pytest.mark.parametrize("content", ["not json", "[]", '"text"'])
def test_a_damaged_keys_file_is_replaced(tmp_path: Path, content: str) -> None:
    cache = FactCache(tmp_path)
    cache.keys_path("web1").parent.mkdir(parents=True)
    cache.keys_path("web1").write_text(content)
    assert cache.load_keys("web1", "d") == set()
    key = make_key("server.hostname", {})
    cache.save_keys("web1", "d", [key])
    assert cache.load_keys("web1", "d") == {key}


def test_the_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARACRINE_STATE_DIR", raising=False)
    assert state_dir() == Path(".paracrine")
    monkeypatch.setenv("PARACRINE_STATE_DIR", str(tmp_path))
    assert state_dir() == tmp_path
    assert state_dir(tmp_path / "explicit") == tmp_path / "explicit"


@pytest.mark.parametrize(
    ("name", "args", "user"),
    [("files.path_info", {"path": "/etc"}, None), ("files.sha256", {"path": "/é/\u2603\n\"x\""}, "nobody"),
     ("server.hostname", {}, None), ("x.y", {"b": [1, 2.5, None, True], "a": {"z": 1, "y": "2"}}, "root")],
)  # fmt: skip
def test_a_key_id_is_canonical_json(name: str, args: dict[str, Any], user: str | None) -> None:
    """The id names entries of cache files written by earlier versions: it must not change."""
    key = FactKey(name, json.dumps(args, sort_keys=True), user)
    assert key.id == json.dumps([name, args, user], sort_keys=True)
    assert FactKey.of(name, args, user) == key and FactKey.of(name, args, user).id == key.id


def test_keys_of_scalar_arguments_are_made_once_per_process() -> None:
    one = make_key("files.path_info", {"path": "/srv/app"})
    assert make_key("files.path_info", {"path": "/srv/app"}) is one
    assert make_key("files.path_info", {"path": "/srv/app"}, "nobody") is not one
    assert make_key("files.path_info", {"path": "/srv/app"}, "nobody").user == "nobody"
    assert make_key("files.sha256", {"path": "/srv/app"}).name == "files.sha256"
    listed = make_key("files.path_info", {"path": "/srv/other"})
    assert listed.args == {"path": "/srv/other"} and listed is not one


def test_a_cache_file_is_parsed_once_per_version_in_a_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent's or watcher's runs each make a new FactCache: an unchanged file is not parsed again."""
    key = make_key("files.path_info", {"path": "/etc"})
    FactCache(tmp_path).update("web1", {key.id: entry(key, {"kind": "directory"})})
    parsed: list[str] = []
    real = FactCache._parse
    monkeypatch.setattr(FactCache, "_parse", lambda self, host: parsed.append(host) or real(self, host))
    assert FactCache(tmp_path).load("web1")[key.id].value == {"kind": "directory"}
    assert FactCache(tmp_path).load("web1")[key.id].value == {"kind": "directory"}
    assert parsed == ["web1"]
    FactCache(tmp_path).update("web1", {key.id: entry(key, {"kind": "directory"})})  # the same: only touched
    assert FactCache(tmp_path).load("web1")[key.id].value == {"kind": "directory"}
    assert parsed == ["web1"]
    doc = json.loads(FactCache(tmp_path).path("web1").read_text())  # another process writes it
    doc["facts"][key.id]["value"] = {"kind": "file"}
    FactCache(tmp_path).path("web1").write_text(json.dumps(doc))
    assert FactCache(tmp_path).load("web1")[key.id].value == {"kind": "file"}
    assert parsed == ["web1", "web1"]


def test_a_fact_defined_again_gets_keys_of_its_new_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent imports a user's fact module afresh for every run: keys made for the old function are not reused."""
    import importlib
    import sys

    module = tmp_path / "myfacts_defaults.py"
    monkeypatch.syspath_prepend(str(tmp_path))
    source = (
        "from paracrine.fact import fact\n\n@fact\ndef probe(path: str, mode: str = {!r}) -> str:\n    return mode\n"
    )
    module.write_text(source.format("old"))
    importlib.import_module("myfacts_defaults")
    old = make_key("myfacts_defaults.probe", {"path": "/x"})
    assert old.args == {"path": "/x", "mode": "old"}
    assert make_key("myfacts_defaults.probe", {"path": "/x"}) is old
    del sys.modules["myfacts_defaults"]
    module.write_text(source.format("new") + "\n")  # another size: no stale bytecode
    importlib.invalidate_caches()
    importlib.import_module("myfacts_defaults")
    try:
        assert make_key("myfacts_defaults.probe", {"path": "/x"}).args == {"path": "/x", "mode": "new"}
    finally:
        from paracrine.fact import REGISTRY, generation

        sys.modules.pop("myfacts_defaults", None)
        REGISTRY.pop(("myfacts_defaults", "probe"), None)  # other tests list every registered fact
        generation[0] += 1

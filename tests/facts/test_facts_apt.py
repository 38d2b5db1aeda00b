"""Tests of paracrine.facts.apt: this machine's dpkg database, captured outputs, tmp_path trees."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_tools import FakeRun

from paracrine.facts import apt
from paracrine.factspec import spec_of


def _dpkg(*args: str) -> str:
    return subprocess.run(["dpkg", *args], capture_output=True, text=True, check=True).stdout.strip()


def test_packages_lists_dpkg_itself() -> None:
    packages = apt.packages()
    version = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "dpkg"], capture_output=True, text=True, check=True
    ).stdout
    assert packages["dpkg"] == {"version": version, "arch": _dpkg("--print-architecture")}
    assert "python3" in packages


def test_packages_has_a_cheap_fingerprint() -> None:
    assert spec_of(apt.packages).fingerprint is apt.packages_fingerprint
    st = os.stat(apt.DPKG_STATUS)
    assert apt.packages_fingerprint() == [st.st_mtime_ns, st.st_size, st.st_ino]


def test_fingerprint_is_none_without_dpkg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(apt, "DPKG_STATUS", str(tmp_path / "status"))
    assert apt.packages_fingerprint() is None


def test_parse_dpkg_query_captured(captured: Callable[[str], str]) -> None:
    packages = apt.parse_dpkg_query(captured("dpkg-query-bookworm-minbase.txt"))
    assert len(packages) == 149
    assert packages["python3"] == {"version": "3.11.2-1+b1", "arch": "amd64"}
    assert packages["adduser"] == {"version": "3.134", "arch": "all"}
    assert packages["git"]["version"] == "1:2.39.5-0+deb12u3"  # held ("hi") is installed
    assert "cron" not in packages  # removed, config files left ("rc")


def test_parse_dpkg_query_states_and_multiarch() -> None:
    text = "".join(
        f"{status}\t{name}\t1.0\t{arch}\n"
        for status, name, arch in [
            ("ii ", "libc6", "amd64"),
            ("ii ", "libc6", "i386"),
            ("hi ", "held", "amd64"),
            ("ri ", "going", "amd64"),
            ("iW ", "awaiting", "all"),
            ("it ", "pending", "all"),
            ("iU ", "unpacked", "amd64"),
            ("iF ", "halfconf", "amd64"),
            ("iHR", "broken", "amd64"),
            ("rc ", "removed", "amd64"),
            ("un ", "unknown", ""),
            ("pn ", "purged", ""),
        ]
    )
    packages = apt.parse_dpkg_query(text + "garbage line\n")
    assert sorted(packages) == ["awaiting", "going", "held", "libc6", "libc6:i386", "pending"]
    assert packages["libc6:i386"] == {"version": "1.0", "arch": "i386"}


def test_parse_sources_list_captured(captured: Callable[[str], str]) -> None:
    assert apt.parse_sources_list(captured("apt-sources-bookworm-minbase.list")) == [
        {
            "file": "/etc/apt/sources.list",
            "type": "deb",
            "uris": ["http://deb.debian.org/debian"],
            "suites": ["bookworm"],
            "components": ["main"],
            "options": {},
            "enabled": True,
        }
    ]


def test_parse_sources_list_options_comments_and_cdrom() -> None:
    text = (
        "# deb http://commented.example/ bookworm main\n"
        "\n"
        "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/x.gpg] https://x.example/apt stable main contrib\n"
        "deb-src\t[ trusted=yes ]\thttp://src.example/debian  bookworm-updates main # trailing comment\n"
        "deb cdrom:[Debian GNU/Linux 12.0.0 _Bookworm_ - Official amd64 DVD Binary-1]/ bookworm contrib main\n"
        "deb http://flat.example/repo ./\n"
    )
    entries = apt.parse_sources_list(text, "/etc/apt/sources.list.d/x.list")
    assert [(e["type"], e["uris"], e["suites"], e["components"], e["options"]) for e in entries] == [
        (
            "deb",
            ["https://x.example/apt"],
            ["stable"],
            ["main", "contrib"],
            {"arch": "amd64,arm64", "signed-by": "/usr/share/keyrings/x.gpg"},
        ),
        ("deb-src", ["http://src.example/debian"], ["bookworm-updates"], ["main"], {"trusted": "yes"}),
        (
            "deb",
            ["cdrom:[Debian GNU/Linux 12.0.0 _Bookworm_ - Official amd64 DVD Binary-1]/"],
            ["bookworm"],
            ["contrib", "main"],
            {},
        ),
        ("deb", ["http://flat.example/repo"], ["./"], [], {}),
    ]
    assert {e["file"] for e in entries} == {"/etc/apt/sources.list.d/x.list"}


@pytest.mark.parametrize(
    "line", ["deb http://x.example/", "rpm http://x.example/ stable main", "deb [arch=amd64 http://x stable"]
)
def test_parse_sources_list_rejects_malformed_lines(line: str) -> None:
    with pytest.raises(ValueError, match=r"x\.list:2: "):
        apt.parse_sources_list("# ok\n" + line + "\n", "x.list")


def test_parse_deb822_captured(captured: Callable[[str], str]) -> None:
    entries = apt.parse_deb822_sources(captured("apt-debian.sources"), "/etc/apt/sources.list.d/debian.sources")
    keyring = {"signed-by": "/usr/share/keyrings/debian-archive-keyring.gpg"}
    assert entries == [
        {
            "file": "/etc/apt/sources.list.d/debian.sources",
            "type": "deb",
            "uris": ["http://deb.debian.org/debian"],
            "suites": ["bookworm", "bookworm-updates"],
            "components": ["main"],
            "options": keyring,
            "enabled": True,
        },
        {
            "file": "/etc/apt/sources.list.d/debian.sources",
            "type": "deb",
            "uris": ["http://deb.debian.org/debian-security"],
            "suites": ["bookworm-security"],
            "components": ["main"],
            "options": keyring,
            "enabled": True,
        },
    ]
    (node,) = apt.parse_deb822_sources(captured("apt-nodesource.sources"), "nodesource.sources")
    assert node["options"] == {"architectures": "amd64", "signed-by": "/usr/share/keyrings/nodesource.gpg"}
    assert node["suites"] == ["nodistro"]


def test_parse_deb822_types_enabled_and_embedded_key() -> None:
    text = (
        "Types: deb deb-src\n"
        "URIs: https://a.example/debian\n"
        "  https://mirror.example/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "Signed-By:\n"
        " -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
        " .\n"
        " mQINBGRe\n"
        " -----END PGP PUBLIC KEY BLOCK-----\n"
        "\n"
        "\n"
        "# a disabled one\n"
        "Types: deb\n"
        "URIs: http://b.example/\n"
        "Suites: ./\n"
        "enabled: no\n"
        "X-Repolib-Name: b\n"
    )
    first, second, third = apt.parse_deb822_sources(text, "a.sources")
    assert (first["type"], second["type"]) == ("deb", "deb-src")
    assert first["uris"] == ["https://a.example/debian", "https://mirror.example/debian"]
    assert first["options"]["signed-by"] == (
        "\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGRe\n-----END PGP PUBLIC KEY BLOCK-----"
    )
    assert first["enabled"] and second["enabled"]
    assert third == {
        "file": "a.sources",
        "type": "deb",
        "uris": ["http://b.example/"],
        "suites": ["./"],
        "components": [],
        "options": {"x-repolib-name": "b"},
        "enabled": False,
    }


def test_parse_deb822_rejects_incomplete_stanzas() -> None:
    with pytest.raises(ValueError, match="lacks Types, URIs or Suites"):
        apt.parse_deb822_sources("Types: deb\nURIs: http://x/\n", "x.sources")
    with pytest.raises(ValueError, match=r"x\.sources:2: not a 'Field: value' line"):
        apt.parse_deb822_sources("Types: deb\nnonsense\n", "x.sources")


def test_sources_reads_both_formats_in_apt_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured: Callable[[str], str]
) -> None:
    main = tmp_path / "sources.list"
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    main.write_text(captured("apt-sources-bookworm-minbase.list"))
    (parts / "b-debian.sources").write_text(captured("apt-debian.sources"))
    (parts / "a-extra.list").write_text("deb http://extra.example/ stable main\n")
    (parts / "ignored.list.disabled").write_text("deb http://ignored.example/ x y\n")
    (parts / "bad name.list").write_text("deb http://ignored.example/ x y\n")
    (parts / "dir.list").mkdir()
    monkeypatch.setattr(apt, "SOURCES_LIST", str(main))
    monkeypatch.setattr(apt, "SOURCES_DIR", str(parts))
    entries = apt.sources()
    assert [(Path(e["file"]).name, e["uris"][0]) for e in entries] == [
        ("sources.list", "http://deb.debian.org/debian"),
        ("a-extra.list", "http://extra.example/"),
        ("b-debian.sources", "http://deb.debian.org/debian"),
        ("b-debian.sources", "http://deb.debian.org/debian-security"),
    ]


def test_sources_without_any_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(apt, "SOURCES_LIST", str(tmp_path / "sources.list"))
    monkeypatch.setattr(apt, "SOURCES_DIR", str(tmp_path / "sources.list.d"))
    assert apt.sources() == []


def test_sources_on_this_machine() -> None:
    entries = apt.sources()
    assert entries and all(e["type"] in ("deb", "deb-src") for e in entries)


def test_last_update(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stamp = tmp_path / "update-success-stamp"
    lists = tmp_path / "lists"
    monkeypatch.setattr(apt, "UPDATE_STAMP", str(stamp))
    monkeypatch.setattr(apt, "LISTS_DIR", str(lists))
    assert apt.last_update() is None
    lists.mkdir()
    (lists / "partial").mkdir()
    (lists / "lock").write_text("")
    assert apt.last_update() is None  # only a lock and a partial/ directory: never updated
    for name, mtime in [("a_InRelease", 1_700_000_000), ("a_Packages", 1_700_000_500)]:
        (lists / name).write_text("")
        os.utime(lists / name, (mtime, mtime))
    os.utime(lists / "lock", (1_800_000_000, 1_800_000_000))
    os.utime(lists, (1_600_000_000, 1_600_000_000))
    assert apt.last_update() == 1_700_000_500
    os.utime(lists, (1_750_000_000, 1_750_000_000))
    assert apt.last_update() == 1_750_000_000
    stamp.write_text("")
    os.utime(stamp, (1_650_000_000.5, 1_650_000_000.5))
    assert apt.last_update() == 1_650_000_000.5


def test_last_update_on_this_machine() -> None:
    value = apt.last_update()
    assert value is None or isinstance(value, float)


@pytest.mark.lab
def test_lab_packages(lab_fact: Callable[..., Any]) -> None:
    packages = lab_fact(apt.packages)
    assert "python3" in packages
    assert packages["dpkg"]["arch"] == "amd64"


@pytest.mark.lab
def test_lab_sources(lab_fact: Callable[..., Any]) -> None:
    entries = lab_fact(apt.sources)
    # Lab hosts have one source: the offline repository baked into the base image.
    assert any(e["type"] == "deb" and "file:/srv/lab-apt" in e["uris"] for e in entries), entries
    assert isinstance(lab_fact(apt.last_update), (float, type(None)))


# ---------------------------------------------------------------- candidates, upgrades, residual configs


def test_parse_apt_cache_policy_captured(captured: Callable[[str], str]) -> None:
    assert apt.parse_apt_cache_policy(captured("apt-cache-policy.txt")) == {
        "pcdemo": {"installed": "1.0-1", "candidate": "2.0-1"},
        "pcdemo2": {"installed": "1.0-1", "candidate": "1.1-1"},
        "pcnew": {"installed": None, "candidate": "1.0-1"},
        "nginx-light": {"installed": None, "candidate": "1.22.1-9+deb12u11"},
    }  # "nosuch" was asked for too: apt prints nothing for it


def test_parse_apt_cache_policy_without_candidate_and_other_architecture() -> None:
    text = "libc6:i386:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n"
    assert apt.parse_apt_cache_policy(text) == {"libc6:i386": {"installed": None, "candidate": None}}


def test_candidates_runs_apt_cache_policy(fake_run: FakeRun, captured: Callable[[str], str]) -> None:
    fake_run.add(["apt-cache", "policy", "pcdemo", "nosuch"], captured("apt-cache-policy.txt"))
    assert apt.candidates(["pcdemo", "nosuch"])["pcdemo"] == {"installed": "1.0-1", "candidate": "2.0-1"}
    assert apt.candidates([]) == {}
    assert spec_of(apt.candidates).fingerprint is not None


def test_parse_apt_simulation_captured(captured: Callable[[str], str]) -> None:
    upgrade = apt.parse_apt_simulation(captured("apt-get-s-upgrade.txt"))
    assert upgrade["pcdemo"] == "2.0-1" and upgrade["liblzma5"] == "5.4.1-1+deb12u2"
    assert "pcdemo2" not in upgrade  # kept back: it needs a new package
    dist = apt.parse_apt_simulation(captured("apt-get-s-dist-upgrade.txt"))
    assert (dist["pcdemo2"], dist["pcnew"]) == ("1.1-1", "1.0-1")
    removals = "Remv old [1.0]\nPurg gone [2.0]\nConf x (1 repo [all])\nInst y\n"
    assert apt.parse_apt_simulation(removals) == {"old": None, "gone": None, "y": None}


def test_upgradable_simulates(fake_run: FakeRun, captured: Callable[[str], str]) -> None:
    argv = ["apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"]
    fake_run.add(argv, captured("apt-get-s-dist-upgrade.txt"))
    assert apt.upgradable(dist=True)["pcnew"] == "1.0-1"


def test_parse_residual_captured(captured: Callable[[str], str]) -> None:
    assert apt.parse_residual(captured("dpkg-query-bookworm-minbase.txt")) == ["cron"]


def test_residual_configs_on_this_machine() -> None:
    assert all(isinstance(name, str) for name in apt.residual_configs())


def test_apt_state_fingerprint_sees_lists_through_links(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lists, repo = tmp_path / "lists", tmp_path / "repo"
    lists.mkdir()
    repo.mkdir()
    (repo / "Packages").write_text("Package: a\n")
    (lists / "_srv_repo_._Packages").symlink_to(repo / "Packages")
    monkeypatch.setattr(apt, "LISTS_DIR", str(lists))
    monkeypatch.setattr(apt, "APT_CONFIG_DIR", str(tmp_path / "etc"))
    before = apt.apt_state_fingerprint()
    assert before == apt.apt_state_fingerprint()
    (repo / "Packages").write_text("Package: a\n\nPackage: b\n")  # the repository grew in place
    assert apt.apt_state_fingerprint() != before


# ---------------------------------------------------------------- freshness of the lists


def test_update_age(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stamp, sources = tmp_path / "stamp", tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "debian.sources").write_text("")
    monkeypatch.setattr(apt, "UPDATE_STAMP", str(stamp))
    monkeypatch.setattr(apt, "LISTS_DIR", str(tmp_path / "lists"))
    monkeypatch.setattr(apt, "SOURCES_LIST", str(tmp_path / "sources.list"))
    monkeypatch.setattr(apt, "SOURCES_DIR", str(sources))
    assert apt.update_age() is None  # never updated
    for path in (sources, sources / "debian.sources"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    stamp.write_text("")
    age = apt.update_age()
    assert age is not None and 0 <= age < 60
    (sources / "new.sources").write_text("")  # a source changed after the update: stale
    os.utime(stamp, (1_700_000_100, 1_700_000_100))
    assert apt.update_age() is None
    os.utime(sources / "new.sources", (1_700_000_000, 1_700_000_000))
    os.utime(sources, (1_700_000_000, 1_700_000_000))
    age = apt.update_age()
    assert age is not None and age > 1e7


def test_update_age_is_stale_after_a_planned_source_change() -> None:
    from paracrine.changes import WriteFile
    from paracrine.gather import make_key
    from paracrine.predict import PredictedState

    state = PredictedState(lambda key: 30.0)
    key = make_key("apt.update_age", {})
    assert state.lookup(key) == 30.0
    state.apply(WriteFile("/etc/apt/sources.list.d/x.sources", b"Types: deb\n").effects())
    assert state.lookup(key) is None


# ---------------------------------------------------------------- .deb files


def _build(tmp_path: Path, compression: str) -> Path:
    tree = tmp_path / f"tree-{compression}"
    (tree / "DEBIAN").mkdir(parents=True)
    control = "Package: demo\nVersion: 2:1.0-1\nArchitecture: amd64\nMaintainer: t <t@invalid>\nDescription: d\n"
    (tree / "DEBIAN/control").write_text(control)
    deb = tmp_path / f"demo-{compression}.deb"
    argv = ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(tree), str(deb)]
    subprocess.run(argv, check=True, capture_output=True)
    return deb


@pytest.mark.parametrize("compression", ["gzip", "xz", "none", "zstd"])
def test_deb_file(tmp_path: Path, compression: str) -> None:
    deb = _build(tmp_path, compression)
    assert apt.deb_file(str(deb)) == {"package": "demo", "version": "2:1.0-1", "arch": "amd64"}
    assert apt.deb_file(str(tmp_path / "none.deb")) is None


def test_deb_file_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.deb").write_text("hello")
    with pytest.raises(ValueError, match="is not a Debian package"):
        apt.deb_file(str(tmp_path / "x.deb"))
    with pytest.raises(ValueError, match="has no Version field"):
        apt.parse_deb_control("Package: x\nArchitecture: all\n")

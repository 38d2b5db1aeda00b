"""paracrine.dag: the edges of a host's operation graph, cycles, conflicting claims, and the order of calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from planning import load

from paracrine import dag
from paracrine.errors import ConflictError, CycleError
from paracrine.operation import OpCall


def edges(calls: list[OpCall]) -> set[tuple[int, int, str]]:
    graph = dag.build(calls)
    return set(graph.edges())


def deploy(tmp_path: Path, source: str) -> list[OpCall]:
    return load(tmp_path, source.replace("TMP", str(tmp_path)))


def test_a_path_runs_after_the_operation_that_makes_its_nearest_parent_directory(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        from paracrine.operations import files
        engine_ops.note("TMP/app/sub/deep/conf")      # 0: declared before the directories it needs
        files.directory("TMP/app")                     # 1
        files.directory("TMP/app/sub", present=False)  # 2: provides nothing
        engine_ops.folder("TMP/app/sub")               # 3
        files.put(__file__, "TMP/app/copy")            # 4: dest= is a path too
        engine_ops.note("relative/path")               # 5: not a target path
        files.directory("TMP/app/")                    # 6: the same directory, normalised
        """,
    )
    assert edges(calls) == {
        (3, 0, "implicit"),  # the nearest parent, not TMP/app
        (1, 2, "implicit"),
        (1, 3, "implicit"),
        (1, 4, "implicit"),
        (2, 3, "implicit"),  # the same path: in declaration order
        (1, 6, "implicit"),  # TMP/app/ is TMP/app
    }
    order = [c.index for c in dag.order(dag.build(calls))]
    assert order == [1, 2, 3, 0, 4, 5, 6]


def test_owners_and_groups_run_after_the_operations_that_make_them(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        from paracrine.operations import files, server
        files.file("TMP/f", owner="svc", group="staff")         # 0
        server.user("svc", group="staff", groups=["extra"])     # 1
        server.group("staff")                                   # 2
        server.group("extra")                                   # 3
        files.directory("TMP/d", owner="other")                 # 4: nobody makes "other"
        server.user("svc2", home="TMP/home/svc2")               # 5: provides its home directory
        engine_ops.note("TMP/home/svc2/.profile")               # 6
        """,
    )
    assert edges(calls) == {
        (1, 0, "implicit"),
        (2, 0, "implicit"),
        (2, 1, "implicit"),
        (3, 1, "implicit"),
        (5, 6, "implicit"),
    }
    assert [c.index for c in dag.order(dag.build(calls))] == [2, 3, 1, 0, 4, 5, 6]


def test_requires_and_trigger_edges(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        a = engine_ops.note("TMP/a")
        b = engine_ops.note("TMP/b", requires=[a])
        svc = engine_ops.service("svc", log="TMP/log", reload_on=[a])
        engine_ops.note("TMP/c", notify=[svc], requires=[b])
        """,
    )
    assert edges(calls) == {(0, 1, "requires"), (0, 2, "trigger"), (3, 2, "trigger"), (1, 3, "requires")}
    assert [c.index for c in dag.order(dag.build(calls))] == [0, 1, 3, 2]
    assert dag.ancestors(dag.build(calls), 2) == {0, 1, 3}
    assert [t.index for t in calls[2].triggers] == [0, 3]
    assert [h.index for h in calls[0].handlers] == [2] and [h.index for h in calls[3].handlers] == [2]


def test_a_cycle_names_every_call_in_it(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        first = engine_ops.note("TMP/x/f")
        second = engine_ops.note("TMP/y", requires=[first])
        engine_ops.folder("TMP/x", requires=[second])
        engine_ops.note("TMP/unrelated")
        """,
    )
    with pytest.raises(CycleError) as info:
        dag.build(calls)
    where = [c.where for c in calls]
    assert info.value.message == (
        "operations depend on each other in a cycle: "
        f"engine_ops.note('{tmp_path}/x/f') [{where[0]}] -> engine_ops.note('{tmp_path}/y') [{where[1]}] -> "
        f"engine_ops.folder('{tmp_path}/x') [{where[2]}] -> engine_ops.note('{tmp_path}/x/f') [{where[0]}]"
    )
    assert info.value.host == "web1"
    assert info.value.hint == "remove one of the requires=/notify= links"
    assert "unrelated" not in info.value.message


def test_opposite_claims_on_one_path_are_a_conflict_naming_both_calls(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.note("TMP/f/", present=False, title="remove it")
        engine_ops.note("TMP/g")
        engine_ops.note("TMP/f", title="keep it")
        """,
    )
    with pytest.raises(ConflictError) as info:
        dag.build(calls)
    where = [c.where for c in calls]
    assert info.value.format_line() == (
        f"web1: path {tmp_path}/f is wanted present by keep it [{where[2]}] and absent by remove it [{where[0]}]; "
        "remove one of them; a run would undo the other every time"
    )


def test_the_same_claim_twice_and_calls_without_claims_are_fine(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.note("TMP/f")
        engine_ops.note("TMP/f", text="other")
        engine_ops.folder("TMP/f")
        """,
    )
    dag.check_claims(calls)


def test_independent_calls_keep_their_declaration_order(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        for name in "edcba":
            engine_ops.note(f"TMP/{name}")
        engine_ops.folder("TMP/z")
        engine_ops.note("TMP/z/after", requires=[])
        """,
    )
    assert [c.index for c in dag.order(dag.build(calls))] == [0, 1, 2, 3, 4, 5, 6]


def test_dot_output_colours_nodes_and_styles_edges(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        a = engine_ops.folder("TMP/a")
        engine_ops.note("TMP/a/f", requires=[a], title='say "hi"')
        engine_ops.service("svc", log="TMP/log", reload_on=[a])
        """,
    )
    status: dict[int, Any] = {0: "change", 1: "error", 2: "handler"}
    dot = dag.to_dot([("web1", dag.build(calls), status)])
    lines = dot.splitlines()
    assert lines[0] == "digraph paracrine {" and lines[-1] == "}"
    assert '  subgraph "cluster_web1" {' in lines
    assert any('fillcolor="orange"' in line and '"web1:0"' in line for line in lines)
    assert any('say \\"hi\\"' in line and 'fillcolor="red"' in line for line in lines)
    assert '    "web1:0" -> "web1:1" [style=solid, label="requires"];' in lines
    assert '    "web1:0" -> "web1:2" [style=bold, label="trigger"];' in lines


def test_declared_needs_order_a_call_after_what_provides_it(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        from paracrine.operations import postgresql, server
        postgresql.role("app", port=5433)                       # 0
        postgresql.sql("SELECT 1", database="app", port=5433)   # 1: needs the database, declared below
        server.user("app")                                      # 2
        postgresql.database("app", owner="app", port=5433)      # 3: needs the role (and the user: owner=)
        postgresql.sql("SELECT 2", database="app")              # 4: another server (port 5432): no edge
        """,
    )
    assert {(u, v) for u, v, _kind in edges(calls)} == {(0, 3), (3, 1), (2, 3)}
    assert [c.index for c in dag.order(dag.build(calls))] == [0, 2, 3, 1, 4]


class _Call:
    def __init__(self, index: int) -> None:
        self.index = index


def graph_of(count: int, edges: list[tuple[int, int]]) -> dag.Graph:
    graph = dag.Graph()
    for index in range(count):
        graph.add(_Call(index))  # type: ignore[arg-type]
    for before, after in edges:
        graph.add_edge(before, after, "requires")
    return graph


def test_the_graph_orders_by_dependency_then_by_lowest_index() -> None:
    graph = graph_of(6, [(5, 0), (3, 1), (4, 1), (2, 4)])
    assert graph.order() == [2, 3, 4, 1, 5, 0]  # the lowest ready index first
    assert graph.ancestors(1) == {2, 3, 4} and graph.ancestors(2) == set()
    assert graph.cycle() is None


def test_the_graph_finds_a_cycle_behind_an_acyclic_part() -> None:
    graph = graph_of(6, [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (5, 3), (2, 3)])
    assert graph.cycle() == [3, 4, 5]
    assert set(graph.order()) == {0, 1, 2}  # nodes of a cycle never become ready
    graph = graph_of(2, [(1, 1)])
    assert graph.cycle() == [1]


def test_a_second_edge_between_two_calls_replaces_the_first_kind() -> None:
    graph = graph_of(2, [(0, 1)])
    graph.add_edge(0, 1, "trigger")
    assert list(graph.edges()) == [(0, 1, "trigger")] and graph.has_edge(0, 1) and not graph.has_edge(1, 0)

"""Benchmark results are data: every file in benchmarks/results/ is well formed and docs/benchmarks.md is generated from them."""

import json
from pathlib import Path

import pytest

from benchmarks import make_docs

RESULTS = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "results").glob("*.json"))


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name)
def test_results_file_names_its_benchmark_and_holds_rows(path):
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["benchmark"] in make_docs.SUITE, (
        f"{path.name}: add {record['benchmark']!r} to benchmarks/make_docs.py SUITE"
    )
    if "tables" in record:  # carried over from an earlier page: each table says when it was measured
        for table in record["tables"]:
            assert table["source"].startswith("README table, measured ") and table["rows"]
            assert all(set(row) <= set(table["columns"]) for row in table["rows"])
    else:  # a run of the suite: the machine it ran on
        machine = record["machine"]
        for key in ("cpu", "cores", "threads", "load_average_before", "versions", "git_commit", "date", "device"):
            assert key in machine, f"{path.name}: machine lacks {key}"
        assert record["rows"]


def test_docs_benchmarks_md_is_generated_from_the_results():
    assert make_docs.main(["--check"]) == 0, "run: python -m benchmarks.make_docs"


def test_write_rows_records_the_machine(tmp_path):
    from benchmarks._results import machine_info, write_rows

    path = write_rows(
        "classifier_speed",
        [{"contender": "artgen", "s": 1.0}],
        machine=machine_info(threads=1),
        out=tmp_path / "r.json",
    )
    record = json.loads(path.read_text())
    assert record["rows"] == [{"contender": "artgen", "s": 1.0}]
    assert record["machine"]["threads"] == 1 and "load_average_after" in record["machine"]


MACHINE_FIELDS = (
    "cpu",
    "cores",
    "threads",
    "torch_threads",
    "load_average_before",
    "load_average_after",
    "versions",
    "git_commit",
    "date",
    "device",
    "gpu",
    "platform",
)


def test_a_runner_given_record_writes_its_rows_with_the_machine(tmp_path):
    """classifier_accuracy on 64 shapes, one epoch, two seeds: its --record path end to end."""
    import statistics

    from benchmarks import classifier_accuracy

    out = tmp_path / "run.json"
    args = ["--n-train", "64", "--n-test", "32", "--epochs", "1", "--seeds", "2", "--record", str(out)]
    assert classifier_accuracy.main(args) == 0
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["benchmark"] == "classifier_accuracy"
    missing = [key for key in MACHINE_FIELDS if key not in record["machine"]]
    assert not missing, f"machine lacks {missing}"
    assert record["machine"]["device"] == "cpu" and record["machine"]["versions"]["torch"]
    assert record["settings"]["epochs"] == 1 and "record" not in record["settings"]
    contenders = [row["contender"] for row in record["rows"]]
    assert len(contenders) == 4 and len(set(contenders)) == 4
    for row in record["rows"]:
        assert (row["train"], row["test"], row["epochs"], row["seeds"]) == (64, 32, 1, 2)
        assert len(row["per_seed"]) == 2 and all(0 <= a <= 1 for a in row["per_seed"])
        assert row["test_accuracy_mean"] == pytest.approx(statistics.mean(row["per_seed"]), abs=1e-4)
    # and docs/benchmarks.md would show it: its settings and one table line per contender
    text = make_docs.render(tmp_path)
    assert "Settings: `--seeds 2 --epochs 1 --n-train 64 --n-test 32`." in text
    assert all(f"| {name} |" in text for name in contenders)


def test_record_writes_nothing_without_the_flag(tmp_path):
    import argparse

    from benchmarks._results import add_record_flag, machine_info, record

    parser = argparse.ArgumentParser()
    add_record_flag(parser)
    rows = [{"contender": "artgen", "s": 1.0}]
    assert record(parser.parse_args([]), "gan_speed", rows, machine_info()) is None
    path = record(parser.parse_args(["--record", str(tmp_path / "r.json")]), "gan_speed", rows, machine_info())
    assert json.loads(path.read_text())["rows"] == rows
    with pytest.raises(ValueError, match="gan_speed"):
        record(parser.parse_args(["--record", str(tmp_path / "s.json")]), "gan_speed", [], machine_info())


def test_every_benchmark_in_the_suite_can_write_its_rows():
    """Each runner named in make_docs.SUITE calls write_rows, or add_record_flag and record (read from its code)."""
    import ast

    folder = Path(make_docs.__file__).parent
    for name in make_docs.SUITE:
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        called = {
            node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert "write_rows" in called or {"add_record_flag", "record"} <= called, (
            f"benchmarks/{name}.py writes no rows"
        )


@pytest.mark.parametrize("load, busy", [([11.7, 10.5, 7.3], True), ([0.4, 0.3, 0.2], False)])
def test_docs_say_when_a_run_was_measured_on_a_busy_machine(tmp_path, load, busy):
    from benchmarks._results import machine_info, write_rows

    machine = dict(machine_info(threads=1), cores=2, load_average_before=load)
    write_rows("gan_speed", [{"contender": "artgen", "img_per_s": 1.0}], machine=machine, out=tmp_path / "run.json")
    text = make_docs.render(tmp_path)
    assert ("busy machine (load average 11.7 on 2 cores)" in text) is busy

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

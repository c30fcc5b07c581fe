"""The flag matrix (benchmarks/flag_matrix.py): every documented option has rows, and its fast
covering subset runs: every value of every train/evaluate/export/predict option at least once
across the tasks, exit 0, a finite metric, train options recorded in run.json."""

import importlib.util
import math
import os

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "flag_matrix.py")


@pytest.fixture(scope="module")
def matrix():
    spec = importlib.util.spec_from_file_location("flag_matrix", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_documented_option_has_rows_and_the_fast_subset_covers_them(matrix, tmp_path):
    rows, _ = matrix.rows_for(matrix.TASKS, matrix.COMMANDS, str(tmp_path))
    for command in matrix.COMMANDS:
        for option, _ in matrix._parser_options(command):
            assert any(r["command"] == command and r["option"] == option for r in rows), option
    for task in matrix.TASKS:  # every option once per task (or a reason it does not apply)
        assert {(r["command"], r["option"]) for r in rows if r["task"] == task} == \
            {(r["command"], r["option"]) for r in rows}
    wanted = {(r["command"], r["option"], r["value"]) for r in rows
              if r["changes"] is not None} - matrix.NOT_IN_FAST
    fast = matrix.fast_rows(rows)
    covered = {(r["command"], o, v) for r in fast for o, v in r["items"]}
    assert covered == wanted
    assert len(fast) < len(rows) / 10
    values = {r["value"] for r in rows if r["option"] == "--task-arg"}
    assert {"loss=ce", "loss=dice", "loss=focal", "loss=ce+dice",
            "class_weights=median_frequency"} <= values


def test_a_new_flag_without_a_matrix_value_is_an_error(matrix, tmp_path, monkeypatch):
    import kerascv_apps.cli as cli

    add = cli.args_predict

    def with_new_flag(p):
        add(p)
        p.add_argument("--brand-new", type=int)

    monkeypatch.setitem(cli.COMMANDS, "predict", (*cli.COMMANDS["predict"][:1], with_new_flag,
                                                  cli.COMMANDS["predict"][2]))
    with pytest.raises(KeyError, match="predict --brand-new"):
        matrix.rows_for(("classification",), ("predict",), str(tmp_path))


def test_fast_flag_matrix_every_row_exits_0_with_a_finite_recorded_metric(matrix, tmp_path):
    rows = matrix.run_matrix(work=str(tmp_path), fast=True, log=lambda m: None)
    failed = [(r["option"], r["value"], r["task"], r["exit"], r.get("error")) for r in rows
              if r["exit"] != 0 or not math.isfinite(r["metric"]) or r.get("error")]
    assert not failed
    recorded = {o: v for r in rows if r["command"] == "train"
                for o, v in r["recorded"].items() if v is not None}
    assert set(matrix.RECORDED) <= set(recorded)
    table = matrix.format_table(rows)
    assert table.count("\n") == len(rows) + 1

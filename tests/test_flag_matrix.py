"""The flag matrix (benchmarks/flag_matrix.py): every documented option has rows, and its fast
covering subset runs: every value of every train/evaluate/export/predict option at least once
across the tasks, exit 0, a finite metric, train options recorded in run.json."""

import math

import pytest

from tests.scripts import load_script

# the fast subset runs about 15 CLI commands, each a fresh process (minutes): a longer bound
# than the suite's 300 s per test
pytestmark = pytest.mark.timeout(900)



@pytest.fixture(scope="module")
def matrix():
    return load_script("benchmarks/flag_matrix.py")


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


@pytest.fixture(scope="module")
def fast_matrix(matrix, tmp_path_factory):
    """The fast rows and the three tiny base runs they load (trained once per module)."""
    work = str(tmp_path_factory.mktemp("flag_matrix"))
    rows, setups = matrix.rows_for(matrix.TASKS, matrix.COMMANDS, work)
    fast = matrix.fast_rows(rows)
    for i, row in enumerate(fast):
        row["index"] = i
    matrix.prepare_base_runs(setups, work, log=lambda m: None)
    return fast, setups, work


# train rows in four parts, so that each test stays well inside the per-test time bound
PARTS = [("train", i) for i in range(4)] + [(c, 0) for c in ("evaluate", "export", "predict")]


@pytest.mark.parametrize("command, part", PARTS, ids=[f"{c}{p}" for c, p in PARTS])
def test_fast_flag_matrix_rows_exit_0_with_a_finite_recorded_metric(matrix, fast_matrix,
                                                                     command, part, monkeypatch):
    fast, setups, work = fast_matrix
    monkeypatch.chdir(work)  # what a row writes beside the current folder stays in the work dir
    mine = [r for r in fast if r["command"] == command]
    mine = mine[part::4] if command == "train" else mine
    assert mine
    for row in mine:
        matrix.run_row(row, setups, work)
    failed = [(r["option"], r["value"], r["task"], r["exit"], r.get("error")) for r in mine
              if r["exit"] != 0 or not math.isfinite(r["metric"]) or r.get("error")]
    assert not failed
    if command == "train":  # every recorded option's value was checked against its record
        for row in mine:
            for option, _ in row["items"]:
                assert (row["recorded"][option] is not None) == (option in matrix.RECORDED)
    table = matrix.format_table(mine)
    assert table.count("\n") == len(mine) + 1

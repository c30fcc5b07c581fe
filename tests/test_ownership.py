"""Cleanup only ever touches what this package created: staging and backup names carry the
``kcv`` marker, cleanup never looks beyond the folders it is given (or, for ``export``,
beyond the names of its own ``--out``), and ``clean`` says what it removes and why."""

import os
import shutil

from kerascv_apps.cli import main
from kerascv_apps.io import atomic_dir, clean_stale

from tests.conftest import dead_pid


def _lookalikes(folder, pid):
    """User files whose names look like an earlier version's staging names (issue 18)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".bashrc.old-2023-01-05").write_text("x")
    (folder / f".notes.tmp-{pid}-draft").write_text("y")
    (folder / f".cache.tmp-{pid}-x").mkdir()
    (folder / f".cache.tmp-{pid}-x" / "data").write_text("z")
    (folder / "projects" / "deep").mkdir(parents=True, exist_ok=True)
    (folder / "projects" / "deep" / ".env.old-1999-backup").write_text("secret")
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_export_keeps_lookalike_user_files_beside_out(lenet_run, tmp_path):
    work = tmp_path / "W"
    before = _lookalikes(work, dead_pid())
    out = work / "exp"
    assert main(["export", "--model-path", str(lenet_run / "model.keras"), "--out", str(out),
                 "--formats", "float32", "--max-int8-drop", "1"]) == 0
    after = sorted(str(p.relative_to(work)) for p in work.rglob("*") if not
                   str(p.relative_to(work)).startswith("exp"))
    assert after == before


def test_clean_lists_only_marked_leftovers_with_reasons(tmp_path, capsys):
    pid = dead_pid()
    work = tmp_path / "W"
    before = _lookalikes(work, pid)
    ours_tmp = work / f".exports.kcv-tmp-{pid}-0a1b2c"  # a killed export's staging folder
    ours_tmp.mkdir()
    (ours_tmp / "half.tflite").write_text("partial")
    assert main(["clean", "--dry-run", str(work)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"remove\t{ours_tmp}\t(staging copy of {work / 'exports'} written by PID "
                   f"{pid}, which is not running)"]
    assert main(["clean", str(work)]) == 0
    assert "removed 1 leftover(s)" in capsys.readouterr().err
    assert sorted(str(p.relative_to(work)) for p in work.rglob("*")) == before


def test_clean_never_searches_above_the_folders_given(tmp_path):
    pid = dead_pid()
    (tmp_path / f".runs.kcv-tmp-{pid}-abc").mkdir()
    (tmp_path / "runs").mkdir()
    assert clean_stale([str(tmp_path / "runs")], temp_dir=False, dry_run=True) == []
    assert clean_stale([str(tmp_path)], temp_dir=False, dry_run=True) == [
        str(tmp_path / f".runs.kcv-tmp-{pid}-abc")]


def test_train_keeps_lookalike_user_files_in_its_run_dir(lenet_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(lenet_run, run)
    pid = dead_pid()
    (run / f".notes.tmp-{pid}-draft").write_text("mine")
    (run / "notes").mkdir()
    (run / "notes" / f".plan.tmp-{pid}-v2").write_text("mine too")
    (run / f".last.keras.kcv-tmp-{pid}-0a1b.keras").write_text("killed writer")
    assert main(["train", "--model", "lenet5", "--epochs", "1", "--steps-per-epoch", "2",
                 "--batch-size", "16", "--augment", "none", "--run-dir", str(run),
                 "--overwrite"]) == 0
    assert (run / f".notes.tmp-{pid}-draft").read_text() == "mine"
    assert (run / "notes" / f".plan.tmp-{pid}-v2").read_text() == "mine too"
    assert not (run / f".last.keras.kcv-tmp-{pid}-0a1b.keras").exists()


def test_staging_names_carry_the_marker(tmp_path):
    seen = []
    with atomic_dir(tmp_path / "d") as stage:
        seen.append(os.path.basename(stage))
    assert seen[0].startswith(".d.kcv-tmp-")
    assert sorted(os.listdir(tmp_path)) == ["d"]

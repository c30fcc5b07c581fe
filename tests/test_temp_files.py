"""Commands work in a temp folder of their own (``kcv_proc_<pid>_*``): what TensorFlow,
AutoGraph or Keras write to ``$TMPDIR`` is not left beside the user's files by a killed run,
and ``clean`` removes a killed run's folder (its PID proves it is ours)."""

import os
import subprocess
import sys

from kerascv_apps.cli import main


def test_killed_export_leaves_only_its_marked_temp_folder_which_clean_removes(
        lenet_run, tmp_path, capsys, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    (temp / "user_notes.txt").write_text("mine")
    env = dict(os.environ, TMPDIR=str(temp), KERASCV_APPS_KILL_AT="dir.staged",
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, "-m", "kerascv_apps.cli", "export", "--model-path",
                             str(lenet_run / "model.keras"), "--out", str(tmp_path / "exp"),
                             "--formats", "savedmodel", "--max-int8-drop", "1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.wait() == -9  # killed once everything was converted, before publishing
    left = sorted(os.listdir(temp))
    assert left[0].startswith(f"kcv_proc_{proc.pid}_") and left[1:] == ["user_notes.txt"]
    assert any(n.startswith("__autograph_generated_file")  # what it wrote went in there
               for n in os.listdir(temp / left[0]))
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    assert main(["clean", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"temp folder of PID {proc.pid}" in out and ".exp.kcv-tmp-" in out
    assert os.listdir(temp) == ["user_notes.txt"]
    assert sorted(os.listdir(tmp_path)) == ["tmp"]

"""The suite's own bounds (tests/suite_bounds.py, setup.cfg): a test that kills its process and a
test that hangs each end the run with a failure naming them, in seconds, and the tests that
could not run are listed. Run on a throw-away suite with the same options (the per-test timeout
shortened to 4 s)."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_suite(tmp_path, files, timeout="4"):
    (tmp_path / "pytest.ini").write_text(textwrap.dedent(f"""\
        [pytest]
        addopts = -n 2 --dist loadfile --max-worker-restart=0 -p no:cacheprovider
        timeout = {timeout}
        timeout_method = thread
        """))
    (tmp_path / "conftest.py").write_text('pytest_plugins = ("tests.suite_bounds",)\n')
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    return proc, time.monotonic() - start


def test_a_test_that_kills_its_process_ends_the_run_naming_it(tmp_path):
    proc, seconds = _run_suite(tmp_path, {
        "test_abort.py": """
            import os
            def test_fine():
                pass
            def test_kills_its_process():
                os.abort()
            def test_after_the_abort():
                pass
            """,
        "test_later.py": """
            import time
            def test_waiting_its_turn():
                time.sleep(1)
            def test_also_waiting():
                time.sleep(1)
            """,
    }, timeout="60")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "crashed while running 'test_abort.py::test_kills_its_process'" in out, out[-3000:]
    assert "never ran" in out and "test_abort.py::test_after_the_abort" in out
    assert seconds < 60, f"the run took {seconds:.0f} s"


def test_a_hanging_test_ends_the_run_naming_it(tmp_path):
    proc, seconds = _run_suite(tmp_path, {
        "test_hang.py": """
            import time
            def test_hangs():
                time.sleep(600)
            """,
        "test_other.py": """
            def test_ok():
                pass
            """,
    })
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "test_hang.py::test_hangs: stopped by the per-test timeout (4 s)" in out, out[-3000:]
    assert seconds < 60, f"the run took {seconds:.0f} s"


def test_a_clean_suite_passes_with_the_bounds(tmp_path):
    proc, _ = _run_suite(tmp_path, {f"test_{i}.py": "def test_ok():\n    pass\n" for i in range(3)})
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "3 passed" in proc.stdout and "never ran" not in proc.stdout

"""The phone core (android_demo/core, plain Java) against test vectors the exporter writes in
this run: javac + JUnit 4 (Debian's junit4, installed by `make test` when missing)."""

import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from kerascv_apps.export.phone_vectors import write_test_vectors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "android_demo", "core")
JUNIT_JAR = "/usr/share/java/junit4.jar"  # its manifest brings hamcrest-core.jar along


def _test_classes():
    tests = os.path.join(CORE, "src", "test", "java")
    return sorted(os.path.relpath(p, tests)[:-5].replace(os.sep, ".")
                  for p in glob.glob(os.path.join(tests, "**", "*Test.java"), recursive=True))


@pytest.fixture(scope="module")
def core_classes(tmp_path_factory):
    if shutil.which("javac") is None or not os.path.exists(JUNIT_JAR):
        pytest.fail(f"the JVM core tests need javac and {JUNIT_JAR}: run `make junit4` "
                    "(installs Debian's junit4) or `make test`")
    out = tmp_path_factory.mktemp("core_classes")
    sources = sorted(glob.glob(os.path.join(CORE, "src", "**", "*.java"), recursive=True))
    result = subprocess.run(["javac", "-encoding", "UTF-8", "-d", str(out), "-cp", JUNIT_JAR] + sources,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"javac failed:\n{result.stderr[-4000:]}"
    return str(out)


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    return write_test_vectors(str(tmp_path_factory.mktemp("vectors") / "v"), progress=lambda *_: None)


def _junit(classes_dir, vectors_dir, test_classes):
    result = subprocess.run(
        ["java", f"-Dkerascv.vectors={vectors_dir}", "-cp", f"{classes_dir}{os.pathsep}{JUNIT_JAR}",
         "org.junit.runner.JUnitCore"] + list(test_classes),
        capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def test_jvm_core_matches_the_exporter_vectors(core_classes, vectors, capsys):
    classes = _test_classes()
    assert {"org.kerascv.core.VectorsTest", "org.kerascv.core.ResizeTest",
            "org.kerascv.core.DetectionTest"} <= set(classes)
    code, out = _junit(core_classes, vectors, classes)
    summary = re.search(r"^(OK \((\d+) tests?\)|Tests run: \d+,\s+Failures: \d+)", out, re.M)
    with capsys.disabled():
        print(f"\n[android_demo/core JUnit] {summary.group(1) if summary else 'no summary'}")
    assert code == 0, out[-6000:]
    assert summary and summary.group(2) is not None and int(summary.group(2)) >= 35, out[-2000:]


def _edit_json(path, fn):
    with open(path) as f:
        data = json.load(f)
    fn(data)
    with open(path, "w") as f:
        json.dump(data, f)


def test_changed_quantization_parameters_fail_the_jvm_tests(core_classes, vectors, tmp_path):
    """Vectors whose contract no longer matches the exported model (the exporter changed the
    quantization) must be caught by the core: wrong input bytes, wrong decoded pixels."""
    changed = tmp_path / "changed"
    shutil.copytree(vectors, changed)

    def scale_input(c):
        c["input"]["quantization"]["scale"] *= 1.02

    def shift_output_zero_point(c):
        c["outputs"][0]["quantization"]["zero_point"] += 3

    _edit_json(changed / "classification" / "contract.json", scale_input)
    _edit_json(changed / "super_resolution" / "contract.json", shift_output_zero_point)
    code, out = _junit(core_classes, str(changed), ["org.kerascv.core.VectorsTest"])
    assert code != 0, out[-3000:]
    failed = re.findall(r"^\d+\) (\w+)\(", out, re.M)
    assert sorted(failed) == ["classificationInputTensorMatchesBytes",
                              "superResolutionTilesAndImageMatch"], out[-3000:]
    assert re.search(r"classification input: \d+ of \d+ bytes differ", out), out[-3000:]
    # the untouched vectors still pass, so the failures come from the edits alone
    code, out = _junit(core_classes, vectors, ["org.kerascv.core.VectorsTest"])
    assert code == 0, out[-3000:]


def test_changed_letterbox_and_restoration_contracts_fail_the_jvm_tests(core_classes, vectors,
                                                                         tmp_path):
    """The detection and restoration vectors bite: a letterbox contract whose padding differs
    from what the exporter fed LiteRT, and a restorer whose output zero point moved, each fail
    exactly their test."""
    changed = tmp_path / "changed"
    shutil.copytree(vectors, changed)

    def pad_with_zero(c):
        assert c["input"]["resize"]["fit"] == "letterbox"
        c["input"]["resize"]["pad_value"] = 0.0

    def shift_output_zero_point(c):
        c["outputs"][0]["quantization"]["zero_point"] += 3

    _edit_json(changed / "detection_letterbox" / "contract.json", pad_with_zero)
    _edit_json(changed / "restoration" / "contract.json", shift_output_zero_point)
    code, out = _junit(core_classes, str(changed),
                       ["org.kerascv.core.DetectionTest", "org.kerascv.core.VectorsTest"])
    assert code != 0, out[-3000:]
    failed = re.findall(r"^\d+\) (\w+)\(", out, re.M)
    assert sorted(failed) == ["letterboxedInputAndDecodedBoxesMatchTheExporter",
                              "restorationTilesAndImageMatch"], out[-3000:]
    assert re.search(r"detection_letterbox input: bytes differ expected:<0> but was:<\d+>", out), \
        out[-3000:]

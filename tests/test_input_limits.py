"""One pixel budget for every decoder: images whose header says they are larger are refused
before their pixels are decoded, naming their size (predict, serving_bytes, folder sources);
``--max-pixels`` / ``KERASCV_APPS_MAX_PIXELS`` set it."""

import json
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascv_apps import build_model
from kerascv_apps.cli import main
from kerascv_apps.data import DataError, load_dataset
from kerascv_apps.export.savedmodel import export_savedmodel
from kerascv_apps.tasks import get_task


def _png_header(width, height):
    """A PNG whose header claims ``width`` x ``height`` (8-bit grey) with almost no data: what
    a decompression bomb looks like before decoding."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _png(array):
    import io

    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def test_predict_refuses_an_image_above_the_budget_naming_its_size(lenet_run, tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(16000, 16000))
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(small)
    model = str(lenet_run / "model.keras")
    assert main(["predict", "--model-path", model, str(bomb), str(small)]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "16000x16000 = 256,000,000 pixels is more than the pixel budget of 89,478,485" in \
        lines[0]["error"]
    assert "top" in lines[1]
    assert main(["--max-pixels", "1000", "predict", "--model-path", model, str(small)]) == 1
    assert "40x40 = 1,600 pixels is more than the pixel budget of 1,000" in \
        json.loads(capsys.readouterr().out.splitlines()[0])["error"]


def test_folder_sources_use_the_same_budget(tmp_path, monkeypatch):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / c / f"{i}.png")
    monkeypatch.setenv("KERASCV_APPS_MAX_PIXELS", "63")
    with pytest.raises(DataError, match=r"8x8 = 64 pixels is more than max_pixels=63"):
        load_dataset(f"folder:{tmp_path}")


@pytest.fixture(scope="module")
def small_budget_export(tmp_path_factory):
    """An (untrained) LeNet-5 exported with a budget of 5,000 pixels per request."""
    mp = pytest.MonkeyPatch()
    mp.setenv("KERASCV_APPS_MAX_PIXELS", "5000")
    try:
        path = export_savedmodel(build_model("lenet5"), tmp_path_factory.mktemp("budget"),
                                 "lenet5", get_task("classification", num_classes=10))
    finally:
        mp.undo()
    return tf.saved_model.load(path).signatures["serving_bytes"]


def test_serving_bytes_checks_headers_before_decoding(small_budget_export):
    serve = small_budget_export
    ok = serve(image_bytes=tf.constant([_png(np.zeros((32, 32), np.uint8))] * 2))
    assert ok["probabilities"].shape == (2, 10)
    for request in ([_png_header(16000, 16000)],                      # one bomb
                    [_png(np.zeros((100, 100), np.uint8))],            # one image too large
                    [_png(np.zeros((50, 50), np.uint8))] * 3):         # too many pixels in all
        with pytest.raises(tf.errors.InvalidArgumentError, match="budget of 5,000"):
            serve(image_bytes=tf.constant(request))

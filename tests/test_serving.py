"""The serving contract, tested as a server sees it: TF's loader, ``saved_model_cli``, and the
REST and gRPC clients against local stub servers that run the exported SavedModel.

Fixtures (built once): a LeNet-5 trained a few steps on digits (1 channel, fixed 32x32), a tiny
U-Net (3 channels, fixed 32x32) and a tiny ESPCN x2 (3 channels, any size).
"""

import base64
import concurrent.futures
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerascv_apps import build_model
from kerascv_apps.export.savedmodel import decode_image, export_savedmodel
from kerascv_apps.tasks import get_task

ROOT = os.path.join(os.path.dirname(__file__), "..")
SERVING = os.path.join(ROOT, "export", "serving")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _encode(array, fmt, mode=None):
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format=fmt)
    return buf.getvalue()


def _module(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SERVING, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    import keras

    from kerascv_apps.data import load_dataset

    keras.utils.set_random_seed(0)
    base = tmp_path_factory.mktemp("serving")
    splits = load_dataset("digits")
    lenet = build_model("lenet5")
    lenet.compile("adam", "sparse_categorical_crossentropy")
    lenet.fit(splits.train.batch(64).take(8), epochs=1, verbose=0)
    names = [f"digit_{i}" for i in range(10)]
    unet = build_model("unet_same", input_shape=(32, 32, 3), num_classes=3, base_filters=4,
                       depth=2)
    espcn = build_model("espcn_x2", stackwise_num_filters=(8, 4))
    paths = {
        "lenet": export_savedmodel(lenet, base, "lenet5",
                                   get_task("classification", num_classes=10, class_names=names)),
        "unet": export_savedmodel(unet, base, "unet", get_task("segmentation", num_classes=3)),
        "espcn": export_savedmodel(espcn, base, "espcn", get_task("super_resolution", scale=2)),
    }
    loaded = {k: tf.saved_model.load(p) for k, p in paths.items()}
    digits = np.stack([x for x, _ in splits.test.take(8).as_numpy_iterator()]).round()
    return dict(paths=paths, loaded=loaded, models=dict(lenet=lenet, unet=unet, espcn=espcn),
                names=names, digits=digits, base=str(base))


def _sig(exports, key, name):
    return exports["loaded"][key].signatures[name]


# --- layout and outputs ------------------------------------------------------------------
def test_layout_labels_and_class_names(exports):
    path = exports["paths"]["lenet"]
    assert path.endswith(os.path.join("lenet5", "1"))
    with open(os.path.join(path, "assets", "labels.txt")) as f:
        assert f.read().split("\n")[:10] == exports["names"]
    assert not os.path.exists(os.path.join(exports["paths"]["espcn"], "assets", "labels.txt"))
    for batch in (1, 8):
        x = exports["digits"][:batch]
        expected = np.asarray(exports["models"]["lenet"](x))
        out = _sig(exports, "lenet", "serving_default")(images=tf.constant(x))
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
        ids = expected.argmax(-1)
        np.testing.assert_array_equal(out["class_id"].numpy(), ids)
        assert [n.decode() for n in out["class_names"].numpy()] == \
            [exports["names"][i] for i in ids]
        pngs = [_encode(im[..., 0].astype(np.uint8), "PNG") for im in x]
        out = _sig(exports, "lenet", "serving_bytes")(image_bytes=tf.constant(pngs))
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)


def test_segmentation_mask_and_sr_uint8_image(exports):
    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype(np.float32)
    out = _sig(exports, "unet", "serving_default")(images=tf.constant(x))
    assert set(out) == {"mask"} and out["mask"].dtype == tf.int32
    np.testing.assert_array_equal(out["mask"].numpy(),
                                  np.asarray(exports["models"]["unet"](x)).argmax(-1))
    lr = x[:1, :12, :10]
    out = _sig(exports, "espcn", "serving_default")(images=tf.constant(lr))
    assert out["image"].dtype == tf.uint8 and out["image"].shape == (1, 24, 20, 3)
    ref = np.clip(np.round(np.asarray(exports["models"]["espcn"](lr))), 0, 255)
    assert np.abs(out["image"].numpy().astype(int) - ref).max() <= 1


# --- serving_bytes decoding ----------------------------------------------------------------
def test_decode_formats_and_16_bit_png():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    for fmt in ("PNG", "BMP", "GIF"):  # lossless (GIF: a palette of < 256 colours is exact)
        src = grey if fmt == "GIF" else rgb
        data = _encode(src if fmt != "GIF" else np.repeat(src[..., None], 3, -1), fmt)
        got3 = decode_image(tf.constant(data), 3).numpy()
        expect = np.repeat(grey[..., None], 3, -1) if fmt == "GIF" else rgb
        np.testing.assert_array_equal(got3, expect.astype(np.float32), err_msg=fmt)
        got1 = decode_image(tf.constant(data), 1).numpy()  # GIF/BMP: decoders give no grey
        assert got1.shape == (6, 5, 1), fmt
    grey_png = _encode(grey, "PNG")
    np.testing.assert_array_equal(decode_image(tf.constant(grey_png), 1).numpy()[..., 0], grey)
    data = _encode(rgb, "JPEG")
    jpeg = decode_image(tf.constant(data), 3).numpy()
    reference = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)
    assert jpeg.shape == (6, 5, 3) and np.abs(jpeg - reference).mean() < 2
    # 16-bit PNG: p8 = p16 >> 8 (high byte), distinguishable from rounding v * 255 / 65535
    p16 = np.array([[0, 255, 256, 0x80FF], [0x7F80, 65280, 65534, 65535]], np.uint16)
    got = decode_image(tf.constant(_encode(p16, "PNG")), 1).numpy()[..., 0]
    np.testing.assert_array_equal(got, (p16 >> 8).astype(np.float32))
    assert not np.array_equal(got, np.round(p16 * 255.0 / 65535.0))


def test_bytes_batch_of_mixed_formats_and_sizes(exports):
    """Fixed-size model: every image resized like training (bilinear, antialiased)."""
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(32, 32), (20, 24), (64, 48),
                                                                (32, 32), (40, 40)]]
    datas = [_encode(images[0], "PNG"), _encode(images[1], "BMP"),
             _encode(np.repeat(images[2][..., None], 3, -1), "PNG"), _encode(images[3], "GIF"),
             _encode(images[4], "PNG")]
    out = _sig(exports, "lenet", "serving_bytes")(image_bytes=tf.constant(datas))
    pixels = [decode_image(tf.constant(d), 1) for d in datas]
    resized = np.stack([tf.image.resize(p, (32, 32), antialias=True).numpy()
                        if p.shape[:2] != (32, 32) else p.numpy() for p in pixels])
    expected = np.asarray(exports["models"]["lenet"](resized))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    # 3-channel fixed-size model: grey PNG, RGBA PNG, GIF, JPEG in one batch
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    mixed = [_encode(images[1], "PNG"), _encode(rgba, "PNG"),
             _encode(np.repeat(images[0][..., None], 3, -1), "GIF"),
             _encode(rgba[..., :3], "JPEG")]
    assert _sig(exports, "unet", "serving_bytes")(
        image_bytes=tf.constant(mixed))["mask"].shape == (4, 32, 32)


# --- malformed requests: (signature, model, request, expected message) ----------------------
MALFORMED = [
    ("serving_default", "lenet", lambda: np.zeros((32, 32, 1), np.float32),
     "images must be a rank-4 float32 tensor [batch, 32, 32, 1]"),
    ("serving_default", "lenet", lambda: np.zeros((1, 1, 32, 32, 1), np.float32),
     "images must be a rank-4"),
    ("serving_default", "lenet", lambda: np.zeros((2, 32, 32, 3), np.float32),
     "images must have 1 channel(s)"),
    ("serving_default", "lenet", lambda: np.zeros((0, 32, 32, 1), np.float32),
     "images is an empty batch"),
    ("serving_default", "lenet", lambda: np.zeros((1, 28, 28, 1), np.float32),
     "images must be 32x32 (height x width)"),
    ("serving_default", "unet", lambda: np.zeros((1, 32, 32, 1), np.float32),
     "images must have 3 channel(s)"),
    ("serving_default", "espcn", lambda: np.zeros((8, 8, 3), np.float32),
     "images must be a rank-4 float32 tensor [batch, height, width, 3]"),
    ("serving_default", "espcn", lambda: np.zeros((1, 0, 8, 3), np.float32),
     "images must have a height and width > 0"),
    ("serving_bytes", "lenet", lambda: np.array(_encode(np.zeros((4, 4), np.uint8), "PNG"),
                                                dtype=object),
     "image_bytes must be a rank-1 string tensor [batch]"),
    ("serving_bytes", "lenet", lambda: np.array([], dtype=object), "image_bytes is an empty batch"),
    ("serving_bytes", "lenet", lambda: np.array([_encode(np.zeros((4, 4), np.uint8), "PNG"),
                                                 b"not an image"], dtype=object),
     "every element must be an encoded PNG, JPEG, GIF, BMP file"),
    ("serving_bytes", "espcn", lambda: np.array([_encode(np.zeros((4, 4, 3), np.uint8), "PNG"),
                                                 _encode(np.zeros((5, 4, 3), np.uint8), "PNG")],
                                                dtype=object),
     "the images of one request must share one size"),
]


@pytest.mark.parametrize("signature,key,request_fn,message", MALFORMED,
                         ids=[f"{s}-{k}-{m[:24]}" for s, k, _, m in MALFORMED])
def test_malformed_request_refused_with_message(exports, signature, key, request_fn, message):
    arg = "images" if signature == "serving_default" else "image_bytes"
    value = request_fn()
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        _sig(exports, key, signature)(**{arg: tf.constant(value)})
    assert message in info.value.message


def test_wrong_dtype_refused_by_the_signature(exports):
    with pytest.raises((tf.errors.InvalidArgumentError, TypeError, ValueError),
                       match="float"):
        _sig(exports, "lenet", "serving_default")(images=tf.zeros((1, 32, 32, 1), tf.int32))


# --- saved_model_cli (what TF Serving users run before deploying) -------------------------
# One subprocess runs every request through saved_model_cli's own `run` code path (a TF1
# session over the SavedModel's graph, like a server) and its `show --all`; a second one runs
# the real command line with the rank-3 request that used to abort the process.
CLI_SCRIPT = """
import contextlib, io, json, sys
import numpy as np
from tensorflow.python.tools import saved_model_cli as cli
out = {}
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    cli._show_all(sys.argv[2])
out["show"] = buf.getvalue()
for case in json.load(open(sys.argv[1])):
    value = np.load(case["npy"], allow_pickle=True)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            cli.run_saved_model_with_feed_dict(case["dir"], "serve", case["signature"],
                                               {case["key"]: value}, case["outdir"], True)
        out[case["id"]] = {"ok": True}
    except Exception as e:
        out[case["id"]] = {"ok": False, "type": type(e).__name__,
                           "message": getattr(e, "message", str(e))[:3000]}
print(json.dumps(out))
"""


def _mixed_pngs(count, seed=3):
    rng = np.random.default_rng(seed)
    return [_encode(rng.integers(0, 256, (20 + i, 30 - i), dtype=np.uint8), "PNG")
            for i in range(count)]


@pytest.fixture(scope="module")
def cli_results(exports, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    cases = []
    requests = [(f"malformed{i}", s, k, f(), m) for i, (s, k, f, m) in enumerate(MALFORMED)]
    digits = exports["digits"]
    requests += [("default_b1", "serving_default", "lenet", digits[:1], None),
                 ("default_b8", "serving_default", "lenet", digits[:8], None),
                 ("bytes_b1", "serving_bytes", "lenet", np.array(_mixed_pngs(1), object), None),
                 ("bytes_b8_mixed", "serving_bytes", "lenet", np.array(_mixed_pngs(8), object),
                  None)]
    for case_id, signature, key, value, _ in requests:
        npy = tmp / f"{case_id}.npy"
        np.save(npy, value, allow_pickle=True)
        cases.append(dict(id=case_id, npy=str(npy), dir=exports["paths"][key],
                          signature=signature, outdir=str(tmp / case_id),
                          key="images" if signature == "serving_default" else "image_bytes"))
    with open(tmp / "cases.json", "w") as f:
        json.dump(cases, f)
    proc = subprocess.run([sys.executable, "-c", CLI_SCRIPT, str(tmp / "cases.json"),
                           exports["paths"]["lenet"]], capture_output=True, text=True, env=ENV,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), requests, tmp


def test_saved_model_cli_show(cli_results):
    show = cli_results[0]["show"]
    for text in ("signature_def['serving_default']", "signature_def['serving_bytes']",
                 "inputs['image_bytes']", "outputs['class_names']", "dtype: DT_STRING"):
        assert text in show, text


def test_saved_model_cli_run_every_request(cli_results, exports):
    results, requests, tmp = cli_results
    for case_id, signature, key, value, message in requests:
        r = results[case_id]
        if message is None:
            assert r["ok"], (case_id, r)
            ids = np.load(tmp / case_id / "class_id.npy")
            arg = {"images" if signature == "serving_default" else "image_bytes":
                   tf.constant(value if signature == "serving_default" else list(value))}
            expected = _sig(exports, key, signature)(**arg)["class_id"].numpy()
            np.testing.assert_array_equal(ids, expected)
            assert ids.shape == (len(value),)
        else:
            assert not r["ok"] and r["type"] == "InvalidArgumentError", (case_id, r)
            assert message in r["message"], (case_id, r)


def test_saved_model_cli_run_rank3_is_an_error_exit_not_a_signal(exports, tmp_path):
    """The request that used to abort the process (oneDNN check) gets an error and a message."""
    np.save(tmp_path / "rank3.npy", np.zeros((32, 32, 1), np.float32))
    proc = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run", "--dir",
         exports["paths"]["lenet"], "--tag_set", "serve", "--signature_def", "serving_default",
         "--inputs", f"images={tmp_path / 'rank3.npy'}"],
        capture_output=True, text=True, env=ENV, timeout=180)
    assert proc.returncode > 0, (proc.returncode, proc.stderr[-2000:])  # < 0 would be a signal
    assert "images must be a rank-4 float32 tensor [batch, 32, 32, 1]" in proc.stderr


# --- clients against local stub servers ---------------------------------------------------
def _status(error):
    """The runtime's status line (what TF Serving returns), without Python's graph trace."""
    lines = error.message.splitlines()
    return next((line for line in lines if "assertion failed" in line), lines[0])


def _rows(outputs):
    out = []
    for i in range(len(next(iter(outputs.values())))):
        row = {}
        for k, v in outputs.items():
            item = v.numpy()[i]
            row[k] = item.decode() if isinstance(item, bytes) else item.tolist()
        out.append(row)
    return out


class _RestStub(BaseHTTPRequestHandler):
    """``POST /v1/models/<name>:predict`` like TF Serving's REST API (row format, b64)."""

    loaded = None

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        signature = self.loaded.signatures[body.get("signature_name", "serving_default")]
        key = next(iter(body["instances"][0]))
        values = [base64.b64decode(i[key]["b64"]) for i in body["instances"]]
        try:
            reply, code = {"predictions": _rows(signature(**{key: tf.constant(values)}))}, 200
        except tf.errors.InvalidArgumentError as e:
            reply, code = {"error": _status(e)}, 400
        data = json.dumps(reply).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def images(tmp_path_factory, exports):
    folder = tmp_path_factory.mktemp("client_images")
    paths = []
    for i, im in enumerate(exports["digits"][:3]):
        fmt = ("PNG", "BMP", "GIF")[i]
        path = folder / f"digit{i}.{fmt.lower()}"
        path.write_bytes(_encode(im[..., 0].astype(np.uint8), fmt))
        paths.append(str(path))
    junk = folder / "junk.png"
    junk.write_bytes(b"this is not an image")
    return paths, str(junk)


@pytest.fixture(scope="module")
def rest_server(exports):
    handler = type("Handler", (_RestStub,), {"loaded": exports["loaded"]["lenet"]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/models/lenet5"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _rest(*args):
    return subprocess.run([sys.executable, os.path.join(SERVING, "client.py"), *args],
                          capture_output=True, text=True, timeout=60)


def test_rest_client(rest_server, images, exports):
    paths, junk = images
    proc = _rest("--url", rest_server, *paths)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    expected = np.asarray(exports["models"]["lenet"](exports["digits"][:3])).argmax(-1)
    assert [r["class_id"] for r in rows] == expected.tolist()
    assert [r["class_names"] for r in rows] == [exports["names"][i] for i in expected]
    assert [r["file"] for r in rows] == [os.path.basename(p) for p in paths]
    refused = _rest("--url", rest_server, paths[0], junk)
    assert refused.returncode == 1 and "HTTP 400" in refused.stderr
    assert "every element must be an encoded" in refused.stderr
    assert "Traceback" not in refused.stderr
    down = _rest("--url", f"http://127.0.0.1:{_free_port()}/v1/models/lenet5", paths[0])
    assert down.returncode == 1 and "cannot reach the TF Serving REST API" in down.stderr
    assert "Traceback" not in down.stderr
    missing = _rest("--url", rest_server, "no_such_file.png")
    assert missing.returncode == 2 and "no_such_file.png" in missing.stderr
    bad_url = _rest("--url", "localhost:8501", paths[0])
    assert bad_url.returncode == 2 and "--url must look like" in bad_url.stderr
    for script in ("client.py", "grpc_client.py"):
        helped = subprocess.run([sys.executable, os.path.join(SERVING, script), "--help"],
                                capture_output=True, text=True, timeout=60)
        assert helped.returncode == 0 and "Exit status" in helped.stdout


@pytest.fixture(scope="module")
def grpc_server(exports):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    loaded = exports["loaded"]

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802
            from tensorflow_serving.apis import predict_pb2

            signature = loaded["lenet"].signatures[request.model_spec.signature_name]
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            try:
                outputs = signature(**inputs)
            except tf.errors.InvalidArgumentError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, _status(e))
            response = predict_pb2.PredictResponse()
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return response

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(grace=None).wait(timeout=10)


def test_grpc_client(grpc_server, images, exports, capsys):
    client = _module("grpc_client")
    paths, junk = images
    assert client.main(["--server", grpc_server, "--model", "lenet5", *paths]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = np.asarray(exports["models"]["lenet"](exports["digits"][:3]))
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected, atol=1e-5)
    assert [r["class_names"] for r in rows] == [exports["names"][i]
                                                for i in expected.argmax(-1)]
    assert client.main(["--server", grpc_server, paths[0], junk]) == 1
    err = capsys.readouterr().err
    assert "refused the request (INVALID_ARGUMENT)" in err and "every element must be" in err
    port = _free_port()
    assert client.main(["--server", f"127.0.0.1:{port}", "--timeout", "5", paths[0]]) == 1
    assert "cannot reach the TF Serving gRPC API" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        client.main(["--server", "nohostport", paths[0]])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        client.main(["--server", grpc_server, "missing.png"])
    assert info.value.code == 2 and "missing.png" in capsys.readouterr().err

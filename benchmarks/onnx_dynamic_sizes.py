"""An exported ONNX file against its Keras model at several input sizes (dynamic H/W).

    python benchmarks/onnx_dynamic_sizes.py runs/seg/model.keras exports/seg/onnx/unet_same.onnx \
        --sizes 48x48,64x80,40x56 --scores

Prints, per size, the output shape, the largest |onnx - keras| and (``--scores``) the share
of pixels whose argmax agrees. The Keras side is the model rebuilt on a (None, None, C) input,
as the exporter converts it (``export/onnx.dynamic_model``); random images in 0-255.
"""

import argparse

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_path")
    p.add_argument("onnx_paths", nargs="+")
    p.add_argument("--sizes", default="48x48,64x80,40x56", help="HxW,HxW,...")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--scores", action="store_true",
                   help="outputs are class scores: also report the argmax agreement")
    a = p.parse_args(argv)

    from kerascv_apps.export.onnx import OnnxRunner, dynamic_model
    from kerascv_apps.io import load_model
    from kerascv_apps.models.outputs import inference_model

    model, _ = dynamic_model(inference_model(load_model(a.model_path, compile=False)))
    channels = model.inputs[0].shape[-1]
    sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
    rng = np.random.default_rng(0)
    for path in a.onnx_paths:
        runner = OnnxRunner(path)
        for h, w in sizes:
            x = rng.uniform(0, 255, (a.batch, h, w, channels)).astype(np.float32)
            ref = np.asarray(model.predict(x, verbose=0))
            got = runner(x)
            line = (f"{path} (input {runner.input.shape}) at {h}x{w}: output {got.shape}, "
                    f"max |onnx - keras| {np.abs(got - ref).max():.2e}")
            if a.scores:
                line += f", argmax agreement {np.mean(got.argmax(-1) == ref.argmax(-1)):.4f}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

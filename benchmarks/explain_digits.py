"""Where Grad-CAM and saliency put their mass on digits: the share of each map inside the
bounding box of the digit's stroke, against the box's share of the image (what a uniform map
would give), over the correctly classified test images.

    python benchmarks/explain_digits.py runs/quickstart/model.keras [--threshold 0.1 0.5]

The stroke is the image's pixels above ``threshold`` x its maximum (the digits are 8x8 scans
enlarged to 32x32, so a low threshold takes in the blurred edge of the stroke).
"""

import argparse

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_path", help="a classifier trained on digits (.keras)")
    p.add_argument("--threshold", type=float, nargs="+", default=[0.1, 0.5])
    a = p.parse_args(argv)

    from kerascv_apps.data import load_dataset
    from kerascv_apps.explain.gradcam import feature_layer, grad_cam, saliency
    from kerascv_apps.io import load_model

    model = load_model(a.model_path, compile=False)
    splits = load_dataset("digits")
    data = [(x, y) for x, y in splits.test.as_numpy_iterator()
            if int(np.argmax(model(x[None])[0])) == int(y)]
    maps = {"gradcam": [grad_cam(model, x)["heatmap"] for x, _ in data],
            "saliency": [saliency(model, x)["heatmap"] for x, _ in data]}
    print(f"{len(data)} correctly classified test images; Grad-CAM layer {feature_layer(model)}")
    for threshold in a.threshold:
        boxes = []
        for x, _ in data:
            ys, xs = np.nonzero(x[..., 0] > threshold * x.max())
            box = np.zeros(x.shape[:2], bool)
            box[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
            boxes.append(box)
        print(f"stroke = pixels > {threshold} x max: box area (uniform map) mean "
              f"{np.mean([b.mean() for b in boxes]):.3f}")
        for method, heats in maps.items():
            share = np.array([h[b].sum() / h.sum() for h, b in zip(heats, boxes) if h.sum() > 0])
            print(f"  {method:<8} mass inside the box: mean {share.mean():.3f}, median "
                  f"{np.median(share):.3f}, images >= 0.70: {np.mean(share >= 0.7):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

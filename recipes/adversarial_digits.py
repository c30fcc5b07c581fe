"""Adversarial examples and fooling images for LeNet-5 on the embedded digits, and whether the
int8 TFLite file is fooled by the same images.

    python recipes/adversarial_digits.py [--model-path run/model.keras] [--out runs/adversarial]

Without ``--model-path`` LeNet-5 is trained on digits first (``--epochs``). Then, on the whole
test split: accuracy of the Keras model under FGSM and PGD (10 steps) at each ``--eps`` (pixel
units, 8 = 8/255), of a random-sign perturbation of the same size (the control: it is the
gradient's direction, not the noise, that fools), and of the full-integer int8 TFLite file on
the very images made against the Keras model; fooling images (gradient ascent from noise) for
every class to ``--confidence``, with what the int8 file says of them. Writes
``adversarial.json``, ``fooling_images.png`` and ``fgsm_examples.png`` to ``--out``.
"""

import argparse
import json
import os

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-path", help="a trained digits classifier (.keras); default: train "
                                        "LeNet-5")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", default="runs/adversarial_digits")
    p.add_argument("--eps", default="0,2,4,8,16", help="comma-separated, pixel units")
    p.add_argument("--confidence", type=float, default=0.99)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    import keras

    from kerascv_apps import build_model
    from kerascv_apps.data import load_dataset
    from kerascv_apps.explain.adversarial import accuracy_vs_eps, fooling_image
    from kerascv_apps.explain.filters import _tile, save_png
    from kerascv_apps.export.tflite import TFLiteRunner, convert_to_tflite
    from kerascv_apps.io import atomic_write_text, load_model
    from kerascv_apps.tasks import get_task

    keras.utils.set_random_seed(a.seed)
    splits = load_dataset("digits")
    if a.model_path:
        model = load_model(a.model_path, compile=False)
    else:
        model = build_model("lenet5")
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(splits.train.shuffle(2000, seed=a.seed).batch(32), epochs=a.epochs, verbose=0)
    images = np.stack([x for x, _ in splits.test.as_numpy_iterator()]).astype(np.float32)
    labels = np.array([y for _, y in splits.test.as_numpy_iterator()])
    task = get_task("classification", num_classes=10, class_names=splits.class_names)
    int8 = TFLiteRunner(convert_to_tflite(model, "int8", representative_data=[
        task.calibration_images(splits, 200)]))

    def keras_predict(x):
        return np.asarray(model.predict(x, batch_size=128, verbose=0))

    def int8_predict(x):
        return np.concatenate([int8(im[None]) for im in x])

    epsilons = [float(e) for e in a.eps.split(",")]
    rng = np.random.default_rng(a.seed)
    table = []
    for attack, kwargs in (("fgsm", {}), ("pgd", {"steps": 10})):
        for row in accuracy_vs_eps(keras_predict, model, images, labels, epsilons, attack,
                                   **kwargs):
            adv = row.pop("adversarial")
            row["attack"] = attack
            row["int8_tflite_accuracy"] = float(np.mean(int8_predict(adv).argmax(-1) == labels))
            noise = np.clip(images + row["eps"] * np.sign(rng.normal(size=images.shape)), 0, 255)
            row["random_sign_accuracy"] = float(np.mean(
                keras_predict(noise.astype(np.float32)).argmax(-1) == labels))
            table.append(row)
            print(f"{attack:>4} eps {row['eps']:>5.1f}/255: keras {row['accuracy']:.4f}, int8 "
                  f"TFLite {row['int8_tflite_accuracy']:.4f}, random sign "
                  f"{row['random_sign_accuracy']:.4f}", flush=True)
            if attack == "fgsm" and row["eps"] == max(epsilons):
                examples = adv[:10]
    fooling = []
    for c in range(10):
        f = fooling_image(model, c, confidence=a.confidence, seed=a.seed + c)
        probs8 = int8(f["image"][None])[0]
        fooling.append({"class_id": c, "confidence": f["confidence"], "steps": f["steps"],
                        "int8_tflite_class": int(np.argmax(probs8)),
                        "int8_tflite_confidence": float(probs8[c]), "image": f["image"]})
        print(f"fooling image for class {c}: keras p = {f['confidence']:.4f} after {f['steps']} "
              f"steps; int8 TFLite p = {probs8[c]:.4f} (argmax {np.argmax(probs8)})", flush=True)
    os.makedirs(a.out, exist_ok=True)
    save_png(os.path.join(a.out, "fooling_images.png"),
             _tile(np.stack([f.pop("image")[..., 0] / 255.0 for f in fooling]), 10), 4)
    save_png(os.path.join(a.out, "fgsm_examples.png"),
             _tile(np.concatenate([images[:10], examples])[..., 0] / 255.0, 10), 4)
    result = {"model": a.model_path or f"lenet5 trained {a.epochs} epochs on digits",
              "test_images": int(len(images)), "accuracy_vs_eps": table, "fooling": fooling,
              "all_fooled": all(f["confidence"] >= a.confidence for f in fooling)}
    atomic_write_text(os.path.join(a.out, "adversarial.json"), json.dumps(result, indent=2))
    print(f"wrote {a.out}/adversarial.json, fooling_images.png, fgsm_examples.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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

import json
import os

import numpy as np

from kerascv_apps.config import config_from_args, recipe_parser

FLAGS = ("epochs", "seed")  # the TrainConfig keys this recipe lets you change
# LeNet-5 as this recipe always trained it: Adam 1e-3, batches of 32, no augmentation, a
# constant rate; float32 (the attacks follow its gradients)
CONFIG = {"dataset": "digits", "epochs": 10, "batch_size": 32, "optimizer": "adam",
          "learning_rate": 1e-3, "schedule": "constant", "augment": "none",
          "precision": "float32"}
OWN_FLAGS = {
    "model_path": (None, "a trained digits classifier (.keras); default: train LeNet-5 "
                         "into <out>/lenet5"),
    "out": ("runs/adversarial_digits", "output folder"),
    "eps": ("0,2,4,8,16", "comma-separated, pixel units"),
    "confidence": (0.99, "fooling images' target confidence"),
}


def main(argv=None):
    a = recipe_parser(__doc__, None, FLAGS, CONFIG, OWN_FLAGS).parse_args(argv)
    config = config_from_args(a, FLAGS, "lenet5", **CONFIG)

    import keras

    from kerascv_apps.data import load_dataset
    from kerascv_apps.experiment import train_model
    from kerascv_apps.explain.adversarial import accuracy_vs_eps, fooling_image
    from kerascv_apps.explain.filters import _tile, save_png
    from kerascv_apps.export.tflite import TFLiteRunner, convert_to_tflite
    from kerascv_apps.io import atomic_write_text, load_model
    from kerascv_apps.tasks import get_task

    splits = load_dataset("digits")
    if a.model_path:
        model = load_model(a.model_path, compile=False)
    else:  # the same training as every run (kerascv-apps train --config <out>/lenet5/run.json)
        model = train_model(**config.train_kwargs(), splits=splits, verbose=0,
                            run_dir=os.path.join(a.out, "lenet5"), overwrite=a.overwrite).model
    keras.utils.set_random_seed(config.seed)
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
    rng = np.random.default_rng(config.seed)
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
        f = fooling_image(model, c, confidence=a.confidence, seed=config.seed + c)
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
    result = {"model": a.model_path or f"lenet5 trained {config.epochs} epochs on digits",
              "test_images": int(len(images)), "accuracy_vs_eps": table, "fooling": fooling,
              "all_fooled": all(f["confidence"] >= a.confidence for f in fooling)}
    atomic_write_text(os.path.join(a.out, "adversarial.json"), json.dumps(result, indent=2))
    print(f"wrote {a.out}/adversarial.json, fooling_images.png, fgsm_examples.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""SRGAN recipe (Ledig et al. 2017), two phases:

1. pixel-loss pretraining of the SRResNet generator (``train_model`` with MSE; or pass
   ``--generator`` to start from a trained SRResNet ``.keras`` file, e.g. the srresnet recipe's);
2. adversarial training, the same ``train_model`` with ``task_kwargs={"adversarial": True}``:
   the task wraps the generator in SRGAN (its own train step) with content loss on VGG19
   ``block5_conv4`` features (weights from a local file, ``--vgg-weights``) + 1e-3 ×
   adversarial loss and a discriminator on HR crops.

    python recipes/super_resolution/srgan.py --vgg-weights vgg19_notop.weights.h5

The deployable model is the generator (``generator.keras``); the GAN's own checkpoints
(``gan/checkpoints/*.keras``, ``gan/model.keras``) also reload with ``safe_mode=True``. SRGAN trades PSNR for
perceptual sharpness, so its PSNR is expected below SRResNet's (as in the paper). With
random VGG features (the only VGG19 weights available offline here) the content term is
~1e-6 and the adversarial term dominates: a 40-step run from the SRResNet recipe's model
fell from 29.11 to 15.91 dB PSNR-Y; that run proves the path, not SRGAN quality.
"""

import json
import os
import sys

from kerascv_apps import load_model
from kerascv_apps.config import config_from_args, recipe_parser
from kerascv_apps.io import atomic_write_text, save_model_atomic
from kerascv_apps.losses.super_resolution import VGGContentLoss
from kerascv_apps.end_to_end import run_super_resolution


def run(run_dir="runs/srgan_x4", vgg_weights=None, allow_random_features=False, generator=None,
        scale=4, num_blocks=16, pretrain_epochs=5, gan_epochs=5, steps_per_epoch=50,
        batch_size=8, patch_size=24, learning_rate=1e-4, content_layer="block5_conv4",
        jit_compile="off", verbose="auto", dataset="photos", disc_filters=(64, 128, 256, 512),
        disc_dense_units=1024, filters=64, splits=None, pixel_weight=0.0, seed=0,
        overwrite=False):
    """Both phases; returns ``{"pretrained_test": ..., "srgan_test": ..., ...}``.
    ``jit_compile``: the adversarial phase's (``auto``, ``on``, ``off``; True / False: on /
    off)."""
    name = f"srresnet_x{scale}"
    common = dict(steps_per_epoch=steps_per_epoch, batch_size=batch_size, patch_size=patch_size,
                  dataset=dataset, dataset_kwargs={"scale": scale}, splits=splits, seed=seed,
                  verbose=verbose, overwrite=overwrite)
    gan_task = {"adversarial": True, "vgg_weights": vgg_weights, "content_layer": content_layer,
                "allow_random_features": allow_random_features, "pixel_weight": pixel_weight,
                "discriminator_kwargs": {"stackwise_num_filters": tuple(disc_filters),
                                         "dense_units": disc_dense_units}}
    # fail before any training when the content loss cannot be built
    VGGContentLoss(content_layer, vgg_weights, allow_random_features)
    if generator is None:
        pre = run_super_resolution(
            name, os.path.join(run_dir, "pretrain"), epochs=pretrain_epochs,
            learning_rate=learning_rate * 10,
            model_kwargs={"num_blocks": num_blocks, "filters": filters, "anchor_skip": True},
            task_kwargs={"pixel_loss": "mse"}, **common)
        generator = pre["model_path"]
        pretrained = pre["test"]
    else:
        pretrained = None
    gen = load_model(generator, compile=False)
    gan = run_super_resolution(name, os.path.join(run_dir, "gan"), epochs=gan_epochs,
                               learning_rate=learning_rate, model=gen, task_kwargs=gan_task,
                               jit_compile={True: "on", False: "off"}.get(jit_compile,
                                                                          jit_compile),
                               **common)
    save_model_atomic(load_model(gan["model_path"], compile=False).generator,
                      os.path.join(run_dir, "generator.keras"))
    summary = {"scale": scale, "num_blocks": num_blocks, "content_layer": content_layer,
               "vgg_weights": vgg_weights, "random_vgg_features": vgg_weights is None,
               "generator": generator, "pretrained_test": pretrained, "srgan_test": gan["test"]}
    atomic_write_text(os.path.join(run_dir, "summary.json"),
                      json.dumps(summary, indent=2, default=float))
    return summary


FLAGS = ("steps_per_epoch", "batch_size", "learning_rate", "jit_compile", "seed")  # TrainConfig keys
CONFIG = {"steps_per_epoch": 50, "batch_size": 8, "learning_rate": 1e-4, "jit_compile": "off"}
OWN_FLAGS = {
    "vgg_weights": (None, "local VGG19 notop weights (.h5 / .weights.h5)"),
    "random_vgg_features": (False, "use random VGG19 weights (testing only)"),
    "generator": (None, "pretrained SRResNet .keras (skips phase 1)"),
    "content_layer": ("block5_conv4", "VGG19 layer of the content loss",
                      ("block5_conv4", "block2_conv2")),
    "scale": (4, "upscaling factor (srresnet_x<scale>)"),
    "num_blocks": (16, "residual blocks of the generator"),
    "pretrain_epochs": (5, "epochs of phase 1 (pixel MSE; learning rate x 10)"),
    "gan_epochs": (5, "epochs of phase 2 (adversarial)"),
    "patch_size": (24, "LR crop size (HR = scale x this)"),
    "pixel_weight": (0.0, "extra pixel-MSE weight in the generator loss (0 in the paper)"),
}


def main(argv=None):
    a = recipe_parser(__doc__, "runs/srgan_x4", FLAGS, CONFIG, OWN_FLAGS).parse_args(argv)
    # the flags as the generator's TrainConfig (checked once); phase 1 takes 10x its rate
    config = config_from_args(a, FLAGS, f"srresnet_x{a.scale}", dataset="photos", **CONFIG)
    s = run(a.run_dir, a.vgg_weights, a.random_vgg_features, a.generator, a.scale, a.num_blocks,
            a.pretrain_epochs, a.gan_epochs, config.steps_per_epoch, config.batch_size,
            a.patch_size, config.learning_rate, content_layer=a.content_layer,
            jit_compile=config.jit_compile, pixel_weight=a.pixel_weight, seed=config.seed,
            overwrite=a.overwrite)
    for key in ("pretrained_test", "srgan_test"):
        t = s[key]
        if t is None:
            continue
        print(f"{key}: PSNR-Y {t['psnr_y']:.2f} dB (bicubic {t['bicubic_psnr_y']:.2f}), "
              f"SSIM-Y {t['ssim_y']:.4f} (bicubic {t['bicubic_ssim_y']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scores a saved restorer per held-out photo beside the degradation's classical baselines
(the restoration task's evaluation), e.g. a run's checkpoint:

    python recipes/restoration/evaluate.py runs/denoise/checkpoints/best.keras --degradation gaussian --sigma 25
    python recipes/restoration/evaluate.py runs/ll/model.keras --degradation low_light
"""

import json
import sys
import time

from kerascv_apps.config import recipe_parser


def main(argv=None):
    a = recipe_parser(__doc__, None, arguments={
        "model_path": "a trained restoration model (.keras)"}, flags={
        "degradation": ("gaussian", "the restore dataset's degradation (gaussian, low_light)"),
        "sigma": {"default": None, "type": float,
                  "help": "noise sigma in pixel values (default: the degradation's)"},
        "json": (None, "also write the evaluation to this file")},
        overwrite=False).parse_args(argv)

    from kerascv_apps import load_model
    from kerascv_apps.data.sources.base import load_dataset
    from kerascv_apps.end_to_end import restoration_table
    from kerascv_apps.experiment import evaluate_model
    from kerascv_apps.tasks.base import get_task

    start = time.process_time()
    model = load_model(a.model_path, compile=False)
    splits = load_dataset("restore", degradation=a.degradation, sigma=a.sigma)
    results = evaluate_model(model, get_task("restoration", splits=splits), splits)
    summary = {"model": a.model_path, "dataset": splits.name,
               "degradation": splits.info["degradation"], "test": results}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=2, default=float)
    print("\n".join(restoration_table(summary).splitlines()[:-1]))
    print(f"evaluation: {time.process_time() - start:.0f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Add a SavedModel version for TF Serving: <base-dir>/<name>/<next version>/.

    python export/export_savedmodel.py --model-path runs/x/model.keras --base-dir serving_models --name digits
"""

import argparse
import sys

from kerascv_apps.runs import run_info, task_from_run
from kerascv_apps.models.outputs import inference_model
from kerascv_apps.export.savedmodel import export_savedmodel
from kerascv_apps.io import load_model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--model-name", help="registered name (default: from run.json)")
    parser.add_argument("--base-dir", required=True)
    parser.add_argument("--name", required=True, help="TF Serving model name")
    parser.add_argument("--version", type=int, help="default: next free version")
    args = parser.parse_args(argv)
    name, info = run_info(args.model_path, args.model_name)
    task = task_from_run(name, info)
    model = inference_model(load_model(args.model_path, compile=False))
    print(export_savedmodel(model, args.base_dir, args.name, task, version=args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())

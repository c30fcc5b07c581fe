"""Add a SavedModel version for TF Serving: <base-dir>/<name>/<next version>/.

    python export/export_savedmodel.py --model-path runs/x/model.keras --base-dir serving_models --name digits
"""

import argparse
import sys

from kerascv_apps.cli import _run_info
from kerascv_apps.experiment import deployable
from kerascv_apps.export.savedmodel import export_savedmodel
from kerascv_apps.io import load_model
from kerascv_apps.registry import get_entry
from kerascv_apps.tasks import get_task


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--model-path", required=True)
    parser.add_argument("--model-name", help="registered name (default: from run.json)")
    parser.add_argument("--base-dir", required=True)
    parser.add_argument("--name", required=True, help="TF Serving model name")
    parser.add_argument("--version", type=int, help="default: next free version")
    args = parser.parse_args(argv)
    name, info = _run_info(args.model_path, args.model_name)
    data = info.get("data", {})
    task = get_task(get_entry(name).task, **({"num_classes": data["num_classes"],
                                              "class_names": data.get("class_names")}
                                             if data.get("num_classes") else {}))
    model = deployable(load_model(args.model_path, compile=False))
    print(export_savedmodel(model, args.base_dir, args.name, task, version=args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())

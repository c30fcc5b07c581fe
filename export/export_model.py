"""Export a trained .keras model: SavedModel (TF Serving) + TFLite variants, verified.

    python export/export_model.py --model-path runs/x/model.keras --out exports/x \
        [--dataset digits] [--formats savedmodel,float32,float16,dynamic,int8] [--max-int8-drop 0.01]

The same as `kerascv-apps export` (same arguments): it runs the package's command line as
`python -m kerascv_apps export ...` would, not its internals.
"""

import runpy
import sys

if __name__ == "__main__":
    sys.argv = ["kerascv-apps", "export"] + sys.argv[1:]
    runpy.run_module("kerascv_apps", run_name="__main__", alter_sys=True)

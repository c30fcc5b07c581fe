"""Export a trained .keras model: SavedModel (TF Serving) + TFLite variants, verified.

    python export/export_model.py --model-path runs/x/model.keras --out exports/x \
        [--dataset digits] [--formats savedmodel,float32,float16,dynamic,int8] [--max-int8-drop 0.01]

A thin wrapper over `kerascv_apps.cli export` (same arguments).
"""

import sys

from kerascv_apps.cli import main

if __name__ == "__main__":
    sys.exit(main(["export"] + sys.argv[1:]))

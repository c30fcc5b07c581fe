"""`make demo`: the quickstart (LeNet-5 -> int8 TFLite + SavedModel), then a quick U-Net on
the embedded `shapes` (segmentation) and a quick edge super-resolution model on the bundled
photos, each trained, evaluated and exported to TFLite."""

import os
import runpy
import sys
import time

from kerascv_apps.config import recipe_parser

STAGES = ["quickstart", "segmentation_demo", "sr_demo"]
HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    recipe_parser(__doc__, None, overwrite=False).parse_args(argv)  # --help only
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for stage in STAGES:
        module = runpy.run_path(os.path.join(HERE, f"{stage}.py"), run_name=stage)
        print(f"\n######## demo stage: {stage}", flush=True)
        start = time.perf_counter()
        code = module["main"](["--run-dir", os.path.join("runs", f"demo-{stamp}", stage)])
        print(f"######## {stage} finished in {time.perf_counter() - start:.0f}s", flush=True)
        if isinstance(code, int) and code:  # stages return 0 (or a summary) on success
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())

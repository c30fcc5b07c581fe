"""TF Serving REST client for models exported by kerascv_apps.

    python export/serving/client.py --url http://localhost:8501/v1/models/lenet5 image.png [...]

Sends the encoded files to the `serving_bytes` signature ({"b64": ...} values, which TF
Serving decodes for inputs named *_bytes) and prints each response row. Use `--build-only`
to print the request body instead of sending it.
"""

import argparse
import base64
import json
import sys
import urllib.request


def build_request(paths, signature="serving_bytes"):
    instances = []
    for path in paths:
        with open(path, "rb") as f:
            instances.append({"image_bytes": {"b64": base64.b64encode(f.read()).decode("ascii")}})
    return {"signature_name": signature, "instances": instances}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://localhost:8501/v1/models/lenet5")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("images", nargs="+")
    args = parser.parse_args(argv)
    body = build_request(args.images)
    if args.build_only:
        print(json.dumps(body))
        return 0
    request = urllib.request.Request(f"{args.url}:predict", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        for row in json.load(response)["predictions"]:
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())

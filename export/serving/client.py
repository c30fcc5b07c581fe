"""TF Serving REST client for models exported by kerascv_apps (standard library only).

    python export/serving/client.py --url http://localhost:8501/v1/models/lenet5 a.png b.jpg

Sends the files to the `serving_bytes` signature (`{"b64": ...}` values, which TF Serving
decodes for inputs named *_bytes) with `:predict` and prints one JSON line per image
(classification: class_id, class_names, probabilities; segmentation: the class-id mask;
super-resolution: the uint8 image). `--build-only` prints the request body instead.
Exit status: 0 success, 1 the server could not be reached or refused the request, 2 bad
arguments (including unreadable image files).
"""

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

SIGNATURE = "serving_bytes"
INPUT = "image_bytes"


class ClientError(Exception):
    """A failure worth one line to the user (no traceback)."""


def read_images(paths):
    """The bytes of each file; a missing or unreadable file is a usage error (exit 2)."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                out.append(f.read())
        except OSError as e:
            raise ValueError(f"cannot read image file {path!r}: {e.strerror or e}") from e
    return out


def build_request(images, signature=SIGNATURE):
    """The `:predict` body (row format) for encoded images (bytes, or file paths to read)."""
    images = [read_images([i])[0] if isinstance(i, (str, os.PathLike)) else i for i in images]
    return {"signature_name": signature,
            "instances": [{INPUT: {"b64": base64.b64encode(data).decode("ascii")}}
                          for data in images]}


def predict(url, body, timeout=30.0):
    """POSTs ``body`` to ``<url>:predict``; returns the list of per-image predictions."""
    request = urllib.request.Request(f"{url}:predict", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.load(response)
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise ClientError(f"the server at {url} refused the request (HTTP {e.code}): "
                          f"{detail.strip()[:2000]}") from None
    except urllib.error.URLError as e:
        raise ClientError(f"cannot reach the TF Serving REST API at {url}: {e.reason} (is the "
                          f"server running, and is the port its --rest_api_port?)") from None
    except (TimeoutError, OSError) as e:
        raise ClientError(f"no answer from {url}: {e}") from None
    except ValueError as e:
        raise ClientError(f"the server at {url} did not answer with JSON: {e}") from None
    if "predictions" not in reply:
        raise ClientError(f"unexpected reply from {url} (no 'predictions'): "
                          f"{json.dumps(reply)[:500]}")
    return reply["predictions"]


def _check_url(url):
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or "/v1/models/" not in url:
        raise ValueError(f"--url must look like http://HOST:PORT/v1/models/NAME[/versions/N], "
                         f"got {url!r}")
    return url.rstrip("/")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], epilog="Exit status: 0 ok, 1 request failed, "
                                                   "2 bad arguments.")
    parser.add_argument("--url", default="http://localhost:8501/v1/models/lenet5",
                        help="model URL, e.g. http://localhost:8501/v1/models/NAME "
                             "(or .../versions/N)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--build-only", action="store_true",
                        help="print the request body instead of sending it")
    parser.add_argument("images", nargs="+", help="PNG, JPEG, GIF or BMP files")
    args = parser.parse_args(argv)
    try:
        url = _check_url(args.url)
        images = read_images(args.images)
    except ValueError as e:
        parser.error(str(e))  # exit status 2
    body = build_request(images)
    if args.build_only:
        print(json.dumps(body))
        return 0
    try:
        rows = predict(url, body, timeout=args.timeout)
    except ClientError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path, row in zip(args.images, rows):
        print(json.dumps({"file": os.path.basename(path), **(row if isinstance(row, dict)
                                                             else {"outputs": row})}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

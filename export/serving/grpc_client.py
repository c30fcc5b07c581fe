"""TF Serving gRPC client for models exported by kerascv_apps (tensorflow-serving-api).

    python export/serving/grpc_client.py --server localhost:8500 --model lenet5 a.png b.jpg

Calls PredictionService/Predict on the `serving_bytes` signature with the encoded files as
one string batch and prints one JSON line per image (the same outputs as the REST client).
Exit status: 0 success, 1 the server could not be reached or refused the request, 2 bad
arguments (including unreadable image files).
"""

import argparse
import json
import os
import sys

SIGNATURE = "serving_bytes"
INPUT = "image_bytes"


class ClientError(Exception):
    """A failure worth one line to the user (no traceback)."""


def read_images(paths):
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                out.append(f.read())
        except OSError as e:
            raise ValueError(f"cannot read image file {path!r}: {e.strerror or e}") from e
    return out


def build_request(model, images, version=None, signature=SIGNATURE):
    """A ``PredictRequest`` carrying ``images`` (bytes) as a [batch] string tensor."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    request.inputs[INPUT].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING, string_val=list(images),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(images))])))
    return request


def predict(server, request, timeout=30.0):
    """Sends ``request``; returns {output name: numpy array}."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            code, details = e.code(), (e.details() or "").strip()
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ClientError(f"cannot reach the TF Serving gRPC API at {server}: {details} "
                                  f"(is the server running, and is the port its --port?)"
                                  ) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ClientError(f"no answer from {server} within {timeout:g} s") from None
            raise ClientError(f"the server at {server} refused the request ({code.name}): "
                              f"{details[:2000]}") from None
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def rows(outputs):
    """Per-image JSON-ready dicts from batched outputs."""
    batch = min(len(v) for v in outputs.values())
    out = []
    for i in range(batch):
        row = {}
        for name, value in sorted(outputs.items()):
            item = value[i]
            if isinstance(item, bytes):
                item = item.decode("utf-8", "replace")
            row[name] = item.tolist() if hasattr(item, "tolist") else item
        out.append(row)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], epilog="Exit status: 0 ok, 1 request failed, "
                                                   "2 bad arguments.")
    parser.add_argument("--server", default="localhost:8500", help="HOST:PORT of the gRPC API")
    parser.add_argument("--model", default="lenet5", help="model name in models.config")
    parser.add_argument("--version", type=int, help="model version (default: the newest)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("images", nargs="+", help="PNG, JPEG, GIF or BMP files")
    args = parser.parse_args(argv)
    host, _, port = args.server.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--server must be HOST:PORT, got {args.server!r}")
    try:
        images = read_images(args.images)
    except ValueError as e:
        parser.error(str(e))  # exit status 2
    try:
        outputs = predict(args.server, build_request(args.model, images, args.version),
                          timeout=args.timeout)
    except ClientError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path, row in zip(args.images, rows(outputs)):
        print(json.dumps({"file": os.path.basename(path), **row}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

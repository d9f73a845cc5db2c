"""Open Inference Protocol (KServe v2 REST) request/response codec.

Implements the JSON tensor form and the binary tensor data extension
(``Inference-Header-Content-Length``), as sent by ``tritonclient.http``:

* request: the first ``Inference-Header-Content-Length`` bytes of the body are the JSON
  inference header; the rest is the concatenation, in input order, of the raw (row-major,
  little-endian) data of every input whose ``parameters.binary_data_size`` is set.
  Without the header the whole body is JSON and every input carries ``data``.
* response: an output is returned as binary when its requested ``parameters.binary_data`` is
  true, or when the request's ``parameters.binary_data_output`` is true and the output does
  not say otherwise; the response then carries ``Inference-Header-Content-Length``.

Errors are raised as :class:`ProtocolError` with the HTTP status to send.
"""

from __future__ import annotations

import gzip
import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ProtocolError

HEADER_LENGTH = "Inference-Header-Content-Length"

# OIP datatype -> numpy dtype (little-endian). BYTES is variable length: object arrays.
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}


def datatype_of(array: np.ndarray) -> str:
    """The OIP datatype name of a numpy array."""
    if array.dtype == object or array.dtype.kind in "SU":
        return "BYTES"
    for name, dt in DATATYPES.items():
        if name != "BYTES" and array.dtype.kind == dt.kind and array.dtype.itemsize == dt.itemsize:
            return name
    raise ValueError(f"no Open Inference Protocol datatype for numpy dtype {array.dtype}")


@dataclass
class RequestedOutput:
    name: str
    binary: bool | None = None  # None: not stated by the client
    parameters: dict = field(default_factory=dict)


@dataclass
class InferRequest:
    id: str | None
    parameters: dict
    inputs: dict[str, np.ndarray]
    input_datatypes: dict[str, str]
    outputs: list[RequestedOutput] | None  # None: all outputs

    @property
    def binary_data_output(self) -> bool:
        return bool(self.parameters.get("binary_data_output", False))


def _decompress(body: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity":
        return body
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error) as exc:
        raise ProtocolError(f"request body is not valid {encoding} data: {exc}") from None
    raise ProtocolError(f"unsupported Content-Encoding '{encoding}' (use gzip, deflate or none)", 415)


def _decode_bytes_tensor(raw: bytes, count: int, name: str) -> np.ndarray:
    """BYTES binary form: each element is a 4-byte little-endian length then the bytes."""
    items, off = [], 0
    while off < len(raw):
        if off + 4 > len(raw):
            raise ProtocolError(f"input '{name}': truncated BYTES element length at offset {off}")
        (n,) = struct.unpack_from("<I", raw, off)
        off += 4
        if off + n > len(raw):
            raise ProtocolError(f"input '{name}': BYTES element of {n} bytes runs past the binary data")
        items.append(raw[off:off + n])
        off += n
    if len(items) != count:
        raise ProtocolError(f"input '{name}': binary data holds {len(items)} BYTES elements, shape needs {count}")
    arr = np.empty(count, dtype=object)
    arr[:] = items
    return arr


def encode_bytes_tensor(array: np.ndarray) -> bytes:
    parts = []
    for item in array.ravel():
        b = item if isinstance(item, bytes) else str(item).encode()
        parts.append(struct.pack("<I", len(b)))
        parts.append(b)
    return b"".join(parts)


def _check_shape(name: str, shape: Any) -> list[int]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise ProtocolError(f"input '{name}': 'shape' must be a list of integers, got {shape!r}")
    if any(d < 0 for d in shape):
        raise ProtocolError(f"input '{name}': 'shape' {shape} has a negative dimension")
    return shape


def parse_infer_request(body: bytes, headers) -> InferRequest:
    """Decode an inference request body (JSON or binary extension). ``headers``: a mapping
    with case-insensitive ``get`` (Starlette's ``Headers``)."""
    body = _decompress(body, headers.get("content-encoding"))
    header_len = headers.get(HEADER_LENGTH.lower())
    if header_len is not None:
        try:
            hl = int(header_len)
        except ValueError:
            raise ProtocolError(f"{HEADER_LENGTH} must be an integer, got '{header_len}'") from None
        if hl < 0 or hl > len(body):
            raise ProtocolError(f"{HEADER_LENGTH} is {hl} but the body has only {len(body)} bytes")
        json_part, binary = body[:hl], memoryview(body)[hl:]
    else:
        json_part, binary = body, memoryview(b"")
    try:
        doc = json.loads(json_part)
    except (ValueError, UnicodeDecodeError) as exc:
        hint = "" if header_len is not None else f" (binary tensors need the {HEADER_LENGTH} header)"
        raise ProtocolError(f"malformed JSON in inference request: {exc}{hint}") from None
    if not isinstance(doc, dict):
        raise ProtocolError("inference request must be a JSON object")

    req_id = doc.get("id")
    if req_id is not None and not isinstance(req_id, str):
        raise ProtocolError("'id' must be a string")
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise ProtocolError("'parameters' must be an object")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError("inference request needs a non-empty 'inputs' list")

    inputs: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    offset = 0
    for i, spec in enumerate(raw_inputs):
        if not isinstance(spec, dict):
            raise ProtocolError(f"inputs[{i}] must be an object")
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"inputs[{i}] needs a 'name' string")
        if name in inputs:
            raise ProtocolError(f"input '{name}' appears more than once")
        shape = _check_shape(name, spec.get("shape"))
        datatype = spec.get("datatype")
        if datatype not in DATATYPES:
            raise ProtocolError(
                f"input '{name}': unknown datatype {datatype!r}; expected one of {', '.join(DATATYPES)}"
            )
        dt = DATATYPES[datatype]
        count = math.prod(shape)
        iparams = spec.get("parameters") or {}
        if not isinstance(iparams, dict):
            raise ProtocolError(f"input '{name}': 'parameters' must be an object")
        bsize = iparams.get("binary_data_size")
        if bsize is not None:
            if not isinstance(bsize, int) or bsize < 0:
                raise ProtocolError(f"input '{name}': binary_data_size must be a non-negative integer")
            if offset + bsize > len(binary):
                raise ProtocolError(
                    f"input '{name}': binary_data_size {bsize} runs past the end of the binary data "
                    f"({len(binary) - offset} bytes left)"
                )
            raw = bytes(binary[offset:offset + bsize])
            offset += bsize
            if datatype == "BYTES":
                arr = _decode_bytes_tensor(raw, count, name)
            else:
                expected = count * dt.itemsize
                if bsize != expected:
                    raise ProtocolError(
                        f"input '{name}': binary_data_size is {bsize} bytes but shape {shape} of "
                        f"{datatype} needs {expected}"
                    )
                arr = np.frombuffer(raw, dtype=dt)
        else:
            if "data" not in spec:
                raise ProtocolError(f"input '{name}' has neither 'data' nor parameters.binary_data_size")
            data = spec["data"]
            try:
                if datatype == "BYTES":
                    flat = np.asarray(data, dtype=object).ravel()
                    arr = np.empty(flat.size, dtype=object)
                    arr[:] = [x.encode() if isinstance(x, str) else x for x in flat]
                else:
                    arr = np.asarray(data, dtype=dt).ravel()
            except (ValueError, TypeError, OverflowError) as exc:
                raise ProtocolError(f"input '{name}': 'data' is not valid {datatype}: {exc}") from None
            if arr.size != count:
                raise ProtocolError(
                    f"input '{name}': 'data' has {arr.size} elements but shape {shape} needs {count}"
                )
        inputs[name] = arr.reshape(shape)
        dtypes[name] = datatype
    if offset != len(binary):
        raise ProtocolError(
            f"request carries {len(binary) - offset} bytes of binary data not claimed by any input's binary_data_size"
        )

    outputs = None
    raw_outputs = doc.get("outputs")
    if raw_outputs is not None:
        if not isinstance(raw_outputs, list):
            raise ProtocolError("'outputs' must be a list")
        outputs = []
        for i, spec in enumerate(raw_outputs):
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise ProtocolError(f"outputs[{i}] must be an object with a 'name'")
            oparams = spec.get("parameters") or {}
            if not isinstance(oparams, dict):
                raise ProtocolError(f"output '{spec['name']}': 'parameters' must be an object")
            b = oparams.get("binary_data")
            outputs.append(RequestedOutput(spec["name"], None if b is None else bool(b), oparams))
    return InferRequest(req_id, params, inputs, dtypes, outputs)


def _json_data(array: np.ndarray) -> list:
    flat = array.ravel()
    if array.dtype == object or array.dtype.kind in "SU":
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in flat]
    if array.dtype.kind == "f":
        flat = flat.astype(np.float64)
        if not np.isfinite(flat).all():
            # JSON has no NaN/Infinity; send them as strings the way a careful reader can parse.
            return [v if math.isfinite(v) else str(v) for v in flat.tolist()]
    return flat.tolist()


def encode_infer_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: list[tuple[str, np.ndarray, bool]],
    parameters: dict | None = None,
) -> tuple[bytes, dict[str, str]]:
    """``outputs``: (name, array, as_binary). Returns (body, headers)."""
    doc: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        doc["id"] = request_id
    if parameters:
        doc["parameters"] = parameters
    out_docs, blobs = [], []
    for name, array, as_binary in outputs:
        dt = datatype_of(array)
        od: dict[str, Any] = {"name": name, "datatype": dt, "shape": list(array.shape)}
        if as_binary:
            if dt == "BYTES":
                raw = encode_bytes_tensor(array)
            else:
                raw = np.ascontiguousarray(array, dtype=DATATYPES[dt]).tobytes()
            od["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            od["data"] = _json_data(array)
        out_docs.append(od)
    doc["outputs"] = out_docs
    header = json.dumps(doc, separators=(",", ":")).encode()
    if blobs:
        return header + b"".join(blobs), {
            HEADER_LENGTH: str(len(header)),
            "content-type": "application/octet-stream",
        }
    return header, {"content-type": "application/json"}

"""A refute model in Python: the manifest (a dict) and its integer tensors.

`RefuteModel.save` writes the two files of `docs/model-format.md`; `RefuteModel.load`
reads them back; `validate` re-checks every rule the Rust loader
(`crates/core/src/model.rs`) enforces, so a model that validates here loads there.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import safetensors.numpy

from . import quant

FORMAT = "refute-model"
VERSION = 1
MAX_STEPS = 1 << 16
MAX_RANK = 8

OPS = ("input", "linear", "conv2d", "relu", "maxpool2d", "avgpool2d", "add", "lut", "reshape", "argmax", "embedding",
       "permute", "matmul", "softmax", "layernorm", "residual")
# Fields each op accepts besides op, name, inputs (mirrors `parse_step` in model.rs).
OP_FIELDS = {
    "input": {"shape", "dtype"},
    "linear": {"relu", "weight", "requant"},
    "conv2d": {"stride", "padding", "relu", "weight", "requant"},
    "relu": set(),
    "maxpool2d": {"kernel", "stride", "padding"},
    "avgpool2d": {"kernel", "stride", "mult", "shift"},
    "add": {"mult_a", "mult_b", "shift", "relu"},
    "lut": {"table"},
    "reshape": {"shape"},
    "flatten": {"shape"},
    "argmax": set(),
    "embedding": {"table"},
    "permute": {"perm"},
    "matmul": {"transpose_b", "mult", "shift"},
    "softmax": {"pad", "table"},
    "layernorm": {"pre", "eps", "shift", "affine"},
    "residual": {"mult_a", "mult_b", "shift"},
}
TOP_FIELDS = {"format", "version", "name", "weights", "input_scale", "steps", "metadata"}


class ModelFormatError(ValueError):
    """The manifest or weights break a rule of `docs/model-format.md` / `docs/semantics.md`."""


@dataclass(frozen=True)
class TensorType:
    dtype: str  # "i8" or "i32"
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}{list(self.shape)}"


@dataclass
class RefuteModel:
    """Manifest (as a JSON-ready dict) plus the tensors it names (int8 / int32 numpy arrays)."""

    manifest: dict[str, Any]
    tensors: dict[str, np.ndarray] = field(default_factory=dict)

    # ---- accessors -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def steps(self) -> list[dict[str, Any]]:
        return self.manifest["steps"]

    @property
    def input_scale(self) -> float | None:
        return self.manifest.get("input_scale")

    @property
    def metadata(self) -> dict[str, Any]:
        return self.manifest.setdefault("metadata", {})

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.steps[0]["shape"])

    def types(self) -> list[TensorType]:
        """Output type of every step (validates the model)."""
        return validate(self.manifest, self.tensors)

    # ---- files ---------------------------------------------------------------------
    def manifest_text(self) -> str:
        """The manifest as written: 2-space indented JSON, keys sorted, final newline."""
        return json.dumps(self.manifest, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"

    def weights_bytes(self) -> bytes:
        """The safetensors bytes (tensors of the steps only, no header metadata)."""
        return safetensors.numpy.save({k: np.ascontiguousarray(v) for k, v in sorted(self.tensors.items())})

    def save(self, manifest_path: str | os.PathLike) -> tuple[str, str]:
        """Writes `<dir>/<stem>.json` and `<dir>/<stem>.safetensors`; returns both paths.

        The `weights` field of the manifest is set to `<stem>.safetensors`.
        """
        manifest_path = os.fspath(manifest_path)
        if not manifest_path.endswith(".json"):
            raise ValueError(f"the manifest path must end in .json, got {manifest_path}")
        stem = os.path.basename(manifest_path)[: -len(".json")]
        self.manifest["weights"] = f"{stem}.safetensors"
        validate(self.manifest, self.tensors)
        directory = os.path.dirname(manifest_path) or "."
        os.makedirs(directory, exist_ok=True)
        weights_path = os.path.join(directory, self.manifest["weights"])
        with open(weights_path, "wb") as f:
            f.write(self.weights_bytes())
        with open(manifest_path, "w", encoding="utf-8") as f:
            f.write(self.manifest_text())
        return manifest_path, weights_path

    @classmethod
    def load(cls, manifest_path: str | os.PathLike) -> "RefuteModel":
        """Reads a manifest and the weights file it names, and validates them."""
        manifest_path = os.fspath(manifest_path)
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
        if not isinstance(manifest, dict) or not isinstance(manifest.get("weights"), str):
            raise ModelFormatError("manifest field `weights`: missing or not a string")
        weights_path = os.path.join(os.path.dirname(manifest_path) or ".", manifest["weights"])
        with open(weights_path, "rb") as f:
            tensors = safetensors.numpy.load(f.read())
        model = cls(manifest, dict(tensors))
        validate(model.manifest, model.tensors)
        return model

    # ---- inference ------------------------------------------------------------------
    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float inputs to int8 with the manifest's input scale, as the client does."""
        if self.input_scale is None:
            raise ValueError(f"model {self.name} has no input_scale")
        return quant.quantize_activation(x, self.input_scale)

    def run(self, x_int8: np.ndarray, return_all: bool = False):
        """Simulates the model exactly on a batch of int8 inputs `[B, *input_shape]`."""
        from .sim import simulate

        return simulate(self, x_int8, return_all=return_all)

    def run_float(self, x: np.ndarray, return_all: bool = False):
        """Quantizes float inputs with the input scale, then simulates."""
        return self.run(self.quantize_input(x), return_all=return_all)


# ---- validation (mirrors crates/core/src/model.rs) -------------------------------------


def _field(path: str, msg: str) -> ModelFormatError:
    return ModelFormatError(f"manifest field `{path}`: {msg}")


def _dims(step: dict, key: str, path: str, minimum: int) -> list[int]:
    v = step.get(key)
    if v is None:
        raise _field(f"{path}.{key}", "missing")
    if not isinstance(v, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in v):
        raise _field(f"{path}.{key}", "must be an array of integers")
    for d in v:
        if d < minimum or d > 0xFFFFFFFF:
            raise _field(f"{path}.{key}", f"every entry must be an integer >= {minimum}, got {d}")
    return v


def _pair(step: dict, key: str, path: str, minimum: int, default):
    if key not in step and default is not None:
        return list(default)
    v = _dims(step, key, path, minimum)
    if len(v) != 2:
        raise _field(f"{path}.{key}", "must have exactly two entries (height, width)")
    return v


def _int(step: dict, key: str, path: str, lo: int, hi: int) -> int:
    if key not in step:
        raise _field(f"{path}.{key}", "missing")
    v = step[key]
    if not isinstance(v, int) or isinstance(v, bool):
        raise _field(f"{path}.{key}", f"must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise _field(f"{path}.{key}", f"{v} is outside [{lo}, {hi}]")
    return v


def _flag(step: dict, key: str, path: str) -> bool:
    v = step.get(key, False)
    if not isinstance(v, bool):
        raise _field(f"{path}.{key}", f"must be true or false, got {v!r}")
    return v


def _tensor(step: dict, key: str, path: str, tensors: dict[str, np.ndarray]) -> TensorType:
    name = step.get(key)
    if name is None:
        raise _field(f"{path}.{key}", "missing")
    if not isinstance(name, str):
        raise _field(f"{path}.{key}", "must be a string")
    if name not in tensors:
        raise _field(f"{path}.{key}", f"no tensor `{name}` in the weights file")
    t = tensors[name]
    dtype = {np.dtype(np.int8): "i8", np.dtype(np.int32): "i32"}.get(t.dtype)
    if dtype is None:
        raise ModelFormatError(f"weights: `{name}` is {t.dtype}; refute weights are I8 or I32")
    return TensorType(dtype, tuple(int(d) for d in t.shape))


def _window_out(length: int, kernel: int, stride: int, pad: int, axis: str) -> int:
    span = length + 2 * pad - kernel
    if span < 0:
        raise ValueError(f"the window ({kernel}) is larger than the padded {axis} ({length} + 2*{pad})")
    return span // stride + 1


def _check_shape(shape: list[int]) -> None:
    if len(shape) > MAX_RANK:
        raise ValueError(f"rank {len(shape)} is above the maximum of {MAX_RANK}")
    if 0 in shape:
        raise ValueError(f"shape {shape} has an empty dim")
    if math.prod(shape) > 1 << 32:
        raise ValueError(f"shape {shape} has more than 2^32 elements")


def _check_requant_table(q: np.ndarray, qt: TensorType, n: int, k: int) -> None:
    if qt.dtype != "i32" or len(qt.shape) != 2:
        raise ValueError(f"the requant tensor must be i32 of rank 2, got {qt}")
    if qt.shape != (n, 3):
        raise ValueError(f"the requant tensor must be [{n}, 3], got {list(qt.shape)}")
    q = q.astype(np.int64)
    for row in range(n):
        bias, m, s = (int(v) for v in q[row])
        if k * quant.MAX_PRODUCT + abs(bias) > quant.MAX_ACC:
            raise ValueError(
                f"channel {row}: a reduction over {k} products plus bias {bias} can leave the int32 accumulator range"
            )
        _check_requant(m, s, f"channel {row}")


def _check_requant(m: int, s: int, what: str) -> None:
    if not 0 <= m <= quant.MAX_MULT:
        raise ValueError(f"{what} multiplier {m} is outside [0, 2^31 - 1]")
    if not quant.MIN_SHIFT <= s <= quant.MAX_SHIFT:
        raise ValueError(f"{what} shift {s} is outside [{quant.MIN_SHIFT}, {quant.MAX_SHIFT}]")


def validate(manifest: dict[str, Any], tensors: dict[str, np.ndarray]) -> list[TensorType]:
    """Checks a manifest and its tensors like the Rust loader; returns every step's output type."""
    if not isinstance(manifest, dict):
        raise ModelFormatError("the manifest must be a JSON object")
    for k in manifest:
        if k not in TOP_FIELDS:
            raise _field(k, f"unknown field (expected one of: {', '.join(sorted(TOP_FIELDS))})")
    if manifest.get("format") != FORMAT:
        raise _field("format", f'expected "{FORMAT}", got {manifest.get("format")!r}')
    if manifest.get("version") != VERSION:
        raise _field("version", f"version {manifest.get('version')!r} is not supported (expected {VERSION})")
    for k in ("name", "weights"):
        if not isinstance(manifest.get(k), str):
            raise _field(k, "missing or not a string")
    scale = manifest.get("input_scale")
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (math.isfinite(scale) and scale > 0):
            raise _field("input_scale", f"must be a positive number, got {scale!r}")
    if "metadata" in manifest and not isinstance(manifest["metadata"], dict):
        raise _field("metadata", "must be an object")
    steps = manifest.get("steps")
    if not isinstance(steps, list):
        raise _field("steps", "must be an array")
    if not steps:
        raise _field("steps", "a model needs at least its input step")
    if len(steps) > MAX_STEPS:
        raise _field("steps", f"{len(steps)} steps is above the maximum of {MAX_STEPS}")

    types: list[TensorType] = []
    for index, step in enumerate(steps):
        path = f"steps[{index}]"
        if not isinstance(step, dict):
            raise _field(path, "must be an object")
        op = step.get("op")
        if not isinstance(op, str):
            raise _field(f"{path}.op", "missing or not a string")
        if op not in OP_FIELDS:
            raise _field(f"{path}.op", f"unknown op `{op}` (supported: {', '.join(OPS)})")
        allowed = {"op", "name", "inputs"} | OP_FIELDS[op]
        for k in step:
            if k not in allowed:
                raise _field(f"{path}.{k}", f"unknown field (expected one of: {', '.join(sorted(allowed))})")
        name = step.get("name", f"{op}{index}")
        if not isinstance(name, str):
            raise _field(f"{path}.name", "must be a string")
        inputs = [] if op == "input" else _dims(step, "inputs", path, 0)
        try:
            if (index == 0) != (op == "input"):
                raise ValueError("step 0 and only step 0 is the `input` op")
            for i in inputs:
                if i >= index:
                    raise ValueError(f"input {i} is not an earlier step")
            types.append(_check_step(op, step, path, [types[i] for i in inputs], tensors))
        except ValueError as e:
            if isinstance(e, ModelFormatError):
                raise
            raise ModelFormatError(f"step {index} ({name}, {op}): {e}") from None
    return types


def _check_step(op: str, step: dict, path: str, ins: list[TensorType], tensors) -> TensorType:
    def arity(n_in: int) -> None:
        if len(ins) != n_in:
            raise ValueError(f"takes {n_in} input(s), got {len(ins)}")

    def int8_input(what: str = "the input") -> TensorType:
        if ins[0].dtype != "i8":
            raise ValueError(f"{what} must be int8, got {ins[0]}")
        return ins[0]

    def rank(t: TensorType, r: int, what: str) -> None:
        if t.dtype != "i8" or len(t.shape) != r:
            raise ValueError(f"{what} must be i8 of rank {r}, got {t}")

    if op == "input":
        shape = _dims(step, "shape", path, 1)
        _check_shape(shape)
        dtype = step.get("dtype", "int8")
        if dtype not in ("int8", "int32"):
            raise _field(f"{path}.dtype", f'must be "int8" or "int32", got {json.dumps(dtype)}')
        return TensorType("i8" if dtype == "int8" else "i32", tuple(shape))
    if op == "linear":
        arity(1)
        _flag(step, "relu", path)
        wt, qt = _tensor(step, "weight", path, tensors), _tensor(step, "requant", path, tensors)
        x = int8_input()
        if not x.shape:
            raise ValueError("the input must have rank at least 1")
        rank(wt, 2, "the weight")
        n, k = wt.shape
        if x.shape[-1] != k:
            raise ValueError(f"the input's last dim must be K = {k}, got {x}")
        _check_requant_table(tensors[step["requant"]], qt, n, k)
        return TensorType("i8", x.shape[:-1] + (n,))
    if op == "conv2d":
        arity(1)
        _flag(step, "relu", path)
        stride = _pair(step, "stride", path, 1, (1, 1))
        padding = _pair(step, "padding", path, 0, (0, 0))
        wt, qt = _tensor(step, "weight", path, tensors), _tensor(step, "requant", path, tensors)
        x = int8_input()
        rank(x, 3, "the input")
        rank(wt, 4, "the weight")
        o, c, kh, kw = wt.shape
        if x.shape[0] != c:
            raise ValueError(f"the input has {x.shape[0]} channels, the weight expects {c}")
        oh = _window_out(x.shape[1], kh, stride[0], padding[0], "height")
        ow = _window_out(x.shape[2], kw, stride[1], padding[1], "width")
        _check_requant_table(tensors[step["requant"]], qt, o, c * kh * kw)
        return TensorType("i8", (o, oh, ow))
    if op == "relu":
        arity(1)
        return int8_input()
    if op == "maxpool2d":
        arity(1)
        kernel = _pair(step, "kernel", path, 1, None)
        stride = _pair(step, "stride", path, 1, kernel)
        padding = _pair(step, "padding", path, 0, (0, 0))
        x = int8_input()
        rank(x, 3, "the input")
        if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
            raise ValueError(f"padding {padding} must be at most half the kernel {kernel}")
        oh = _window_out(x.shape[1], kernel[0], stride[0], padding[0], "height")
        ow = _window_out(x.shape[2], kernel[1], stride[1], padding[1], "width")
        return TensorType("i8", (x.shape[0], oh, ow))
    if op == "avgpool2d":
        arity(1)
        kernel = _pair(step, "kernel", path, 1, None)
        stride = _pair(step, "stride", path, 1, kernel)
        m = _int(step, "mult", path, 0, quant.MAX_MULT)
        s = _int(step, "shift", path, quant.MIN_SHIFT, quant.MAX_SHIFT)
        x = int8_input()
        rank(x, 3, "the input")
        if kernel[0] * kernel[1] > 1 << 16:
            raise ValueError(f"a window of {kernel} is above 2^16 elements")
        _check_requant(m, s, "the")
        oh = _window_out(x.shape[1], kernel[0], stride[0], 0, "height")
        ow = _window_out(x.shape[2], kernel[1], stride[1], 0, "width")
        return TensorType("i8", (x.shape[0], oh, ow))
    if op == "add":
        arity(2)
        ma = _int(step, "mult_a", path, 0, quant.MAX_MULT)
        mb = _int(step, "mult_b", path, 0, quant.MAX_MULT)
        s = _int(step, "shift", path, quant.MIN_SHIFT, quant.MAX_SHIFT)
        _flag(step, "relu", path)
        a = int8_input("the first input")
        if ins[1] != a:
            raise ValueError(f"the inputs differ in type: {a} and {ins[1]}")
        _check_requant(ma, s, "the first operand's")
        _check_requant(mb, s, "the second operand's")
        return a
    if op == "residual":
        arity(2)
        _int(step, "mult_a", path, 0, 1 << 30)
        _int(step, "mult_b", path, 0, 1 << 30)
        _int(step, "shift", path, 0, 62)
        for t, what in zip(ins, ("first", "second")):
            if t.dtype not in ("i8", "i32"):
                raise ValueError(f"the {what} input must be int8 or int32, got {t}")
        if ins[0].shape != ins[1].shape:
            raise ValueError(f"the inputs differ in shape: {ins[0]} and {ins[1]}")
        return TensorType("i32", ins[0].shape)
    if op == "lut":
        arity(1)
        tt = _tensor(step, "table", path, tensors)
        x = int8_input()
        if tt != TensorType("i8", (256,)):
            raise ValueError(f"the table must be int8[256], got {tt}")
        return x
    if op in ("reshape", "flatten"):
        arity(1)
        shape = _dims(step, "shape", path, 1)
        _check_shape(shape)
        out = TensorType(ins[0].dtype, tuple(shape))
        if out.numel != ins[0].numel:
            raise ValueError(f"cannot reshape {ins[0]} ({ins[0].numel} elements) to {shape}")
        return out
    if op == "embedding":
        arity(1)
        tt = _tensor(step, "table", path, tensors)
        if ins[0].dtype != "i32":
            raise ValueError(f"the ids must be int32, got {ins[0]}")
        if len(ins[0].shape) + 1 > MAX_RANK:
            raise ValueError(f"the ids have rank {len(ins[0].shape)}: the output's would be above the maximum of {MAX_RANK}")
        rank(tt, 2, "the table")
        return TensorType("i8", ins[0].shape + (tt.shape[1],))
    if op == "permute":
        arity(1)
        perm = _dims(step, "perm", path, 0)
        r = len(perm)
        if not 1 <= r <= MAX_RANK or sorted(perm) != list(range(r)):
            raise _field(f"{path}.perm", f"must list each axis 0 … r−1 once, for a rank r of 1 to {MAX_RANK}, got {perm}")
        x = ins[0]
        if len(x.shape) != r:
            raise ValueError(f"the permutation {perm} has {r} axes, the input {x} {len(x.shape)}")
        return TensorType(x.dtype, tuple(x.shape[a] for a in perm))
    if op == "matmul":
        arity(2)
        tb = _flag(step, "transpose_b", path)
        m = _int(step, "mult", path, 0, quant.MAX_MULT)
        s = _int(step, "shift", path, quant.MIN_SHIFT, quant.MAX_SHIFT)
        a, b = ins
        if a.dtype != "i8" or b.dtype != "i8":
            raise ValueError(f"both inputs must be int8, got {a} and {b}")
        r = len(a.shape)
        if r < 2 or len(b.shape) != r:
            raise ValueError(f"the inputs must have one rank of at least 2, got {a} and {b}")
        if a.shape[:-2] != b.shape[:-2]:
            raise ValueError(f"the leading dims differ: {a} and {b} (no broadcasting)")
        k, kb, n = (a.shape[-1], b.shape[-1], b.shape[-2]) if tb else (a.shape[-1], b.shape[-2], b.shape[-1])
        if k != kb:
            raise ValueError(f"the inner dims differ: {a} by {b}{' transposed' if tb else ''}")
        if k * quant.MAX_PRODUCT > quant.MAX_ACC:
            raise ValueError(f"a reduction over K = {k} products can leave the int32 accumulator range (K ≤ 131071)")
        _check_requant(m, s, "the")
        return TensorType("i8", a.shape[:-1] + (n,))
    if op == "layernorm":
        arity(1)
        pre = _int(step, "pre", path, 0, 31)
        _int(step, "eps", path, 0, 1 << 56)
        _int(step, "shift", path, 0, 32)
        x = ins[0]
        if x.dtype not in ("i8", "i32"):
            raise ValueError(f"the input must be int8 or int32, got {x}")
        if not x.shape:
            raise ValueError("the input must have rank at least 1")
        n = x.shape[-1]
        zmax = 1 << max((8 if x.dtype == "i8" else 32) - 1 - pre, 0)
        if n * zmax > 1 << 28:
            raise ValueError(f"the normalized dim has {n} elements of magnitude up to {zmax} after the input shift "
                             f"{pre}: N·zmax = {n * zmax} is above 2^28 (a larger input shift lowers it)")
        at = _tensor(step, "affine", path, tensors)
        if at != TensorType("i32", (n, 2)):
            raise ValueError(f"the scale and shift table must be int32 [{n}, 2] (rows of gamma, beta), got {at}")
        return TensorType("i8", x.shape)
    if op == "softmax":
        masked = "pad" in step
        arity(2 if masked else 1)
        if masked:
            _int(step, "pad", path, -(1 << 31), (1 << 31) - 1)
        tt = _tensor(step, "table", path, tensors)
        x = ins[0]
        if not x.shape:
            raise ValueError("the input must have rank at least 1")
        n = x.shape[-1]
        if n > 1 << 31:
            raise ValueError(f"the reduced dim has {n} elements, above the maximum of 2^31")
        if masked and ins[1] != TensorType("i32", (n,)):
            raise ValueError(f"the mask's ids must be int32 [{n}] (one per element of the reduced dim), got {ins[1]}")
        if tt.dtype != "i32" or len(tt.shape) != 1 or tt.shape[0] > 256:
            raise ValueError(f"the exponential table must be int32 [L] with 1 ≤ L ≤ 256, got {tt}")
        table = tensors[step["table"]].astype(np.int64)
        bad = np.flatnonzero((table < 0) | (table > 1 << 30))
        if bad.size:
            raise ValueError(f"exponential table entry {int(bad[0])} is {int(table[bad[0]])}, outside [0, 2^30]")
        return TensorType("i8", x.shape)
    if op == "argmax":
        arity(1)
        x = int8_input()
        if not x.shape:
            raise ValueError("the input must have rank at least 1")
        return TensorType("i32", x.shape[:-1])
    raise AssertionError(op)

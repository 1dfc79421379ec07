"""An exact simulator of the refute op semantics (`docs/semantics.md`) in numpy int64.

It runs a whole batch at once (the leading dim of every array is the batch; shapes in
the manifest are per inference). Every intermediate is an int64 holding the exact
mathematical integer: products of int8 values and int32 constants are at most 2^62
in magnitude under the bounds the loader enforces, so nothing overflows. numpy's
integer matmul and einsum are plain loops (no BLAS, no floats), hence exact.

The Rust engine is the authority; this is the Python-side estimate of a quantized
model's accuracy and the oracle of the importer's tests.
"""

from __future__ import annotations

import math

import numpy as np

from .model import RefuteModel, validate
from .quant import INT8_MAX, INT8_MIN, requant

_NEG = np.int64(-(1 << 40))  # below any int8: padding that max pooling never picks


def _rq_table(q: np.ndarray):
    q = q.astype(np.int64)
    return q[:, 0], q[:, 1], q[:, 2]


def linear(x: np.ndarray, w: np.ndarray, q: np.ndarray, relu: bool) -> np.ndarray:
    """x: [B, ..., K] int, w: [N, K] int8, q: [N, 3] int32 -> [B, ..., N] int64."""
    bias, m, s = _rq_table(q)
    acc = np.matmul(x.astype(np.int64), w.astype(np.int64).T) + bias
    return requant(acc, m, s, 0 if relu else INT8_MIN)


def conv2d(x: np.ndarray, w: np.ndarray, q: np.ndarray, stride, padding, relu: bool) -> np.ndarray:
    """x: [B, C, H, W], w: [O, C, KH, KW], zero padding -> [B, O, OH, OW] int64."""
    bias, m, s = _rq_table(q)
    b, c, h, wd = x.shape
    o, c2, kh, kw = w.shape
    assert c == c2
    sh, sw = stride
    ph, pw = padding
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (wd + 2 * pw - kw) // sw + 1
    xp = np.zeros((b, c, h + 2 * ph, wd + 2 * pw), dtype=np.int64)
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    w64 = w.astype(np.int64)
    acc = np.zeros((b, o, oh, ow), dtype=np.int64)
    for u in range(kh):
        for v in range(kw):
            patch = xp[:, :, u : u + sh * (oh - 1) + 1 : sh, v : v + sw * (ow - 1) + 1 : sw]
            acc += np.einsum("bchw,oc->bohw", patch, w64[:, :, u, v])
    acc += bias[None, :, None, None]
    return requant(acc, m[None, :, None, None], s[None, :, None, None], 0 if relu else INT8_MIN)


def maxpool2d(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Positions outside the input are ignored (never picked), not zeros."""
    b, c, h, wd = x.shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (wd + 2 * pw - kw) // sw + 1
    xp = np.full((b, c, h + 2 * ph, wd + 2 * pw), _NEG, dtype=np.int64)
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    out = np.full((b, c, oh, ow), _NEG, dtype=np.int64)
    for u in range(kh):
        for v in range(kw):
            out = np.maximum(out, xp[:, :, u : u + sh * (oh - 1) + 1 : sh, v : v + sw * (ow - 1) + 1 : sw])
    assert out.min(initial=0) >= INT8_MIN, "a window held no element (padding above kernel / 2)"
    return out


def avgpool2d(x: np.ndarray, kernel, stride, mult: int, shift: int) -> np.ndarray:
    b, c, h, wd = x.shape
    kh, kw = kernel
    sh, sw = stride
    oh = (h - kh) // sh + 1
    ow = (wd - kw) // sw + 1
    acc = np.zeros((b, c, oh, ow), dtype=np.int64)
    x = x.astype(np.int64)
    for u in range(kh):
        for v in range(kw):
            acc += x[:, :, u : u + sh * (oh - 1) + 1 : sh, v : v + sw * (ow - 1) + 1 : sw]
    return requant(acc, mult, shift, INT8_MIN)


def add(a: np.ndarray, b: np.ndarray, mult_a: int, mult_b: int, shift: int, relu: bool) -> np.ndarray:
    acc = a.astype(np.int64) * mult_a + b.astype(np.int64) * mult_b
    y = (acc + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)
    return np.clip(y, 0 if relu else INT8_MIN, INT8_MAX)


def residual(a: np.ndarray, b: np.ndarray, mult_a: int, mult_b: int, shift: int) -> np.ndarray:
    """clamp((a·mA + b·mB + h) >> s, −2^31, 2^31 − 1), h = 2^(s−1) (0 when s = 0)."""
    acc = a.astype(np.int64) * mult_a + b.astype(np.int64) * mult_b + (np.int64(1) << np.int64(shift - 1) if shift else 0)
    return np.clip(acc >> np.int64(shift), -(1 << 31), (1 << 31) - 1)


def lut(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table.astype(np.int64)[x.astype(np.int64) + 128]


def embedding(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Rows of `table` [V, D] by int32 ids; an id outside [0, V) reads zeros."""
    v = table.shape[0]
    inside = (ids >= 0) & (ids < v)
    rows = table.astype(np.int64)[np.where(inside, ids, 0)]
    return rows * inside[..., None]


def permute(x: np.ndarray, perm) -> np.ndarray:
    """Output axis k is input axis perm[k] (per inference: the batch axis stays first)."""
    return np.transpose(x, (0,) + tuple(a + 1 for a in perm))


def matmul(a: np.ndarray, b: np.ndarray, transpose_b: bool, mult: int, shift: int) -> np.ndarray:
    """[B, ..., M, K] by [B, ..., K, N] ([B, ..., N, K] transposed), requantized."""
    b = np.swapaxes(b, -1, -2) if transpose_b else b
    return requant(np.matmul(a.astype(np.int64), b.astype(np.int64)), mult, shift, INT8_MIN)


def softmax(x: np.ndarray, table: np.ndarray, ids: np.ndarray | None = None, pad: int = 0) -> np.ndarray:
    """softmax over the last axis from the exponential table of max − x; with `ids`
    ([B, N]) the keys whose id is `pad` are masked (read 0, left out of the maximum
    and the sum). `min(127, floor((256·e + S) / (2·S)))`, 0 where `S = 0`."""
    x = x.astype(np.int64)
    e_tab = table.astype(np.int64)
    if ids is None:
        kept = np.ones(x.shape, dtype=bool)
    else:
        kept = np.broadcast_to((ids != pad).reshape((x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],)), x.shape)
    best = np.where(kept, x, _NEG).max(axis=-1, keepdims=True)
    d = best - x
    inside = kept & (d >= 0) & (d < len(e_tab))
    e = np.where(inside, e_tab[np.clip(d, 0, len(e_tab) - 1)], 0)
    total = e.sum(axis=-1, keepdims=True)
    y = (256 * e + total) // np.maximum(2 * total, 1)
    return np.where(total > 0, np.minimum(y, 127), 0)


def isqrt(v: np.ndarray) -> np.ndarray:
    """floor(sqrt(v)) of int64 v >= 0, exact (math.isqrt per element)."""
    return np.array([math.isqrt(int(a)) for a in v.reshape(-1)], dtype=np.int64).reshape(v.shape)


def layernorm(x: np.ndarray, affine: np.ndarray, pre: int, eps: int, shift: int) -> np.ndarray:
    """layer norm over the last axis (docs/semantics.md): z = x >> pre, D = N·S2 − S1²,
    r = isqrt(max(D + eps, 1)), c = N·z − S1, and
    clamp(floor((2·(γ·c + β·r) + r·2^s) / (2·r·2^s)), −128, 127)."""
    z = x.astype(np.int64) >> pre
    n = z.shape[-1]
    s1 = z.sum(axis=-1, keepdims=True)
    s2 = (z * z).sum(axis=-1, keepdims=True)
    r = isqrt(np.maximum(n * s2 - s1 * s1 + eps, 1))
    c = n * z - s1
    gamma, beta = affine[:, 0].astype(np.int64), affine[:, 1].astype(np.int64)
    den = r << shift
    return np.clip((2 * (gamma * c + beta * r) + den) // (2 * den), INT8_MIN, 127)


def argmax(x: np.ndarray) -> np.ndarray:
    """The smallest index of the maximum (numpy's argmax returns the first)."""
    return np.argmax(x, axis=-1).astype(np.int64)


def simulate(model: RefuteModel, x: np.ndarray, return_all: bool = False):
    """Runs `model` on inputs `x` of shape `[B, *input_shape]`: int8 values, or
    int32 token ids for a model whose input is int32.

    Returns the last step's values (int64 array, int8 or int32 range by the step's
    type), or the list of every step's values with `return_all`.
    """
    types = validate(model.manifest, model.tensors)
    x = np.asarray(x)
    lo, hi, what = (INT8_MIN, INT8_MAX, "int8") if types[0].dtype == "i8" else (-(1 << 31), (1 << 31) - 1, "int32")
    if not np.issubdtype(x.dtype, np.integer) or x.min(initial=0) < lo or x.max(initial=0) > hi:
        raise ValueError(f"inputs must be {what} values")
    in_shape = types[0].shape
    if tuple(x.shape[1:]) != in_shape:
        raise ValueError(f"inputs must be [B, {', '.join(map(str, in_shape))}], got {list(x.shape)}")
    t = model.tensors
    vals: list[np.ndarray] = [x.astype(np.int64)]
    for step, ty in zip(model.steps[1:], types[1:]):
        op = step["op"]
        ins = [vals[i] for i in step["inputs"]]
        relu = step.get("relu", False)
        if op == "linear":
            y = linear(ins[0], t[step["weight"]], t[step["requant"]], relu)
        elif op == "conv2d":
            y = conv2d(ins[0], t[step["weight"]], t[step["requant"]], step.get("stride", [1, 1]),
                       step.get("padding", [0, 0]), relu)
        elif op == "relu":
            y = np.maximum(ins[0], 0)
        elif op == "maxpool2d":
            y = maxpool2d(ins[0], step["kernel"], step.get("stride", step["kernel"]), step.get("padding", [0, 0]))
        elif op == "avgpool2d":
            y = avgpool2d(ins[0], step["kernel"], step.get("stride", step["kernel"]), step["mult"], step["shift"])
        elif op == "add":
            y = add(ins[0], ins[1], step["mult_a"], step["mult_b"], step["shift"], relu)
        elif op == "residual":
            y = residual(ins[0], ins[1], step["mult_a"], step["mult_b"], step["shift"])
        elif op == "lut":
            y = lut(ins[0], t[step["table"]])
        elif op in ("reshape", "flatten"):
            y = ins[0].reshape((ins[0].shape[0],) + tuple(step["shape"]))
        elif op == "argmax":
            y = argmax(ins[0])
        elif op == "embedding":
            y = embedding(ins[0], t[step["table"]])
        elif op == "permute":
            y = permute(ins[0], step["perm"])
        elif op == "matmul":
            y = matmul(ins[0], ins[1], step.get("transpose_b", False), step["mult"], step["shift"])
        elif op == "layernorm":
            y = layernorm(ins[0], t[step["affine"]], step["pre"], step["eps"], step["shift"])
        elif op == "softmax":
            y = softmax(ins[0], t[step["table"]], ins[1] if "pad" in step else None, step.get("pad", 0))
        else:  # validate() refuses anything else
            raise AssertionError(op)
        assert y.shape[1:] == ty.shape, (step, y.shape, ty)
        vals.append(y)
    return vals if return_all else vals[-1]

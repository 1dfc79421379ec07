"""Quantization arithmetic: scales, multiplier/shift pairs, rounding, tables.

Everything here turns floats into the integers a refute model holds. Nothing in this
module runs at inference time; the simulator (`sim.py`) only ever sees integers.

Rounding: every float-to-integer conversion at import rounds half to even
(`numpy.rint`, Python's `round`), the same rule the client uses to quantize float
inputs (`docs/semantics.md`, "Float inputs").
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

INT8_MIN = -128
INT8_MAX = 127
#: Largest requantization multiplier (`m <= 2^31 - 1`).
MAX_MULT = (1 << 31) - 1
#: Shifts are in [MIN_SHIFT, MAX_SHIFT].
MIN_SHIFT = 1
MAX_SHIFT = 62
#: Largest accumulator magnitude (`docs/semantics.md`, linear/conv2d validation).
MAX_ACC = (1 << 31) - 1
#: Largest int32 value.
INT32_MAX = (1 << 31) - 1
#: Largest |int8 * int8| product, the per-term bound the loader assumes.
MAX_PRODUCT = 1 << 14
#: Significant bits kept in every scale (see `snap_scale`).
SCALE_BITS = 16


class QuantizationError(ValueError):
    """A model cannot be represented within the bounds of the refute semantics."""


def snap_scale(x: float, bits: int = SCALE_BITS) -> float:
    """Rounds a positive scale to `bits` significant bits.

    The multipliers are computed from products and quotients of scales; with every
    scale on a coarse grid they do not depend on the last bits of the float weights or
    calibration statistics, so a re-run whose floats differ in the last few ulps (another
    BLAS kernel, another CPU) still writes the same integers. The relative change of a
    scale is below 2^-16, far under the int8 resolution of 2^-7.
    """
    x = float(x)
    if not (math.isfinite(x) and x > 0):
        raise QuantizationError(f"a scale must be a positive finite number, got {x}")
    frac, exp = math.frexp(x)  # x = frac * 2^exp, frac in [0.5, 1)
    return math.ldexp(round(math.ldexp(frac, bits)), exp - bits)


def multiplier_shift(ratio: float) -> tuple[int, int]:
    """(m, s) with m / 2^s ~= ratio, m in [2^30, 2^31), s in [1, 62].

    `ratio` is `scale_in * scale_w / scale_out` (or the like). A ratio so small that
    s would pass 62 gets s = 62 and a smaller m (precision is lost, not range); a ratio
    of 2^30 or more cannot be represented and is an error. A ratio of 0 gives (0, 1).
    """
    ratio = float(ratio)
    if not (math.isfinite(ratio) and ratio >= 0):
        raise QuantizationError(f"requantization ratio must be finite and >= 0, got {ratio}")
    if ratio == 0:
        return 0, MIN_SHIFT
    frac, exp = math.frexp(ratio)  # ratio = frac * 2^exp, frac in [0.5, 1)
    shift = 31 - exp
    mult = round(math.ldexp(frac, 31))  # exact scaling, then half-to-even
    if mult == 1 << 31:  # frac rounded up to 1.0
        mult, shift = 1 << 30, shift - 1
    if shift > MAX_SHIFT:
        shift = MAX_SHIFT
        mult = round(math.ldexp(ratio, MAX_SHIFT))
    if shift < MIN_SHIFT:
        raise QuantizationError(f"requantization ratio {ratio} is too large (it needs a shift below {MIN_SHIFT})")
    return int(mult), int(shift)


def shared_shift(ratios: Sequence[float]) -> tuple[list[int], int]:
    """Multipliers for several ratios that share one shift (the residual `add`).

    The shift is chosen for the largest ratio (its multiplier lands in [2^30, 2^31));
    the others get what that shift gives them.
    """
    ratios = [float(r) for r in ratios]
    top = max(ratios)
    _, shift = multiplier_shift(top)
    mults = [round(math.ldexp(r, shift)) for r in ratios]
    if max(mults) > MAX_MULT:  # cannot happen after multiplier_shift, kept as a guard
        raise QuantizationError(f"multipliers {mults} exceed 2^31 - 1")
    return [int(m) for m in mults], shift


RESIDUAL_MAX_MULT = 1 << 30
"""Largest multiplier of a `residual` (its operands may be int32)."""

STREAM_BITS = 30
"""An int32 residual stream holds its calibrated largest magnitude at 2^30 (half its
range: headroom for inputs past the calibration's)."""


def residual_mults(ratios: Sequence[float]) -> tuple[list[int], int]:
    """Multipliers in [0, 2^30] for the ratios `scale_operand / scale_stream` of a
    `residual`, sharing the largest shift in [0, 62] that keeps them all in range."""
    ratios = [float(r) for r in ratios]
    if not all(math.isfinite(r) and r >= 0 for r in ratios):
        raise QuantizationError(f"residual ratios must be finite and >= 0, got {ratios}")
    top = max(ratios)
    if top == 0:
        return [0 for _ in ratios], 0
    if round(top) > RESIDUAL_MAX_MULT:
        raise QuantizationError(f"a residual ratio of {top:.3g} needs a multiplier above 2^30")
    shift = 0
    while shift < 62 and round(math.ldexp(top, shift + 1)) <= RESIDUAL_MAX_MULT:
        shift += 1
    return [int(round(math.ldexp(r, shift))) for r in ratios], shift


def requant(acc, m, s, lo: int = INT8_MIN) -> np.ndarray:
    """`clamp((acc*m + 2^(s-1)) >> s, lo, 127)` in int64, element-wise (broadcasting).

    Exactly the rule of `docs/semantics.md`: `>>` is numpy's arithmetic right shift
    of signed integers, i.e. floor division by 2^s.
    """
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    rounded = (acc * m + (np.int64(1) << (s - 1))) >> s
    return np.clip(rounded, lo, INT8_MAX)


def weight_scales(w: np.ndarray) -> np.ndarray:
    """Per-output-channel symmetric scales `max|w| / 127`, snapped; 0 for an all-zero channel.

    `w` has the output channel first (`[N, K]` or `[O, C, KH, KW]`).
    """
    flat = np.asarray(w, dtype=np.float64).reshape(len(w), -1)
    amax = np.abs(flat).max(axis=1)
    return np.array([snap_scale(a / INT8_MAX) if a > 0 else 0.0 for a in amax])


def quantize_weight_with(w: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """int8 `clamp(round(w / scale), -127, 127)` per output channel (a scale of 0 gives 0)."""
    w = np.asarray(w, dtype=np.float64)
    flat = w.reshape(len(w), -1)
    scales = np.asarray(scales, dtype=np.float64)
    safe = np.where(scales > 0, scales, 1.0)
    q = np.clip(np.rint(flat / safe[:, None]), -INT8_MAX, INT8_MAX)
    q[scales == 0] = 0
    return q.astype(np.int8).reshape(w.shape)


def quantize_weight(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8: scale = max|w| / 127 (snapped), q in [-127, 127]."""
    scales = weight_scales(w)
    return quantize_weight_with(w, scales), scales


def widen_for_bias(b: np.ndarray, scale_in: float, scales: np.ndarray, k: int) -> tuple[np.ndarray, list[int]]:
    """Coarsens the weight scale of every channel whose bias would break the accumulator bound.

    The bias in accumulator units is `b / (scale_in * scale_w)`; it must stay within
    `2^31 - 1 - K*2^14`. A channel whose weights are tiny next to its bias (a dead
    channel) gets the smallest scale that fits (1 % margin); its weights then round
    to few levels, usually all 0, and the channel still outputs its bias.
    Returns the new scales and the channels changed.
    """
    budget = MAX_ACC - k * MAX_PRODUCT
    if budget <= 0:
        raise QuantizationError(f"a reduction over K={k} products cannot fit the accumulator (K*2^14 > 2^31 - 1)")
    scales = np.array(scales, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    changed = []
    for c in range(len(scales)):
        need = abs(b[c]) / (scale_in * budget)
        if need > scales[c] or abs(np.rint(b[c] / (scale_in * scales[c]))) > budget:
            scales[c] = snap_scale(need * 1.01)
            changed.append(int(c))
    return scales, changed


def quantize_bias(b: np.ndarray, acc_scale: np.ndarray) -> np.ndarray:
    """int64 `round(b / acc_scale)`, the bias in accumulator units (bounds checked by the caller)."""
    return np.rint(np.asarray(b, dtype=np.float64) / np.asarray(acc_scale, dtype=np.float64)).astype(np.int64)


def check_accumulator(k: int, bias: np.ndarray, what: str) -> None:
    """Raises unless `k * 2^14 + |bias| <= 2^31 - 1` for every channel."""
    bias = np.asarray(bias, dtype=np.int64)
    reduce = int(k) * MAX_PRODUCT
    worst = int(np.abs(bias).max()) if bias.size else 0
    if reduce + worst > MAX_ACC:
        ch = int(np.abs(bias).argmax())
        raise QuantizationError(
            f"{what}: accumulator bound violated: a reduction over K={k} products (K*2^14 = {reduce}) "
            f"plus |bias| = {worst} (channel {ch}) exceeds 2^31 - 1; the bias is too large for the "
            f"scales of the input and weights (reduce K, or the bias, or widen the weight range)"
        )


def quantize_activation(x: np.ndarray, scale: float) -> np.ndarray:
    """Client-side input quantization: `clamp(round_half_even(x / scale), -128, 127)` as int8."""
    q = np.rint(np.asarray(x, dtype=np.float64) / float(scale))
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def make_lut(f: Callable[[np.ndarray], np.ndarray], scale_in: float, scale_out: float) -> np.ndarray:
    """The 256-entry int8 table `T[q + 128] = clamp(round(f(q * scale_in) / scale_out))`."""
    q = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.float64)
    y = np.asarray(f(q * scale_in), dtype=np.float64)
    if y.shape != q.shape or not np.all(np.isfinite(y)):
        raise QuantizationError("the element-wise function must map 256 finite inputs to 256 finite outputs")
    return np.clip(np.rint(y / scale_out), INT8_MIN, INT8_MAX).astype(np.int8)


EXP_ONE = 1 << 30
"""`E[0]` of a softmax's exponential table: the table is `2^30 · exp(−d · scale)`."""

EXP_TABLE = 256
"""Most entries of a softmax's exponential table."""


LN_ROW = 1 << 28
"""A layer norm's row bound: `N·zmax ≤ 2^28`."""

LN_MAX_EPS = 1 << 56
LN_MAX_SHIFT = 32


def layernorm_zmax(bits: int, pre: int) -> int:
    """The largest `|x >> pre|` of a `bits`-bit input."""
    return 1 << max(bits - 1 - pre, 0)


def layernorm_pre(n: int, bits: int = 8) -> int:
    """The smallest input shift that keeps `N·zmax ≤ 2^28` for rows of `n`."""
    return next(p for p in range(32) if n * layernorm_zmax(bits, p) <= LN_ROW)


def layernorm_params(gamma: np.ndarray, beta: np.ndarray, eps: float, n: int, scale_in: float, scale_out: float,
                     bits: int = 8) -> tuple[np.ndarray, int, int, int]:
    """The (γ, β) rows, the input shift, eps and the output shift of a layer norm
    over rows of `n` at input scale `scale_in` and output scale `scale_out`:
    `γ_d = round(γ_f·2^s / scale_out)`, `β_d = round(β_f·2^s / scale_out)` with the
    largest `s ≤ 32` that keeps both int32, `pre` the smallest shift the row bound
    allows, and `eps = round(eps_f·N² / (scale_in·2^pre)²)`, at most 2^56."""
    pre = layernorm_pre(n, bits)
    big = max(float(np.abs(gamma).max(initial=0.0)), float(np.abs(beta).max(initial=0.0))) / scale_out
    shift = LN_MAX_SHIFT
    while shift > 0 and big * 2.0 ** shift > INT32_MAX:
        shift -= 1
    if big * 2.0 ** shift > INT32_MAX:
        raise QuantizationError(f"layer norm scale or shift {big:.3g} output steps does not fit int32")
    rows = np.stack([np.rint(gamma * 2.0 ** shift / scale_out), np.rint(beta * 2.0 ** shift / scale_out)], axis=1)
    eps_q = min(int(round(eps * n * n / (scale_in * 2.0 ** pre) ** 2)), LN_MAX_EPS)
    return rows.astype(np.int32), pre, eps_q, shift


def exp_table(scale_in: float) -> np.ndarray:
    """The exponential table of a softmax whose input has scale `scale_in`:
    `E[d] = round(2^30 · exp(−d · scale_in))` for `d < 256`, cut after its last
    non-zero entry (past the table the exponential reads 0)."""
    d = np.arange(EXP_TABLE, dtype=np.float64)
    e = np.rint(EXP_ONE * np.exp(-d * scale_in)).astype(np.int64)
    last = int(np.flatnonzero(e)[-1]) if e.any() else 0
    return e[: last + 1].astype(np.int32)

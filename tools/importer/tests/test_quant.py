"""The quantization arithmetic: multipliers and shifts, rounding, saturation, tables."""

import math

import numpy as np
import pytest

from refute_import import quant
from refute_import.quant import QuantizationError, multiplier_shift, requant


@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.75, 1e-3, 3.3e-5, 0.999999, 1234.5, 2.0**-20, 1 / 3])
def test_multiplier_in_range_and_accurate(ratio):
    m, s = multiplier_shift(ratio)
    assert 1 << 30 <= m < 1 << 31
    assert 1 <= s <= 62
    assert abs(m / 2**s - ratio) <= ratio * 2.0**-30


def test_multiplier_exact_powers_of_two():
    assert multiplier_shift(1.0) == (1 << 30, 30)
    assert multiplier_shift(0.5) == (1 << 30, 31)
    assert multiplier_shift(2.0**-10) == (1 << 30, 40)
    assert multiplier_shift(3.0) == (3 << 29, 29)


def test_multiplier_rounding_up_to_2_pow_31_renormalises():
    # frac just below 1: round(frac * 2^31) == 2^31, which must become (2^30, s - 1)
    ratio = 1.0 - 2.0**-40
    m, s = multiplier_shift(ratio)
    assert (m, s) == (1 << 30, 30)


def test_multiplier_random_ratios_property(rng):
    for ratio in np.exp(rng.uniform(math.log(1e-9), math.log(1e5), 2000)):
        m, s = multiplier_shift(float(ratio))
        assert 1 << 30 <= m <= quant.MAX_MULT and 1 <= s <= 62
        assert abs(m / 2**s - ratio) <= ratio * 2.0**-30


def test_multiplier_tiny_ratio_uses_shift_62_and_small_multiplier():
    m, s = multiplier_shift(2.0**-40)
    assert s == 62 and m == 1 << 22
    assert multiplier_shift(2.0**-70) == (0, 62)
    assert multiplier_shift(0.0) == (0, 1)


def test_multiplier_too_large_or_invalid_is_an_error():
    with pytest.raises(QuantizationError):
        multiplier_shift(2.0**31)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(QuantizationError):
            multiplier_shift(bad)


def test_shared_shift_for_add():
    (ma, mb), s = quant.shared_shift([0.8, 0.1])
    assert 1 << 30 <= ma < 1 << 31 and mb < 1 << 30
    assert abs(ma / 2**s - 0.8) < 1e-9 and abs(mb / 2**s - 0.1) < 1e-9


def test_requant_rounds_half_up_like_the_spec():
    # the cases of crates/core/src/reference.rs
    assert requant(5, 1, 1) == 3  # 2.5 -> 3
    assert requant(-5, 1, 1) == -2  # -2.5 -> -2 (half up, not half away from zero)
    assert requant(-7, 1, 1) == -3
    assert requant(7, 1, 1) == 4
    max_acc = (1 << 31) - 1
    assert requant(max_acc, max_acc, 62) == 1
    assert requant(-max_acc, max_acc, 62) == -1
    assert requant(max_acc, max_acc, 31) == 127


def test_requant_saturates_to_int8_and_keeps_minus_128():
    assert requant(1 << 20, 1, 1) == 127
    assert requant(-(1 << 20), 1, 1) == -128
    assert requant(-256, 1, 1) == -128  # exactly -128 is reachable
    assert requant(-254, 1, 1) == -127
    assert requant(-(1 << 20), 1, 1, lo=0) == 0  # fused ReLU
    assert requant(-1, 1, 1, lo=0) == 0


def test_requant_vectorised_per_channel():
    acc = np.array([[10, 10], [-10, -10]])
    out = requant(acc, np.array([1 << 30, 3 << 29]), np.array([31, 30]))
    assert out.tolist() == [[5, 15], [-5, -15]]


def test_requant_matches_exact_rational_rounding(rng):
    acc = rng.integers(-(2**31) + 1, 2**31, 500)
    m = rng.integers(0, 2**31, 500)
    s = rng.integers(1, 63, 500)
    got = requant(acc, m, s)
    for a, mm, ss, g in zip(acc, m, s, got):
        want = (int(a) * int(mm) + (1 << (int(ss) - 1))) // (1 << int(ss))  # Python ints: exact floor
        assert g == max(-128, min(127, want))


def test_weight_quantization_is_symmetric_per_channel():
    w = np.array([[0.5, -0.25, 0.125], [-2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    q, s = quant.quantize_weight(w)
    assert q.dtype == np.int8
    assert q[0].tolist() == [127, -64, 32]  # -63.5 and 31.75 rounded half to even / nearest
    assert q[1].tolist() == [-127, 64, 0]
    assert q[2].tolist() == [0, 0, 0] and s[2] == 0
    assert abs(s[0] - 0.5 / 127) < 0.5 / 127 * 2**-15
    assert q.min() >= -127  # weights never use -128


def test_rounding_is_half_to_even():
    assert quant.quantize_activation(np.array([0.5, 1.5, 2.5, -0.5, -1.5]), 1.0).tolist() == [0, 2, 2, 0, -2]
    assert quant.quantize_bias(np.array([2.5, 3.5]), np.array([1.0, 1.0])).tolist() == [2, 4]


def test_input_quantization_saturates():
    q = quant.quantize_activation(np.array([1000.0, -1000.0, -128.4, 127.4]), 1.0)
    assert q.tolist() == [127, -128, -128, 127]


def test_snap_scale_keeps_16_bits():
    x = 0.1234567
    y = quant.snap_scale(x)
    assert abs(y - x) <= x * 2.0**-16
    frac, _ = math.frexp(y)
    assert float(frac * 2**16).is_integer()
    assert quant.snap_scale(0.25) == 0.25
    with pytest.raises(QuantizationError):
        quant.snap_scale(0.0)


def test_lut_table():
    t = quant.make_lut(np.tanh, 1 / 32, 1 / 127)
    assert t.dtype == np.int8 and t.shape == (256,)
    assert t[128] == 0  # tanh(0)
    assert t[0] == -127 and t[255] == 127  # tanh(+-4) ~ +-0.9993
    assert t[128 + 16] == round(math.tanh(0.5) * 127)
    sat = quant.make_lut(lambda v: 10 * v, 1.0, 1.0)
    assert sat[0] == -128 and sat[255] == 127


def test_accumulator_bound():
    quant.check_accumulator(100, np.array([2**31 - 1 - 100 * 2**14]), "x")
    with pytest.raises(QuantizationError, match="accumulator bound"):
        quant.check_accumulator(100, np.array([2**31 - 100 * 2**14]), "layer `fc`")


def test_widen_for_bias_fits_the_bound():
    k = 72
    scales, changed = quant.widen_for_bias(np.array([0.5, 3.0]), 0.01, np.array([0.01, 1e-12]), k)
    assert changed == [1]
    assert scales[0] == 0.01
    qb = quant.quantize_bias(np.array([0.5, 3.0]), 0.01 * scales)
    quant.check_accumulator(k, qb, "x")

"""The numpy simulator against hand-computed values and a scalar transliteration of
crates/core/src/reference.rs; the Python validator against the Rust loader's rules."""

import copy
import os

import numpy as np
import pytest

from conftest import REPO
from refute_import import ModelFormatError, RefuteModel, sim


def ref_requant(acc, m, s, lo):
    return max(lo, min(127, (acc * m + (1 << (s - 1))) >> s))


def ref_conv(x, w, q, stride, pad, relu):
    """One output element at a time, Python ints, as reference.rs does."""
    c_len, h, wd = x.shape
    o_len, _, kh, kw = w.shape
    oh = (h + 2 * pad[0] - kh) // stride[0] + 1
    ow = (wd + 2 * pad[1] - kw) // stride[1] + 1
    out = np.zeros((o_len, oh, ow), dtype=np.int64)
    for o in range(o_len):
        for i in range(oh):
            for j in range(ow):
                acc = int(q[o, 0])
                for c in range(c_len):
                    for u in range(kh):
                        for v in range(kw):
                            hi, wi = i * stride[0] + u - pad[0], j * stride[1] + v - pad[1]
                            if 0 <= hi < h and 0 <= wi < wd:
                                acc += int(x[c, hi, wi]) * int(w[o, c, u, v])
                out[o, i, j] = ref_requant(acc, int(q[o, 1]), int(q[o, 2]), 0 if relu else -128)
    return out


def ref_maxpool(x, k, stride, pad):
    c_len, h, wd = x.shape
    oh = (h + 2 * pad[0] - k[0]) // stride[0] + 1
    ow = (wd + 2 * pad[1] - k[1]) // stride[1] + 1
    out = np.zeros((c_len, oh, ow), dtype=np.int64)
    for c in range(c_len):
        for i in range(oh):
            for j in range(ow):
                vals = [int(x[c, i * stride[0] + u - pad[0], j * stride[1] + v - pad[1]])
                        for u in range(k[0]) for v in range(k[1])
                        if 0 <= i * stride[0] + u - pad[0] < h and 0 <= j * stride[1] + v - pad[1] < wd]
                out[c, i, j] = max(vals)
    return out


def rand_q(rng, n, k):
    bias = rng.integers(-(2**31 - 1 - k * 2**14), 2**31 - k * 2**14, n)
    return np.stack([bias // 4096, rng.integers(2**30, 2**31, n), rng.integers(30, 45, n)], 1).astype(np.int32)


@pytest.mark.parametrize("stride, pad, relu", [((1, 1), (1, 1), False), ((2, 1), (0, 1), True), ((2, 2), (2, 0), False)])
def test_conv2d_matches_the_scalar_reference(rng, stride, pad, relu):
    x = rng.integers(-128, 128, (3, 3, 6, 5), dtype=np.int8)
    w = rng.integers(-128, 128, (4, 3, 3, 2), dtype=np.int8)
    q = rand_q(rng, 4, 18)
    got = sim.conv2d(x, w, q, stride, pad, relu)
    for b in range(len(x)):
        assert np.array_equal(got[b], ref_conv(x[b], w, q, stride, pad, relu))


@pytest.mark.parametrize("k, stride, pad", [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 2), (1, 1))])
def test_maxpool_matches_the_scalar_reference(rng, k, stride, pad):
    x = rng.integers(-128, 128, (2, 2, 5, 6), dtype=np.int8)
    got = sim.maxpool2d(x, k, stride, pad)
    for b in range(len(x)):
        assert np.array_equal(got[b], ref_maxpool(x[b], k, stride, pad))


def test_maxpool_padding_is_ignored_not_zero():
    x = np.full((1, 1, 2, 2), -100, dtype=np.int8)
    assert sim.maxpool2d(x, (3, 3), (1, 1), (1, 1)).tolist() == [[[[-100, -100], [-100, -100]]]]


def test_linear_by_hand():
    x = np.array([[1, 2], [-128, 127]], dtype=np.int8)
    w = np.array([[3, 4], [-128, -128]], dtype=np.int8)
    q = np.array([[5, 1 << 30, 31], [0, 1 << 30, 40]], dtype=np.int32)
    # row 0: 5 + 3 + 8 = 16 -> 16 / 2 = 8 ; -128 -> 128/1024 = 0.125 -> 0
    # row 1: 5 - 384 + 508 = 129 -> 64.5 -> 65 (half up) ; 128*128 - 127*128 = 128 -> 0
    assert sim.linear(x, w, q, relu=False).tolist() == [[8, 0], [65, 0]]
    # row 0: -5000 + 11 saturates to -128 ; -384 / 8 = -48 exactly ; -380 / 8 = -47.5 -> -47 (half up)
    q2 = np.array([[-5000, 1 << 30, 30], [0, 1, 3]], dtype=np.int32)
    assert sim.linear(x[:1], w, q2, relu=False).tolist() == [[-128, -48]]
    assert sim.linear(x[:1], w, q2, relu=True).tolist() == [[0, 0]]
    q3 = np.array([[0, 1, 3], [4, 1, 3]], dtype=np.int32)
    assert sim.linear(x[:1], w, q3, relu=False).tolist() == [[1, -47]]  # 11/8 = 1.375 -> 1


def test_avgpool_add_lut_argmax_by_hand():
    x = np.arange(16, dtype=np.int64).reshape(1, 1, 4, 4) - 8
    # 2x2 windows: sums -22, -14, 10, 18 ; times 1/4 (m = 2^30, s = 32): -5.5 -> -5, -3.5 -> -3, 2.5 -> 3, 4.5 -> 5
    assert sim.avgpool2d(x, (2, 2), (2, 2), 1 << 30, 32).reshape(-1).tolist() == [-5, -3, 3, 5]
    assert sim.avgpool2d(x, (4, 4), (4, 4), 1 << 30, 34).reshape(-1).tolist() == [0]  # -8/16 = -0.5 -> 0
    assert sim.avgpool2d(x, (1, 2), (1, 2), 1, 1).reshape(-1)[:2].tolist() == [-7, -5]  # -15/2 -> -7, -11/2 -> -5
    a, b = np.array([1, -1, 100, -100]), np.array([0, 0, 100, -100])
    assert sim.add(a, b, 1, 0, 1, relu=False).tolist() == [1, 0, 50, -50]  # a/2: 0.5 -> 1, -0.5 -> 0, -50 exact
    assert sim.add(a, b, 1 << 30, 1 << 30, 30, relu=False).tolist() == [1, -1, 127, -128]
    assert sim.add(a, b, 1 << 30, 1 << 30, 30, relu=True).tolist() == [1, 0, 127, 0]
    table = np.arange(256, dtype=np.int64) - 128
    table = np.clip(table * 2, -128, 127).astype(np.int8)
    assert sim.lut(np.array([-128, 0, 127]), table).tolist() == [-128, 0, 127]
    assert sim.argmax(np.array([[3, 7, 7, 1], [-5, -5, -5, -5]])).tolist() == [1, 0]  # ties: smallest index


def test_hand_every_op_fixture_loads_and_runs(rng):
    qm = RefuteModel.load(os.path.join(REPO, "fixtures", "models", "hand-every-op.json"))
    ops = {s["op"] for s in qm.steps}
    assert {"conv2d", "relu", "lut", "add", "maxpool2d", "avgpool2d", "reshape", "linear", "argmax"} <= ops
    x = rng.integers(-128, 128, (16,) + qm.input_shape, dtype=np.int8)
    outs = qm.run(x, return_all=True)
    for v, t in zip(outs, qm.types()):
        lo, hi = (-128, 127) if t.dtype == "i8" else (-(2**31), 2**31 - 1)
        assert v.min() >= lo and v.max() <= hi and v.shape[1:] == t.shape


def tiny():
    return RefuteModel(
        {"format": "refute-model", "version": 1, "name": "tiny", "weights": "tiny.safetensors", "input_scale": 0.5,
         "steps": [{"op": "input", "shape": [4]},
                   {"op": "linear", "inputs": [0], "weight": "fc.w", "requant": "fc.q", "relu": True},
                   {"op": "argmax", "inputs": [1]}]},
        {"fc.w": (np.arange(12, dtype=np.int8) - 6).reshape(3, 4),
         "fc.q": np.array([[5, 1 << 30, 36], [-5, 1 << 30, 36], [0, 1 << 30, 36]], dtype=np.int32)},
    )


def edited(edit):
    m = tiny()
    edit(m)
    return m


# the cases of crates/core/src/model.rs (every_malformed_field_is_named, out_of_range_weights_are_refused)
BAD = [
    (lambda m: m.manifest.update(format="onnx"), "manifest field `format`"),
    (lambda m: m.manifest.update(version=2), "manifest field `version`"),
    (lambda m: m.manifest.update(colour=1), "manifest field `colour`: unknown field"),
    (lambda m: m.steps[1].update(relu="yes"), "`steps[1].relu`"),
    (lambda m: m.steps[1].update(weight="nope"), "`steps[1].weight`: no tensor `nope`"),
    (lambda m: m.steps[1].update(stride=[1, 1]), "`steps[1].stride`: unknown field"),
    (lambda m: m.steps[1].update(op="lstm"), "unknown op `lstm`"),
    (lambda m: m.steps[1].update(inputs=[1]), "input 1 is not an earlier step"),
    (lambda m: m.steps[0].update(shape=[5]), "the input's last dim must be K = 4"),
    (lambda m: m.steps[0].update(shape=[0]), "manifest field `steps[0].shape`"),
    (lambda m: m.steps.__setitem__(2, {"op": "input", "shape": [1]}), "step 0 and only step 0"),
    (lambda m: m.manifest.update(input_scale=-1.0), "`input_scale`"),
    (lambda m: m.steps[1].pop("requant"), "`steps[1].requant`: missing"),
    (lambda m: m.tensors["fc.q"].__setitem__((0, 2), 63), "channel 0 shift 63"),
    (lambda m: m.tensors["fc.q"].__setitem__((0, 0), 2**31 - 1), "accumulator"),
    (lambda m: m.tensors["fc.q"].__setitem__((0, 1), -1), "multiplier -1"),
    (lambda m: m.tensors.__setitem__("fc.w", np.zeros((3, 4), np.int32)), "the weight must be i8"),
    (lambda m: m.steps.insert(2, {"op": "maxpool2d", "inputs": [1], "kernel": [2, 2]}), "must be i8 of rank 3"),
    (lambda m: m.steps.insert(2, {"op": "reshape", "inputs": [1], "shape": [2, 2]}), "cannot reshape"),
]


@pytest.mark.parametrize("edit, want", BAD, ids=[w for _, w in BAD])
def test_validator_refuses_what_the_rust_loader_refuses(edit, want):
    tiny().types()
    with pytest.raises(ModelFormatError) as e:
        edited(edit).types()
    assert want in str(e.value)


def test_validator_pool_rules():
    def with_pool(step):
        m = tiny()
        m.steps[0]["shape"] = [1, 4, 4]
        m.steps[1:] = [step]
        return m

    with_pool({"op": "maxpool2d", "inputs": [0], "kernel": [3, 3], "padding": [1, 1]}).types()
    with pytest.raises(ModelFormatError, match="at most half the kernel"):
        with_pool({"op": "maxpool2d", "inputs": [0], "kernel": [2, 2], "padding": [2, 0]}).types()
    with pytest.raises(ModelFormatError, match="larger than the padded height"):
        with_pool({"op": "avgpool2d", "inputs": [0], "kernel": [5, 1], "mult": 1, "shift": 1}).types()
    with pytest.raises(ModelFormatError, match="shift"):
        with_pool({"op": "avgpool2d", "inputs": [0], "kernel": [2, 2], "mult": 1, "shift": 0}).types()

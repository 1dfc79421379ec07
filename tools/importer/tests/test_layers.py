"""Every supported layer: imported, lowered to the expected refute ops, and its simulated
integer output close to the float output (within a few output quantization steps)."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from refute_import import UnsupportedError, import_model
from refute_import.quant import quantize_activation


def float_out(model, x):
    with torch.no_grad():
        return model.double().eval()(torch.from_numpy(x)).numpy()


def ops(qm):
    return [s["op"] for s in qm.steps]


def check(model, x, units=2.5, mean_units=0.75, **kw):
    """Imports `model` calibrated on `x`; asserts the dequantized simulated output is
    within `units` output steps of the float output everywhere (and `mean_units` on
    average). Returns the imported model."""
    torch.manual_seed(0)
    qm = import_model(model, x, name="t", **kw)
    qm.types()  # validates like the Rust loader
    f = float_out(model, x)
    q = qm.run_float(x)
    s = qm.metadata["output_scale"]
    err = np.abs(q * s - f) / s
    assert q.shape == f.shape
    assert err.max() <= units, f"max error {err.max():.2f} output steps"
    assert err.mean() <= mean_units, f"mean error {err.mean():.2f} output steps"
    # the output uses the int8 range well (calibrated scale, not a degenerate one)
    assert np.abs(q).max() >= 100
    return qm


def seeded(make):
    torch.manual_seed(0)
    return make()


@pytest.fixture
def x_vec(rng):
    return rng.normal(size=(256, 16))


@pytest.fixture
def x_img(rng):
    return rng.normal(size=(128, 3, 8, 8))


def test_linear(x_vec):
    qm = check(seeded(lambda: nn.Linear(16, 8)), x_vec)
    assert ops(qm) == ["input", "linear"]
    assert qm.steps[1]["relu"] is False
    w = qm.tensors[qm.steps[1]["weight"]]
    assert w.dtype == np.int8 and w.shape == (8, 16)
    assert np.abs(w).max(axis=1).tolist() == [127] * 8  # per-channel scale uses the full range
    q = qm.tensors[qm.steps[1]["requant"]]
    assert q.dtype == np.int32 and q.shape == (8, 3)
    assert ((q[:, 1] >= 2**30) & (q[:, 1] < 2**31)).all()


def test_linear_without_bias_and_on_rank_2_samples(rng):
    x = rng.normal(size=(64, 5, 16))
    qm = check(seeded(lambda: nn.Linear(16, 8, bias=False)), x)
    assert qm.tensors[qm.steps[1]["requant"]][:, 0].tolist() == [0] * 8
    assert qm.types()[-1].shape == (5, 8)


@pytest.mark.parametrize("relu", ["module", F.relu, torch.relu, "method"])
def test_relu_is_fused_into_linear(x_vec, relu):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 8)
            self.relu = nn.ReLU()

        def forward(self, x):
            y = self.fc(x)
            if relu == "module":
                return self.relu(y)
            return y.relu() if relu == "method" else relu(y)

    qm = check(seeded(M), x_vec)
    assert ops(qm) == ["input", "linear"]
    assert qm.steps[1]["relu"] is True
    assert qm.run_float(x_vec).min() == 0


def test_relu_with_a_second_user_is_not_fused(x_vec):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 8)

        def forward(self, x):
            y = self.fc(x)
            return F.relu(y) + y

    qm = check(seeded(M), x_vec)
    assert ops(qm) == ["input", "linear", "relu", "add"]
    assert qm.steps[1]["relu"] is False
    assert qm.steps[3]["inputs"] == [2, 1]


def test_conv2d_stride_padding_no_bias(x_img):
    qm = check(seeded(lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)), x_img)
    assert ops(qm) == ["input", "conv2d"]
    st = qm.steps[1]
    assert st["stride"] == [2, 2] and st["padding"] == [1, 1] and st["relu"] is False
    assert qm.tensors[st["weight"]].shape == (4, 3, 3, 3)
    assert qm.types()[-1].shape == (4, 4, 4)


def test_conv2d_rectangular_kernel_and_same_padding(x_img):
    qm = check(seeded(lambda: nn.Sequential(nn.Conv2d(3, 4, (3, 1), padding="same"), nn.ReLU())), x_img)
    st = qm.steps[1]
    assert st["padding"] == [1, 0] and st["relu"] is True
    assert qm.types()[-1].shape == (4, 8, 8)


def test_batchnorm_is_folded_into_conv(x_img):
    def make():
        bn = nn.BatchNorm2d(4)
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), bn, nn.ReLU())

    qm = check(seeded(make), x_img)
    assert ops(qm) == ["input", "conv2d"] and qm.steps[1]["relu"] is True


def test_maxpool_is_exact_at_the_input_scale(x_img):
    model = nn.MaxPool2d(3, stride=2, padding=1)
    qm = import_model(model, x_img, name="t")
    st = qm.steps[1]
    assert (st["op"], st["kernel"], st["stride"], st["padding"]) == ("maxpool2d", [3, 3], [2, 2], [1, 1])
    # max commutes with the (monotone) quantization: bit-exact, not just close
    want = quantize_activation(float_out(model, x_img), qm.input_scale)
    assert np.array_equal(qm.run_float(x_img), want)


def test_functional_maxpool_and_standalone_relu(x_img):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return F.relu(F.max_pool2d(self.conv(x), 2))

    qm = check(seeded(M), x_img)
    assert ops(qm) == ["input", "conv2d", "maxpool2d", "relu"]
    assert qm.steps[2]["kernel"] == [2, 2] and qm.steps[2]["stride"] == [2, 2]


@pytest.mark.parametrize(
    "pool, kernel, stride",
    [(nn.AvgPool2d(2), [2, 2], [2, 2]), (nn.AvgPool2d(3, stride=1), [3, 3], [1, 1]),
     (nn.AdaptiveAvgPool2d(1), [8, 8], [8, 8]), (nn.AdaptiveAvgPool2d((2, 4)), [4, 2], [4, 2])],
)
def test_average_pools(x_img, pool, kernel, stride):
    qm = check(nn.Sequential(pool), x_img)
    st = qm.steps[1]
    assert (st["op"], st["kernel"], st["stride"]) == ("avgpool2d", kernel, stride)
    assert 2**30 <= st["mult"] < 2**31


def test_mean_over_spatial_dims_is_a_global_pool(x_img):
    class M(nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    qm = check(M(), x_img)
    assert ops(qm) == ["input", "avgpool2d", "reshape"]
    assert qm.steps[1]["kernel"] == [8, 8] and qm.steps[2]["shape"] == [3]


@pytest.mark.parametrize("how", ["module", "torch.flatten", "view", "reshape"])
def test_flatten_and_reshape(x_img, how):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.flat = nn.Flatten()
            self.fc = nn.Linear(3 * 8 * 8, 10)

        def forward(self, x):
            if how == "module":
                x = self.flat(x)
            elif how == "torch.flatten":
                x = torch.flatten(x, 1)
            elif how == "view":
                x = x.view(x.size(0), -1)
            else:
                x = x.reshape(x.shape[0], 3 * 64)
            return self.fc(x)

    qm = check(seeded(M), x_img)
    assert ops(qm) == ["input", "reshape", "linear"]
    assert qm.steps[1]["shape"] == [192]


def test_reshape_to_a_new_image_shape(x_vec):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.conv(x.view(-1, 1, 4, 4))

    qm = check(seeded(M), x_vec)
    assert ops(qm) == ["input", "reshape", "conv2d"] and qm.steps[1]["shape"] == [1, 4, 4]


@pytest.mark.parametrize("form", ["operator", "torch.add", "method", "relu"])
def test_residual_add(x_img, form):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            if form == "operator":
                return y + x
            if form == "torch.add":
                return torch.add(x, y)
            if form == "method":
                return y.add(x)
            return F.relu(y + x)

    qm = check(seeded(Block), x_img)
    assert ops(qm) == ["input", "conv2d", "add"]
    st = qm.steps[2]
    assert st["relu"] is (form == "relu")
    assert sorted(st["inputs"]) == [0, 1]
    assert max(st["mult_a"], st["mult_b"]) >= 2**30 and 1 <= st["shift"] <= 62


def test_add_of_a_value_with_itself(x_vec):
    class M(nn.Module):
        def forward(self, x):
            return x + x

    qm = check(M(), x_vec)
    assert qm.steps[1]["inputs"] == [0, 0]


ACTIVATIONS = [
    ("GELU", nn.GELU()), ("SiLU", nn.SiLU()), ("Sigmoid", nn.Sigmoid()), ("Tanh", nn.Tanh()),
    ("F.gelu tanh", lambda t: F.gelu(t, approximate="tanh")), ("F.silu", F.silu), ("torch.sigmoid", torch.sigmoid),
    ("Tensor.tanh", lambda t: t.tanh()), ("LeakyReLU", nn.LeakyReLU(0.1)), ("Hardswish", nn.Hardswish()),
]


@pytest.mark.parametrize("name, act", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_lookup_tables(x_vec, name, act):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 8)
            self.act = act if isinstance(act, nn.Module) else None

        def forward(self, x):
            y = self.fc(x)
            return self.act(y) if self.act is not None else act(y)

    model = seeded(M)
    qm = import_model(model, x_vec, name="t")
    assert ops(qm) == ["input", "linear", "lut"]
    s_in, s_out = qm.metadata["step_scales"][1], qm.metadata["step_scales"][2]
    # The table's input grid (s_in) can be coarser than its output grid (s_out): one
    # input step of error moves the output by up to slope * s_in / s_out steps
    # (slopes here are at most 1.5).
    check(model, x_vec, units=0.5 + 1.5 * s_in / s_out, mean_units=0.5 + 0.5 * s_in / s_out)
    table = qm.tensors[qm.steps[2]["table"]]
    assert table.dtype == np.int8 and table.shape == (256,)
    # the table is the function sampled on the input grid, at the output scale
    grid = torch.arange(-128, 128, dtype=torch.float64) * s_in
    f = act(grid) if not isinstance(act, nn.Module) else act.double()(grid)
    want = np.clip(np.rint(f.detach().numpy() / s_out), -128, 127)
    assert np.array_equal(table, want)


@pytest.mark.parametrize("form", ["permute", "permute-tuple", "transpose", "torch.permute", "torch.transpose"])
def test_permutes_of_per_sample_axes(rng, form):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 5)
            self.fc2 = nn.Linear(4, 3)

        def forward(self, x):  # [B, 4, 6]
            y = self.fc(x)  # [B, 4, 5]
            if form == "permute":
                y = y.permute(0, 2, 1)
            elif form == "permute-tuple":
                y = y.permute((0, -1, 1))
            elif form == "transpose":
                y = y.transpose(1, 2)
            elif form == "torch.permute":
                y = torch.permute(y, (0, 2, 1))
            else:
                y = torch.transpose(y, -1, -2)
            return self.fc2(y)  # [B, 5, 3]

    qm = check(seeded(M), rng.normal(size=(256, 4, 6)))
    assert ops(qm) == ["input", "linear", "permute", "linear"]
    assert qm.steps[2]["perm"] == [1, 0]


def test_a_permute_that_moves_the_batch_axis_is_refused(rng):
    class M(nn.Module):
        def forward(self, x):
            return x.transpose(0, 1)

    with pytest.raises(Exception, match="moves the batch axis"):
        import_model(M(), rng.normal(size=(8, 8, 8)), name="t")


def test_embedding_of_token_ids(rng):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.fc = nn.Linear(8, 4)

        def forward(self, ids):
            return self.fc(self.emb(ids))

    model = seeded(M)
    ids = rng.integers(0, 20, size=(256, 6))
    qm = import_model(model, ids, name="t")
    assert ops(qm) == ["input", "embedding", "linear"]
    assert qm.steps[0]["dtype"] == "int32" and "input_scale" not in qm.manifest
    q = qm.run(ids)
    s = qm.metadata["output_scale"]
    with torch.no_grad():
        f = model.double().eval()(torch.from_numpy(ids)).numpy()
    assert np.abs(q * s - f).max() / s <= 2.5
    # an id outside the table reads a row of zeros
    rows = qm.run(np.array([[-1, 20, 2**31 - 1, 0, 1, 19]]), return_all=True)[1]
    assert (rows[0, :3] == 0).all() and (rows[0, 3:] != 0).any()
    # float calibration of a model over ids, and ids feeding anything but embeddings, are refused
    with pytest.raises(ValueError, match="int32 values"):
        import_model(model, ids.astype(np.float64), name="t")

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)

        def forward(self, ids):
            return self.emb(ids).flatten(1) + F.relu(ids)

    with pytest.raises(Exception, match="ids may only feed embeddings"):
        import_model(Mixed(), ids, name="t")


@pytest.mark.parametrize("form", ["@", "torch.matmul", "matmul", "bmm"])
def test_products_of_two_activations(rng, form):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = nn.Linear(6, 4)
            self.k = nn.Linear(6, 4)
            self.v = nn.Linear(6, 5)

        def forward(self, x):  # [B, 7, 6]
            q, k, v = self.q(x), self.k(x), self.v(x)
            kt = k.transpose(1, 2)
            if form == "@":
                s = q @ kt
                return s @ v
            if form == "torch.matmul":
                return torch.matmul(torch.matmul(q, kt), v)
            if form == "matmul":
                return q.matmul(kt).matmul(v)
            return torch.bmm(torch.bmm(q, kt), v)

    qm = check(seeded(M), rng.normal(size=(256, 7, 6)), units=3.5)
    assert ops(qm) == ["input", "linear", "linear", "linear", "matmul", "matmul"]
    assert [s.get("transpose_b") for s in qm.steps if s["op"] == "matmul"] == [True, False]


@pytest.mark.parametrize("form", ["F.softmax", "torch.softmax", "method", "nn.Softmax"])
def test_attention_with_a_softmax_along_the_last_axis(rng, form):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = nn.Linear(6, 4)
            self.k = nn.Linear(6, 4)
            self.v = nn.Linear(6, 5)
            self.sm = nn.Softmax(dim=-1)

        def forward(self, x):  # [B, 7, 6]
            s = self.q(x) @ self.k(x).transpose(1, 2)
            if form == "F.softmax":
                p = F.softmax(s, dim=-1)
            elif form == "torch.softmax":
                p = torch.softmax(s, 2)
            elif form == "method":
                p = s.softmax(-1)
            else:
                p = self.sm(s)
            return p @ self.v(x)

    qm = check(seeded(M), rng.normal(size=(256, 7, 6)), units=4.0)
    assert ops(qm) == ["input", "linear", "linear", "matmul", "softmax", "linear", "matmul"]
    sm = qm.steps[4]
    table = qm.tensors[sm["table"]]
    assert "pad" not in sm and table.dtype == np.int32 and table[0] == 1 << 30 and 1 <= len(table) <= 256
    assert (np.diff(table.astype(np.int64)) <= 0).all()


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_over_the_last_axis(rng, affine):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 16)
            self.norm = nn.LayerNorm(16, elementwise_affine=affine)
            if affine:
                with torch.no_grad():
                    self.norm.weight.uniform_(0.5, 2.0)
                    self.norm.bias.uniform_(-1.0, 1.0)

        def forward(self, x):  # [B, 7, 6]
            return self.norm(self.fc(x))

    # a layer norm scales its int8 input's rounding by γ/σ, so a few output steps
    qm = check(seeded(M), rng.normal(size=(256, 7, 6)), units=5.0)
    assert ops(qm) == ["input", "linear", "layernorm"]
    ln = qm.steps[2]
    rows = qm.tensors[ln["affine"]]
    assert rows.dtype == np.int32 and rows.shape == (16, 2) and ln["pre"] == 0 and 0 <= ln["shift"] <= 32
    # γ, β at the scale 2^shift: the largest of them uses the int32 range (or s = 32)
    assert np.abs(rows.astype(np.int64)).max() >= 1 << 30 or ln["shift"] == 32


def test_a_residual_stream_between_layer_norms_is_int32(rng):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc0 = nn.Linear(6, 16)
            self.fc1 = nn.Linear(16, 16)
            self.fc2 = nn.Linear(16, 16)
            self.norm1 = nn.LayerNorm(16)
            self.norm2 = nn.LayerNorm(16)
            self.norm3 = nn.LayerNorm(16)

        def forward(self, x):  # [B, 7, 6]
            h = self.fc0(x)
            h = h + self.fc1(self.norm1(h))  # read by a norm and by the next add: int32
            h = h + self.fc2(self.norm2(h))
            return self.norm3(h)

    # three norms and two layers between them compound their roundings at the worst
    # element (8.5 steps here); the mean stays within the usual 0.75
    qm = check(seeded(M), rng.normal(size=(256, 7, 6)), units=10.0)
    assert ops(qm) == ["input", "linear", "layernorm", "linear", "residual", "layernorm", "linear", "residual",
                       "layernorm"]
    assert qm.types()[4].dtype == "i32" and qm.types()[7].dtype == "i32"
    # the norms of the int32 stream shift it into the row bound (16·2^(31 − pre) ≤ 2^28)
    assert qm.steps[5]["pre"] == 7 and qm.steps[8]["pre"] == 7 and qm.steps[2]["pre"] == 0


def test_a_layer_norm_over_two_axes_is_refused(rng):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm([7, 6])

        def forward(self, x):
            return self.norm(x)

    with pytest.raises(UnsupportedError, match="last axis only"):
        import_model(M(), rng.normal(size=(64, 7, 6)), name="t")


def test_a_softmax_along_another_axis_is_refused(rng):
    class M(nn.Module):
        def forward(self, x):  # [B, 7, 6]
            return F.softmax(x, dim=1)

    with pytest.raises(UnsupportedError, match="along the last axis"):
        import_model(M(), rng.normal(size=(64, 7, 6)), name="t")

    class N(nn.Module):
        def forward(self, x):
            return F.softmax(x)

    with pytest.raises(UnsupportedError, match="explicit axis"):
        import_model(N(), rng.normal(size=(64, 7, 6)), name="t")


def test_a_transpose_with_other_users_is_kept(rng):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)

        def forward(self, x):  # [B, 6, 6]
            y = self.fc(x)
            t = y.transpose(1, 2)
            return (y @ t) + t

    qm = check(seeded(M), rng.normal(size=(256, 6, 6)), units=3.5)
    assert ops(qm) == ["input", "linear", "permute", "matmul", "add"]
    assert qm.steps[3]["transpose_b"] is False


def test_identity_and_dropout_vanish(x_vec):
    qm = check(seeded(lambda: nn.Sequential(nn.Dropout(0.5), nn.Linear(16, 8), nn.Identity())), x_vec)
    assert ops(qm) == ["input", "linear"]


def test_argmax_classifier(x_vec):
    model = seeded(lambda: nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 5)))
    qm = import_model(model, x_vec, name="clf", argmax=True, labels=list("abcde"))
    assert ops(qm) == ["input", "linear", "linear", "argmax"]
    assert qm.types()[-1].dtype == "i32" and qm.types()[-1].shape == ()
    assert qm.metadata["labels"] == list("abcde")
    logits = qm.run_float(x_vec, return_all=True)[2]
    assert np.array_equal(qm.run_float(x_vec), logits.argmax(axis=1))
    agree = (qm.run_float(x_vec) == float_out(model, x_vec).argmax(axis=1)).mean()
    assert agree >= 0.95


def test_eval_data_records_accuracies(x_vec):
    model = seeded(lambda: nn.Linear(16, 3))
    y = float_out(model, x_vec).argmax(axis=1)
    qm = import_model(model, x_vec, name="clf", argmax=True, eval_data=(x_vec, y))
    md = qm.metadata
    assert md["float_accuracy"] == 1.0 and md["eval_samples"] == 256
    assert 0.95 <= md["quantized_accuracy"] <= 1.0
    assert "simulator" in md["quantized_accuracy_by"]


def test_input_scale_override_and_percentile_calibration(x_vec):
    model = seeded(lambda: nn.Linear(16, 8))
    qm = import_model(model, x_vec, name="t", input_scale=0.0625)
    assert qm.input_scale == 0.0625
    qp = import_model(model, x_vec, name="t", calibration_method="percentile:99")
    qx = import_model(model, x_vec, name="t")
    assert qp.metadata["output_scale"] < qx.metadata["output_scale"]
    assert qp.metadata["calibration"]["method"] == "percentile:99"


def test_save_load_round_trip(tmp_path, x_img):
    model = seeded(lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3)))
    qm = import_model(model, x_img, name="rt", argmax=True)
    manifest, weights = qm.save(tmp_path / "rt.json")
    from refute_import import RefuteModel

    back = RefuteModel.load(manifest)
    assert back.manifest == qm.manifest
    assert set(back.tensors) == set(qm.tensors)
    for k in qm.tensors:
        assert back.tensors[k].dtype == qm.tensors[k].dtype and np.array_equal(back.tensors[k], qm.tensors[k])
    assert open(weights, "rb").read() == qm.weights_bytes()
    assert np.array_equal(back.run_float(x_img), qm.run_float(x_img))

"""What the importer refuses, and that every refusal names the layer or function at fault."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from refute_import import QuantizationError, UnsupportedError, import_model


@pytest.fixture
def x_vec(rng):
    return rng.normal(size=(64, 16))


@pytest.fixture
def x_img(rng):
    return rng.normal(size=(32, 3, 8, 8))


def test_lstm_is_named(x_vec):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(16, 8)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.head(y)

    with pytest.raises(UnsupportedError, match=r"unsupported layer `rnn` \(torch\.nn\.LSTM\)"):
        import_model(M(), x_vec)


def test_nested_module_path_is_named(x_vec):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.GroupNorm(4, 16)

        def forward(self, x):
            return self.norm(x)

    model = nn.Sequential(nn.Linear(16, 16), nn.Sequential(Block()))
    with pytest.raises(UnsupportedError, match=r"layer `1\.0\.norm` \(torch\.nn\.GroupNorm\)"):
        import_model(model, x_vec)


def test_batchnorm_left_unfused_is_named(x_vec):
    # after a ReLU there is no linear layer to fold it into
    model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 2))
    with pytest.raises(UnsupportedError, match=r"layer `2` \(torch\.nn\.BatchNorm1d\).*batch norm is only supported"):
        import_model(model, x_vec)


def test_batchnorm_after_a_shared_linear_is_not_folded(x_vec):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 8)
            self.bn = nn.BatchNorm1d(8)

        def forward(self, x):
            y = self.fc(x)
            return self.bn(y) + y  # folding would change the other use of y

    with pytest.raises(UnsupportedError, match=r"layer `bn` \(torch\.nn\.BatchNorm1d\)"):
        import_model(M(), x_vec)


@pytest.mark.parametrize(
    "fn, name",
    [
        (lambda x: F.log_softmax(x, dim=1), r"function `torch\.nn\.functional\.log_softmax`"),
        (lambda x: x * 2, r"function `operator\.mul`"),
        (lambda x: torch.cat([x, x], 1), r"function `torch\.cat`"),
        (lambda x: x.sum(1, keepdim=True), r"method `Tensor\.sum`"),
        (lambda x: x + 1.0, r"function `operator\.add`.*not a tensor plus a constant"),
        (lambda x: torch.add(x, x, alpha=2), r"function `torch\.add`.*alpha"),
    ],
)
def test_unsupported_functions_are_named_with_their_line(x_vec, fn, name):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 8)

        def forward(self, x):
            return fn(self.fc(x))

    with pytest.raises(UnsupportedError, match=name) as e:
        import_model(M(), x_vec)
    assert "test_errors.py" in str(e.value)  # the user's line in forward


def test_broadcasting_add_is_refused(x_vec):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(16, 8)
            self.b = nn.Linear(16, 1)

        def forward(self, x):
            return self.a(x) + self.b(x)

    with pytest.raises(UnsupportedError, match="broadcasting"):
        import_model(M(), x_vec)


@pytest.mark.parametrize(
    "layer, why",
    [
        (nn.Conv2d(3, 4, 3, groups=1, dilation=2), "dilation"),
        (nn.Conv2d(4, 4, 3, groups=2), "groups=2"),
        (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), "padding_mode"),
        (nn.AvgPool2d(3, padding=1), "padding"),
        (nn.MaxPool2d(3, stride=2, ceil_mode=True), "ceil_mode"),
        (nn.AdaptiveAvgPool2d(3), "unequal windows"),
    ],
)
def test_unsupported_layer_options(x_img, rng, layer, why):
    x = rng.normal(size=(8, 4, 8, 8)) if getattr(layer, "groups", 1) == 2 else x_img
    with pytest.raises(UnsupportedError, match=why):
        import_model(nn.Sequential(layer), x)


def test_flatten_of_the_batch_dim_is_refused(x_img):
    class M(nn.Module):
        def forward(self, x):
            return torch.flatten(x)

    with pytest.raises(UnsupportedError, match="mixes the batch dim"):
        import_model(M(), x_img)


def test_two_inputs_are_refused(x_vec):
    class M(nn.Module):
        def forward(self, x, y):
            return x + y

    with pytest.raises(UnsupportedError, match="exactly one tensor input"):
        import_model(M(), x_vec)


def test_tuple_output_is_refused(x_vec):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 8)

        def forward(self, x):
            return self.fc(x), x

    with pytest.raises(UnsupportedError, match="single tensor"):
        import_model(M(), x_vec)


def test_untraceable_control_flow_is_reported(x_vec):
    class M(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(UnsupportedError, match="torch.fx cannot trace"):
        import_model(M(), x_vec)


def _dead_channel_linear():
    torch.manual_seed(0)
    fc = nn.Linear(16, 4)
    with torch.no_grad():
        fc.weight[2] = 1e-9  # a dead channel: weights ~0, bias not
        fc.bias[2] = 0.5
    return fc


def test_accumulator_bound_error(x_vec):
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), _dead_channel_linear())
    with pytest.raises(QuantizationError, match=r"layer `2` \(torch\.nn\.Linear\): accumulator bound violated.*channel 2"):
        import_model(model, x_vec, on_bias_overflow="error")


def test_accumulator_bound_widening_keeps_the_bound(x_vec):
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), _dead_channel_linear())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        qm = import_model(model, x_vec)
    assert any("widened" in str(m.message) for m in w)
    assert qm.metadata["widened_channels"] == {"2": [2]}
    q = qm.tensors["2.requant"].astype(np.int64)
    assert 16 * 2**14 + np.abs(q[:, 0]).max() <= 2**31 - 1
    qm.types()  # loads
    # the dead channel still outputs its bias
    s = qm.metadata["output_scale"]
    out = qm.run_float(x_vec)[:, 2] * s
    assert np.allclose(out, 0.5, atol=s)

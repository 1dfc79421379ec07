"""Opt-in: the Rust engine agrees with the simulator, bit for bit.

Set REFUTE_BIN to a built `refute` binary (e.g. REFUTE_BIN=target/debug/refute) to run;
skipped otherwise (scripts/test.sh sets it after the cargo build; under CI a missing
REFUTE_BIN is an error, not a skip).
"""

import copy
import json
import os
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import REPO
from refute_import import RefuteModel, import_model

BIN = os.environ.get("REFUTE_BIN")
if not BIN and os.environ.get("CI"):
    # CI runs these through scripts/test.sh, which sets REFUTE_BIN: never skip there
    raise RuntimeError("CI is set but REFUTE_BIN is not: the engine-agreement tests would be skipped")
pytestmark = pytest.mark.skipif(not BIN, reason="set REFUTE_BIN to a built refute binary to compare with the engine")


def refute(*args):
    r = subprocess.run([os.path.join(REPO, BIN) if not os.path.isabs(BIN) else BIN, *args], capture_output=True,
                       text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn", "digits-resnet"])
def test_engine_accuracy_equals_the_simulator(name):
    manifest = os.path.join(REPO, "fixtures", "models", f"{name}.json")
    out = refute("model", "eval", manifest, "--inputs", "fixtures/data/digits-test-x.npy", "--labels",
                 "fixtures/data/digits-test-y.npy", "--json")
    assert out["accuracy"] == RefuteModel.load(manifest).metadata["quantized_accuracy"]


def assert_every_step_matches(qm, sim, tmp_path, name, inputs):
    """Every step of `qm`, run by the engine on the file `inputs` (as `refute infer`
    reads it) as a model cut after that step, equals the simulator's `sim[i]`."""
    for i in range(1, len(qm.steps)):
        t = RefuteModel(copy.deepcopy(qm.manifest), qm.tensors)
        t.manifest["steps"] = t.manifest["steps"][: i + 1]
        t.save(tmp_path / f"{name}{i}.json")
        res = refute("infer", str(tmp_path / f"{name}{i}.json"), str(inputs), "--json")["results"]
        assert len(res) == len(sim[i]), f"step {i}: {len(res)} results for {len(sim[i])} inputs"
        engine = np.array([np.array(r["output"]).reshape(-1) for r in res])
        assert np.array_equal(engine, sim[i].reshape(len(res), -1)), f"step {i} ({qm.steps[i]['op']}) differs"


class EveryOp(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 6, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(6, 6, (3, 1), padding=(1, 0))
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.avg = nn.AvgPool2d(2)
        self.act = nn.SiLU()
        self.fc = nn.Linear(6 * 2 * 2, 7)

    def forward(self, x):
        y = F.relu(self.conv1(x))  # [6, 4, 4]
        y = F.relu(self.conv2(y) + self.pool(y))
        y = self.act(self.avg(y))  # [6, 2, 2]
        return torch.tanh(self.fc(y.flatten(1)))


def test_every_step_of_an_every_op_model_matches_the_engine(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2, 8, 8)).astype(np.float32)
    qm = import_model(EveryOp(), x, name="every")
    ops = {s["op"] for s in qm.steps}
    assert {"conv2d", "maxpool2d", "add", "avgpool2d", "lut", "reshape", "linear"} <= ops
    np.save(tmp_path / "x.npy", x)  # floats: the engine's client quantizes them with input_scale
    sim = qm.run_float(x, return_all=True)
    assert_every_step_matches(qm, sim, tmp_path, "every", tmp_path / "x.npy")


class Tokens(nn.Module):
    """Token ids through an embedding, heads split off and moved, and back."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.fc = nn.Linear(4, 5)

    def forward(self, ids):
        y = self.emb(ids)  # [6, 8]
        y = y.reshape(ids.shape[0], 6, 2, 4).permute(0, 2, 1, 3)  # [2, 6, 4]
        return self.fc(y).transpose(1, 3)  # [5, 6, 2]


def test_every_step_of_a_token_model_matches_the_engine(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 30, size=(40, 6))
    qm = import_model(Tokens(), ids, name="tokens")
    assert [s["op"] for s in qm.steps] == ["input", "embedding", "reshape", "permute", "linear", "permute"]
    # ids outside the table too: they read zeros in both
    x = np.concatenate([ids, [[-1, 30, 2**31 - 1, -(2**31), 0, 29]]]).astype(np.int32)
    np.save(tmp_path / "ids.npy", x)
    sim = qm.run(x, return_all=True)
    assert_every_step_matches(qm, sim, tmp_path, "tokens", tmp_path / "ids.npy")


class Products(nn.Module):
    """Attention's two products over heads of embedded ids (no softmax): h·hᵀ with the
    transpose read by the product, then scores·h."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)

    def forward(self, ids):
        h = self.emb(ids).reshape(ids.shape[0], 6, 2, 4).permute(0, 2, 1, 3)  # [2, 6, 4]
        scores = h @ h.transpose(-2, -1)  # [2, 6, 6]
        return torch.matmul(scores, h)  # [2, 6, 4]


def test_every_step_of_the_products_matches_the_engine(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 30, size=(40, 6))
    qm = import_model(Products(), ids, name="products")
    assert [s["op"] for s in qm.steps] == ["input", "embedding", "reshape", "permute", "matmul", "matmul"]
    assert [s.get("transpose_b") for s in qm.steps[4:]] == [True, False]
    np.save(tmp_path / "ids.npy", ids.astype(np.int32))
    sim = qm.run(ids, return_all=True)
    assert_every_step_matches(qm, sim, tmp_path, "products", tmp_path / "ids.npy")


class Attention(nn.Module):
    """Attention over heads of embedded ids with its softmax: h·hᵀ, softmax along the
    keys, then probabilities·h."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)

    def forward(self, ids):
        h = self.emb(ids).reshape(ids.shape[0], 6, 2, 4).permute(0, 2, 1, 3)  # [2, 6, 4]
        return F.softmax(h @ h.transpose(-2, -1), dim=-1) @ h  # [2, 6, 4]


def test_every_step_of_an_attention_matches_the_engine(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 30, size=(40, 6))
    qm = import_model(Attention(), ids, name="attention")
    assert [s["op"] for s in qm.steps] == ["input", "embedding", "reshape", "permute", "matmul", "softmax", "matmul"]
    np.save(tmp_path / "ids.npy", ids.astype(np.int32))
    sim = qm.run(ids, return_all=True)
    assert (sim[5] > 0).any() and (sim[5] <= 127).all()
    assert_every_step_matches(qm, sim, tmp_path, "attention", tmp_path / "ids.npy")


class Encoder(nn.Module):
    """Embedded ids through a layer norm, attention scores with their softmax, and a
    second layer norm of the attended values."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.norm1 = nn.LayerNorm(8)
        self.norm2 = nn.LayerNorm(8)
        with torch.no_grad():
            for norm in (self.norm1, self.norm2):
                norm.weight.uniform_(0.5, 2.0)
                norm.bias.uniform_(-1.0, 1.0)

    def forward(self, ids):  # [B, 6]
        h = self.norm1(self.embed(ids))  # [B, 6, 8]
        return self.norm2(F.softmax(h @ h.transpose(-2, -1), dim=-1) @ h)


def test_every_step_of_layer_norms_matches_the_engine(tmp_path):
    torch.manual_seed(2)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 20, size=(24, 6)).astype(np.int32)
    qm = import_model(Encoder(), ids, name="encoder")
    assert [s["op"] for s in qm.steps] == ["input", "embedding", "layernorm", "matmul", "softmax", "matmul", "layernorm"]
    sim = qm.run(ids, return_all=True)
    np.save(tmp_path / "ids.npy", ids)
    assert_every_step_matches(qm, sim, tmp_path, "encoder", tmp_path / "ids.npy")


class ResidualEncoder(nn.Module):
    """An attention block of the usual pre-norm form: the embedded ids plus the
    attention of their layer norm, an int32 stream, normalized again."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.norm1 = nn.LayerNorm(8)
        self.norm2 = nn.LayerNorm(8)

    def forward(self, ids):  # [B, 6]
        h = self.embed(ids)
        a = self.norm1(h)
        h = h + F.softmax(a @ a.transpose(-2, -1), dim=-1) @ a
        return self.norm2(h)


def test_every_step_of_a_residual_stream_matches_the_engine(tmp_path):
    torch.manual_seed(4)
    ids = np.random.default_rng(4).integers(0, 20, size=(24, 6)).astype(np.int32)
    qm = import_model(ResidualEncoder(), ids, name="residual")
    assert [s["op"] for s in qm.steps] == ["input", "embedding", "layernorm", "matmul", "softmax", "matmul",
                                          "residual", "layernorm"]
    sim = qm.run(ids, return_all=True)
    np.save(tmp_path / "ids.npy", ids)
    assert_every_step_matches(qm, sim, tmp_path, "residual", tmp_path / "ids.npy")


def test_a_masked_softmax_matches_the_engine(tmp_path):
    """The attention above with its softmax masked by the ids (a key-padding mask,
    written into the manifest): keys whose id is the pad id read 0 in the simulator
    and the engine alike, rows with every key masked included."""
    torch.manual_seed(0)
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 4, size=(40, 6))
    ids[0] = 3  # every key masked
    ids[1] = [3, 3, 3, 3, 3, 1]  # one kept
    qm = import_model(Attention(), ids, name="masked")
    step = qm.steps[5]
    step["inputs"] = [4, 0]
    step["pad"] = 3
    np.save(tmp_path / "ids.npy", ids.astype(np.int32))
    sim = qm.run(ids, return_all=True)
    assert (sim[5][0] == 0).all()
    assert (sim[5][1][..., :5] == 0).all() and (sim[5][1][..., 5] == 127).all()
    assert_every_step_matches(qm, sim, tmp_path, "masked", tmp_path / "ids.npy")


class MaskedAttention(nn.Module):
    """Attention with a key-padding mask written the usual way: ids == pad, spread
    over heads and queries, filling the scores with -inf before the softmax."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)

    def forward(self, ids):
        h = self.emb(ids).reshape(ids.shape[0], 6, 2, 4).permute(0, 2, 1, 3)  # [2, 6, 4]
        pad = ids == 0
        scores = (h @ h.transpose(-2, -1)).masked_fill(pad[:, None, None, :], float("-inf"))
        return torch.softmax(scores, dim=-1) @ h


def test_an_imported_key_padding_mask_matches_the_engine(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 5, size=(40, 6))
    ids[1] = [0, 0, 0, 0, 0, 2]  # one key kept
    qm = import_model(MaskedAttention(), ids, name="masked-import")
    assert [s["op"] for s in qm.steps] == ["input", "embedding", "reshape", "permute", "matmul", "softmax", "matmul"]
    assert qm.steps[5]["inputs"] == [4, 0] and qm.steps[5]["pad"] == 0
    np.save(tmp_path / "ids.npy", ids.astype(np.int32))
    sim = qm.run(ids, return_all=True)
    assert (sim[5][1][..., :5] == 0).all() and (sim[5][1][..., 5] == 127).all()
    assert_every_step_matches(qm, sim, tmp_path, "masked-import", tmp_path / "ids.npy")
    # the quantized attention follows the float one
    with torch.no_grad():
        f = MaskedAttention().eval()
        torch.manual_seed(0)
        f = MaskedAttention().double().eval()(torch.from_numpy(ids)).numpy()
    s = qm.metadata["output_scale"]
    assert np.abs(sim[-1] * s - f).max() <= 0.25 * np.abs(f).max()

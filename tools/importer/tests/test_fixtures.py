"""The committed digits fixtures: valid, accurate, and exactly what the script regenerates."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from refute_import import RefuteModel

MODELS = ["digits-mlp", "digits-cnn", "digits-resnet"]
DATA = ["digits-test-x.npy", "digits-test-y.npy", "digits-test-x-int8.npy"]


def committed(*parts):
    return os.path.join(REPO, "fixtures", *parts)


@pytest.fixture(scope="module")
def test_data():
    return np.load(committed("data", "digits-test-x.npy")), np.load(committed("data", "digits-test-y.npy"))


def test_test_split_files(test_data):
    x, y = test_data
    assert x.dtype == np.float32 and x.shape == (450, 64)
    assert y.dtype == np.int64 and y.shape == (450,)
    assert np.array_equal(np.unique(y), np.arange(10))
    assert np.array_equal(x * 16, np.round(x * 16)) and x.min() == 0 and x.max() == 1  # pixel / 16


@pytest.mark.parametrize("name", MODELS)
def test_fixture_is_valid_accurate_and_reproduces_its_metadata(name, test_data):
    qm = RefuteModel.load(committed("models", f"{name}.json"))
    types = qm.types()
    assert qm.steps[-1]["op"] == "argmax" and types[-1].dtype == "i32" and types[-1].shape == ()
    assert os.path.getsize(committed("models", f"{name}.safetensors")) < 16 * 1024
    md = qm.metadata
    assert md["labels"] == [str(d) for d in range(10)]
    assert md["float_accuracy"] >= 0.94
    assert abs(md["float_accuracy"] - md["quantized_accuracy"]) <= 0.015
    x, y = test_data
    pred = qm.run_float(x.reshape((-1,) + qm.input_shape))
    assert (pred == y).mean() == md["quantized_accuracy"]
    # the committed int8 inputs are the float inputs quantized with this model's scale
    assert np.array_equal(np.load(committed("data", "digits-test-x-int8.npy")), qm.quantize_input(x))


def test_fixture_architectures():
    ops = {n: [s["op"] for s in RefuteModel.load(committed("models", f"{n}.json")).steps] for n in MODELS}
    assert ops["digits-mlp"] == ["input", "linear", "linear", "argmax"]
    assert ops["digits-cnn"] == ["input", "conv2d", "maxpool2d", "conv2d", "reshape", "linear", "argmax"]
    assert ops["digits-resnet"] == ["input", "conv2d", "conv2d", "conv2d", "add", "avgpool2d", "reshape", "linear",
                                    "argmax"]
    res = RefuteModel.load(committed("models", "digits-resnet.json"))
    assert res.steps[4]["inputs"] == [3, 1] and res.steps[4]["relu"] is True
    assert max(res.tensors[res.steps[i]["weight"]].shape[0] for i in (1, 2, 3)) <= 16


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("regen")
    subprocess.run(["bash", os.path.join(REPO, "scripts", "make-fixtures.sh"), str(out)], check=True,
                   capture_output=True, timeout=300)
    return out


@pytest.mark.parametrize("name", MODELS)
def test_committed_models_equal_regenerated(regenerated, name):
    new = os.path.join(regenerated, "fixtures", "models")
    with open(committed("models", f"{name}.json")) as a, open(os.path.join(new, f"{name}.json")) as b:
        ta, tb = a.read(), b.read()
    assert json.loads(ta) == json.loads(tb)
    assert ta == tb
    with open(committed("models", f"{name}.safetensors"), "rb") as a, \
         open(os.path.join(new, f"{name}.safetensors"), "rb") as b:
        assert a.read() == b.read(), f"{name}.safetensors differs from what scripts/make-fixtures.sh writes"


@pytest.mark.parametrize("name", DATA)
def test_committed_data_equal_regenerated(regenerated, name):
    with open(committed("data", name), "rb") as a, open(os.path.join(regenerated, "fixtures", "data", name), "rb") as b:
        assert a.read() == b.read()


def test_regeneration_writes_nothing_else(regenerated):
    assert sorted(os.listdir(os.path.join(regenerated, "fixtures", "models"))) == sorted(
        f"{n}.{e}" for n in MODELS for e in ("json", "safetensors"))
    assert sorted(os.listdir(os.path.join(regenerated, "fixtures", "data"))) == sorted(DATA)

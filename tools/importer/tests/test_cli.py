"""`python -m refute_import`: the worked example of docs/importer.md, end to end."""

import os
import subprocess
import sys

import numpy as np
import torch

from conftest import IMPORTER, REPO
from refute_import import RefuteModel, import_model

EXAMPLE = os.path.join(IMPORTER, "examples", "tinynet.py")


def run_cli(*args, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=IMPORTER)
    return subprocess.run([sys.executable, "-m", "refute_import", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_imports_the_worked_example(tmp_path):
    sys.path.insert(0, os.path.dirname(EXAMPLE))
    try:
        import tinynet
    finally:
        sys.path.pop(0)
    tinynet.main(str(tmp_path), epochs=2)
    out = tmp_path / "out" / "tinynet.json"
    x = os.path.join(REPO, "fixtures", "data", "digits-test-x.npy")
    y = os.path.join(REPO, "fixtures", "data", "digits-test-y.npy")
    r = run_cli(f"{EXAMPLE}:TinyNet", "--weights", str(tmp_path / "tinynet.pt"), "--calibration",
                str(tmp_path / "calib.npy"), "--argmax", "--labels", ",".join("0123456789"), "--eval-inputs", x,
                "--eval-labels", y, "--input-shape", "1,8,8", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "quantized" in r.stdout and "lut" in r.stdout
    qm = RefuteModel.load(out)
    assert [s["op"] for s in qm.steps] == ["input", "conv2d", "maxpool2d", "reshape", "linear", "lut", "linear",
                                           "argmax"]
    assert qm.metadata["source"] == f"{EXAMPLE}:TinyNet"
    assert qm.metadata["float_accuracy"] > 0.5
    # the CLI and the Python API write the same model
    model = tinynet.TinyNet()
    model.load_state_dict(torch.load(tmp_path / "tinynet.pt", weights_only=True))
    api = import_model(model, np.load(tmp_path / "calib.npy"), name="tinynet", argmax=True)
    assert api.steps == qm.steps
    assert api.weights_bytes() == (tmp_path / "out" / "tinynet.safetensors").read_bytes()


def test_cli_reports_an_unsupported_layer(tmp_path, capsys):
    src = tmp_path / "bad.py"
    src.write_text(
        "import torch.nn as nn\n"
        "class Bad(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n"
        "        self.norm = nn.GroupNorm(2, 4)\n"
        "    def forward(self, x):\n"
        "        return self.norm(self.fc(x))\n"
    )
    np.save(tmp_path / "calib.npy", np.ones((4, 4), dtype=np.float32))
    from refute_import.__main__ import main  # in-process: one subprocess per suite is enough

    rc = main([f"{src}:Bad", "--calibration", str(tmp_path / "calib.npy"), "--out", str(tmp_path / "bad.json")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "unsupported layer `norm` (torch.nn.GroupNorm)" in err
    assert "bad.py:8" in err
    assert not (tmp_path / "bad.json").exists()

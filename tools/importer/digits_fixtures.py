"""The digits fixture models: three small classifiers of scikit-learn's 8x8 digits,
trained here and imported with refute_import.

    PYTHONPATH=tools/importer .venv/bin/python tools/importer/digits_fixtures.py [ROOT]

writes ROOT/fixtures/models/digits-{mlp,cnn,resnet}.{json,safetensors} and
ROOT/fixtures/data/digits-test-{x,y}.npy, digits-test-x-int8.npy (ROOT defaults to the
repository root).
`scripts/make-fixtures.sh` runs exactly this.

Everything is deterministic: a fixed stratified split, fixed seeds, one thread,
deterministic algorithms, and training in float64 (so that the last bits of a BLAS
kernel cannot move a weight across an int8 rounding boundary; the importer also
snaps every scale to 16 significant bits, see `quant.snap_scale`).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from refute_import import import_model  # noqa: E402

LABELS = [str(d) for d in range(10)]


class DigitsMLP(nn.Module):
    """64 -> 64 (ReLU) -> 10."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class DigitsCNN(nn.Module):
    """[1, 8, 8]: conv3x3 pad 1 (8) -> ReLU -> maxpool 2 -> conv3x3 (16) -> ReLU -> flatten -> linear 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))  # [8, 4, 4]
        x = F.relu(self.conv2(x))  # [16, 2, 2]
        return self.fc(torch.flatten(x, 1))


class DigitsResNet(nn.Module):
    """[1, 8, 8]: conv -> ReLU -> (conv -> ReLU -> conv) + skip -> ReLU -> global avg pool -> linear 10."""

    def __init__(self, channels: int = 16):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, 10)

    def forward(self, x):
        skip = F.relu(self.stem(x))
        y = self.conv2(F.relu(self.conv1(skip)))
        y = F.relu(y + skip)
        return self.fc(torch.flatten(self.pool(y), 1))


# name, class, per-sample input shape, seed, epochs, learning rate
SPECS = [
    ("digits-mlp", DigitsMLP, (64,), 1, 15, 1e-2),
    ("digits-cnn", DigitsCNN, (1, 8, 8), 2, 15, 1e-2),
    ("digits-resnet", DigitsResNet, (1, 8, 8), 3, 15, 1e-2),
]


def setup_torch() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def load_split():
    """The fixed split: 75 % train, 25 % test, stratified, random_state 0; x in [0, 1] (pixel / 16)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


def train(cls, shape, seed: int, epochs: int, lr: float, x: np.ndarray, y: np.ndarray) -> nn.Module:
    """Adam with a one-cycle learning rate (peak `lr`), mini-batches of 32, cross-entropy,
    weight decay 1e-4, float64, fixed seed and batch order."""
    setup_torch()
    torch.manual_seed(seed)
    model = cls().double()
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(x.reshape((-1,) + tuple(shape)))
    yt = torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    batches = (len(xt) + 31) // 32
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * batches)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def make(root: str = REPO, verbose: bool = True) -> dict[str, dict]:
    """Writes every fixture under `root`; returns each model's metadata."""
    setup_torch()
    x_train, x_test, y_train, y_test = load_split()
    models_dir = os.path.join(root, "fixtures", "models")
    data_dir = os.path.join(root, "fixtures", "data")
    os.makedirs(models_dir, exist_ok=True)
    os.makedirs(data_dir, exist_ok=True)
    np.save(os.path.join(data_dir, "digits-test-x.npy"), x_test.astype(np.float32))
    np.save(os.path.join(data_dir, "digits-test-y.npy"), y_test.astype(np.int64))
    report = {}
    scales = set()
    for name, cls, shape, seed, epochs, lr in SPECS:
        model = train(cls, shape, seed, epochs, lr, x_train, y_train)
        qm = import_model(
            model,
            x_train.reshape((-1,) + shape),
            name=name,
            argmax=True,
            labels=LABELS,
            eval_data=(x_test.reshape((-1,) + shape), y_test),
            source=(
                f"tools/importer/digits_fixtures.py:{cls.__name__}, trained by scripts/make-fixtures.sh on "
                f"sklearn load_digits (x / 16, stratified 75/25 split, random_state 0; seed {seed}, "
                f"{epochs} epochs, one-cycle Adam, float64); calibrated on the {len(x_train)} training images"
            ),
        )
        qm.save(os.path.join(models_dir, f"{name}.json"))
        scales.add(qm.input_scale)
        md = qm.metadata
        report[name] = md
        if verbose:
            print(
                f"{name:<14} float {md['float_accuracy']:.4f}  quantized {md['quantized_accuracy']:.4f} "
                f"(simulator)  agreement {md['float_quantized_agreement']:.4f}  "
                f"weights {sum(t.size for t in qm.tensors.values())}"
            )
    # The test inputs as int8, as the client quantizes them (`refute infer --int8`). All
    # three models calibrate to the same input scale, so one file serves them all
    # (N x 64; `refute` reads a batch of any shape with the right element count).
    if len(scales) != 1:
        raise AssertionError(f"the digits models have different input scales {scales}")
    from refute_import.quant import quantize_activation

    np.save(os.path.join(data_dir, "digits-test-x-int8.npy"), quantize_activation(x_test, scales.pop()))
    return report


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else REPO)

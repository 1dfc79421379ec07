"""The worked example of docs/importer.md: a user-written model, trained, then imported.

    .venv/bin/python tools/importer/examples/tinynet.py OUTDIR   # writes OUTDIR/tinynet.pt, OUTDIR/calib.npy

then `python -m refute_import tools/importer/examples/tinynet.py:TinyNet ...` (see the docs).
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyNet(nn.Module):
    """[1, 8, 8] digit -> 10 logits: conv, ReLU, max pool, linear, GELU, linear."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(8 * 4 * 4, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv(x)))  # conv2d (ReLU fused), maxpool2d
        x = x.flatten(1)                     # reshape to [128]
        return self.fc2(self.act(self.fc1(x)))  # linear, lut, linear


def main(out_dir: str, epochs: int = 15) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.set_num_threads(1)
    torch.manual_seed(0)
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_train, _, y_train, _ = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
    model = TinyNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt)).split(32):
            opt.zero_grad()
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    os.makedirs(out_dir, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(out_dir, "tinynet.pt"))
    np.save(os.path.join(out_dir, "calib.npy"), x_train[:500])  # calibration: 500 training images


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")

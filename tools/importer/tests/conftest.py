import os
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
IMPORTER = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(IMPORTER))
if IMPORTER not in sys.path:
    sys.path.insert(0, IMPORTER)

torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

"""refute_import: float PyTorch models to exact-integer refute models.

    from refute_import import import_model
    qm = import_model(model, calibration_inputs, name="my-model", argmax=True)
    qm.save("out/my-model.json")      # my-model.json + my-model.safetensors

See docs/importer.md.
"""

__version__ = "0.1.0"

from .importer import UnsupportedError, evaluate, import_model  # noqa: E402
from .model import ModelFormatError, RefuteModel, validate  # noqa: E402
from .quant import QuantizationError  # noqa: E402
from .sim import simulate  # noqa: E402

__all__ = [
    "ModelFormatError",
    "QuantizationError",
    "RefuteModel",
    "UnsupportedError",
    "evaluate",
    "import_model",
    "simulate",
    "validate",
]

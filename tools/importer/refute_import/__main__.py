"""Command line: `python -m refute_import <module.py>:<factory> --weights ... --calibration ... --out ...`.

Run with `PYTHONPATH=tools/importer` from the repository root; see docs/importer.md.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys

import numpy as np


def _load_factory(spec: str):
    if ":" not in spec:
        raise SystemExit(f"error: expected <module.py or dotted.module>:<factory or class>, got {spec!r}")
    mod_part, attr = spec.rsplit(":", 1)
    if mod_part.endswith(".py") or os.sep in mod_part:
        path = os.path.abspath(mod_part)
        if not os.path.isfile(path):
            raise SystemExit(f"error: no such file {mod_part}")
        sys.path.insert(0, os.path.dirname(path))
        name = os.path.splitext(os.path.basename(path))[0]
        mspec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mspec)
        sys.modules[name] = module
        mspec.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(mod_part)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SystemExit(f"error: {mod_part} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SystemExit(f"error: {spec} is not a class or function")
    return obj


def _shape(text: str | None):
    if text is None:
        return None
    return tuple(int(d) for d in text.replace("x", ",").split(",") if d)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m refute_import",
        description="Import a float PyTorch model into the refute model format (manifest + safetensors).",
    )
    ap.add_argument("model", help="<file.py or dotted.module>:<factory or class>; called with --kwargs to build the nn.Module")
    ap.add_argument("--weights", help="state_dict saved with torch.save (optional if the factory loads its own)")
    ap.add_argument("--calibration", required=True, help=".npy of float inputs [N, *input_shape] (or [N, K] with --input-shape)")
    ap.add_argument("--out", required=True, help="manifest path <dir>/<name>.json; the weights go next to it")
    ap.add_argument("--name", help="model name (default: the manifest's file stem)")
    ap.add_argument("--argmax", action="store_true", help="append an argmax step: the output is the class index (int32)")
    ap.add_argument("--kwargs", default="{}", help="JSON object of keyword arguments for the factory")
    ap.add_argument("--input-shape", help="per-sample input shape, e.g. 1,8,8 (reshapes --calibration and --eval-inputs)")
    ap.add_argument("--calibration-method", default="max", help="'max' (default) or 'percentile:P', e.g. percentile:99.99")
    ap.add_argument("--calibration-limit", type=int, help="use only the first N calibration inputs")
    ap.add_argument("--input-scale", type=float, help="float value of one input unit (default: max|calibration| / 127)")
    ap.add_argument("--labels", help="comma-separated class names for the metadata")
    ap.add_argument("--eval-inputs", help=".npy of float inputs to measure accuracy on (with --eval-labels)")
    ap.add_argument("--eval-labels", help=".npy of integer labels")
    ap.add_argument("--source", help="provenance for the metadata (default: the model argument)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from . import QuantizationError, UnsupportedError, import_model

    factory = _load_factory(args.model)
    model = factory(**json.loads(args.kwargs))
    if not isinstance(model, torch.nn.Module):
        raise SystemExit(f"error: {args.model} returned {type(model).__name__}, not a torch.nn.Module")
    if args.weights:
        sd = torch.load(args.weights, map_location="cpu", weights_only=True)
        if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]
        model.load_state_dict(sd)

    shape = _shape(args.input_shape)
    calib = np.load(args.calibration)
    if args.calibration_limit:
        calib = calib[: args.calibration_limit]
    if shape:
        calib = calib.reshape((-1,) + shape)
    eval_data = None
    if args.eval_inputs or args.eval_labels:
        if not (args.eval_inputs and args.eval_labels):
            raise SystemExit("error: --eval-inputs and --eval-labels go together")
        ex = np.load(args.eval_inputs)
        if shape:
            ex = ex.reshape((-1,) + shape)
        eval_data = (ex, np.load(args.eval_labels))
    if not args.out.endswith(".json"):
        raise SystemExit("error: --out must be a path ending in .json")
    name = args.name or os.path.basename(args.out)[: -len(".json")]
    try:
        qm = import_model(
            model,
            calib,
            name=name,
            argmax=args.argmax,
            labels=args.labels.split(",") if args.labels else None,
            input_scale=args.input_scale,
            calibration_method=args.calibration_method,
            eval_data=eval_data,
            source=args.source or args.model,
        )
    except (UnsupportedError, QuantizationError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    manifest_path, weights_path = qm.save(args.out)
    types = qm.types()
    print(f"wrote {manifest_path} and {weights_path}")
    print(f"input_scale {qm.input_scale!r}   steps {len(qm.steps)}   weights {sum(t.size for t in qm.tensors.values())}")
    for i, (step, ty) in enumerate(zip(qm.steps, types)):
        print(f"  {i:>3}  {step.get('name', ''):<16} {step['op']:<10} {str(ty):<16}")
    md = qm.metadata
    if "float_accuracy" in md:
        print(f"accuracy on {md['eval_samples']} inputs: float {md['float_accuracy']:.4f}   "
              f"quantized {md['quantized_accuracy']:.4f} (Python simulator)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

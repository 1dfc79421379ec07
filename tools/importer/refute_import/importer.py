"""From a float PyTorch model and calibration inputs to a refute model.

1. The model is traced with `torch.fx` (a copy in float64, eval mode).
2. Every node is classified as a supported layer or function; anything else is an
   `UnsupportedError` that names the module path and type (or the function) and the
   line of `forward` it comes from.
3. The calibration inputs run through the traced graph; every node's per-sample shape
   and activation statistic (max |x|, or a percentile of |x|) is recorded.
4. The graph is lowered to refute steps, fusing ReLUs (and batch norms) into the
   preceding linear/conv, and every constant is quantized (`quant.py`).
"""

from __future__ import annotations

import copy
import math
import operator
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from . import __version__, quant
from .model import FORMAT, VERSION, RefuteModel, validate


class UnsupportedError(ValueError):
    """The model uses a layer, function or pattern the importer cannot lower."""


# ---- what is supported ----------------------------------------------------------------

#: Element-wise modules lowered to 256-entry lookup tables.
LUT_MODULES: tuple[type, ...] = (
    nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
    nn.ReLU6, nn.LeakyReLU, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.ELU, nn.Mish, nn.Softplus,
)
#: Element-wise functions lowered to lookup tables.
LUT_FUNCTIONS: tuple[Callable, ...] = (
    F.gelu, F.silu, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh,
    F.relu6, F.leaky_relu, F.hardtanh, F.hardsigmoid, F.hardswish, F.elu, F.mish, F.softplus,
)
LUT_METHODS = ("sigmoid", "tanh")
SOFTMAX_FUNCTIONS = (F.softmax, torch.softmax)
RELU_FUNCTIONS = (F.relu, torch.relu)
ADD_FUNCTIONS = (operator.add, torch.add)
FLATTEN_FUNCTIONS = (torch.flatten, torch.reshape)
RESHAPE_METHODS = ("view", "reshape", "flatten")
IDENTITY_METHODS = ("contiguous",)
PERMUTE_METHODS = ("permute", "transpose")
PERMUTE_FUNCTIONS = (torch.permute, torch.transpose)
MATMUL_FUNCTIONS = (operator.matmul, torch.matmul, torch.bmm)
MATMUL_METHODS = ("matmul", "bmm")
IDENTITY_MODULES = (nn.Identity, nn.Dropout)
#: Non-tensor helpers allowed to feed reshape arguments (`x.size(0)`, `x.shape[0]`).
META_METHODS = ("size", "dim")


def _describe_type(obj: Any) -> str:
    t = type(obj)
    mod = t.__module__
    if mod.startswith("torch.nn.modules"):
        return f"torch.nn.{t.__qualname__}"
    return f"{mod}.{t.__qualname__}"


def _describe_fn(fn: Any) -> str:
    name = getattr(fn, "__name__", repr(fn))
    mod = getattr(fn, "__module__", None) or "torch"
    mod = {"_operator": "operator", "torch._C._nn": "torch.nn.functional",
           "torch._C._VariableFunctions": "torch"}.get(mod, mod)
    return f"{mod}.{name}"


def _where(node: fx.Node) -> str:
    """`file:line: code` of the user frame that created the node, if known."""
    trace = node.stack_trace or ""
    lines = trace.strip().splitlines()
    torch_dir = os.path.dirname(torch.__file__)
    best = None
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("File "):
            parts = line.split('"')
            path = parts[1] if len(parts) > 2 else ""
            code = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].strip().startswith("File ") else ""
            if path and not os.path.abspath(path).startswith(torch_dir):
                lineno = line.split(", line ")[-1].split(",")[0] if ", line " in line else "?"
                best = f"{path}:{lineno}: {code}"
        i += 1
    return f" (at {best})" if best else ""


def _node_desc(node: fx.Node, gm: fx.GraphModule) -> str:
    if node.op == "call_module":
        return f"layer `{node.target}` ({_describe_type(gm.get_submodule(node.target))})"
    if node.op == "call_function":
        return f"function `{_describe_fn(node.target)}` (node `{node.name}`)"
    if node.op == "call_method":
        return f"method `Tensor.{node.target}` (node `{node.name}`)"
    if node.op == "get_attr":
        return f"attribute `{node.target}` (node `{node.name}`)"
    return f"node `{node.name}` ({node.op})"


def _unsupported(node: fx.Node, gm: fx.GraphModule, why: str = "") -> UnsupportedError:
    msg = f"unsupported {_node_desc(node, gm)}{_where(node)}"
    if why:
        msg += f": {why}"
    return UnsupportedError(msg)


def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    if len(v) == 1:
        return (int(v[0]), int(v[0]))
    if len(v) != 2 or not all(isinstance(d, int) for d in v):
        raise ValueError(f"{what} must be an int or a pair of ints, got {v!r}")
    return (int(v[0]), int(v[1]))


def _bind(node: fx.Node, names: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """Positional + keyword arguments of a functional call, by parameter name."""
    out = dict(defaults)
    for n, a in zip(names, node.args):
        out[n] = a
    out.update(node.kwargs)
    return out


# ---- classification ------------------------------------------------------------------


@dataclass
class _Kind:
    kind: str  # input linear conv2d bn relu maxpool avgpool reshape identity add lut permute embedding matmul softmax layernorm meta output
    params: dict[str, Any]


def _is_meta(a: Any, meta: set[str]) -> bool:
    return isinstance(a, fx.Node) and a.name in meta


def _classify(gm: fx.GraphModule) -> dict[str, _Kind]:
    kinds: dict[str, _Kind] = {}
    meta: set[str] = set()
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedError(f"the model must take exactly one tensor input, its forward takes {len(placeholders)}")

    masks: dict[str, int] = {}  # key-padding masks (`ids == pad` and its reshapes): their pad id
    for node in gm.graph.nodes:
        k = None
        mask_kind = _mask_kind(node, gm, placeholders[0], masks)
        if mask_kind is not None:
            k = mask_kind
            if k.kind == "mask":
                masks[node.name] = k.params["pad"]
        elif node.op == "placeholder":
            k = _Kind("input", {})
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, fx.Node) or out.name in meta:
                raise UnsupportedError(
                    f"the model must return a single tensor; it returns {type(out).__name__} (node `{node.name}`)"
                )
            k = _Kind("output", {"value": out})
        elif node.op == "get_attr":
            raise _unsupported(node, gm, "parameters and buffers may only be used through supported layers")
        elif node.op == "call_module":
            mod = gm.get_submodule(node.target)
            k = _classify_module(node, mod, gm)
        elif node.op == "call_method":
            name = node.target
            if name in META_METHODS:
                meta.add(node.name)
                k = _Kind("meta", {})
            elif name == "relu":
                k = _Kind("relu", {})
            elif name in RESHAPE_METHODS:
                k = _Kind("reshape", {})
            elif name in IDENTITY_METHODS:
                k = _Kind("identity", {})
            elif name in PERMUTE_METHODS:
                k = _permute_kind(node, gm, name, node.args[1:], node.kwargs)
            elif name in MATMUL_METHODS:
                k = _matmul_kind(node, gm, meta)
            elif name == "softmax":
                a = _bind(node, ["self", "dim", "dtype"], {"dtype": None})
                k = _softmax_kind(node, gm, a.get("dim"), a["dtype"])
            elif name in LUT_METHODS:
                k = _Kind("lut", {"fn": lambda t, _n=name, _a=node.args[1:], _k=node.kwargs: getattr(t, _n)(*_a, **_k)})
            elif name == "add":
                k = _classify_add(node, gm, meta, node.args, node.kwargs)
            elif name == "mean":
                k = _classify_mean(node, gm)
            else:
                raise _unsupported(node, gm)
        elif node.op == "call_function":
            fn = node.target
            if fn is getattr:
                if node.args[1] != "shape":
                    raise _unsupported(node, gm, f"only `.shape` may be read, not `.{node.args[1]}`")
                meta.add(node.name)
                k = _Kind("meta", {})
            elif all(_is_meta(a, meta) for a in node.all_input_nodes) and node.all_input_nodes and fn in (
                operator.getitem, operator.mul, operator.floordiv, operator.add, operator.sub
            ):
                meta.add(node.name)  # arithmetic on sizes (x.size(1) * x.size(2))
                k = _Kind("meta", {})
            elif fn in ADD_FUNCTIONS:
                k = _classify_add(node, gm, meta, node.args, node.kwargs)
            elif fn in RELU_FUNCTIONS:
                k = _Kind("relu", {})
            elif fn in FLATTEN_FUNCTIONS:
                k = _Kind("reshape", {})
            elif fn in PERMUTE_FUNCTIONS:
                k = _permute_kind(node, gm, fn.__name__, node.args[1:], node.kwargs)
            elif fn in MATMUL_FUNCTIONS:
                k = _matmul_kind(node, gm, meta)
            elif fn in SOFTMAX_FUNCTIONS:
                a = _bind(node, ["input", "dim", "_stacklevel", "dtype"], {"_stacklevel": 3, "dtype": None})
                k = _softmax_kind(node, gm, a.get("dim"), a["dtype"])
            elif fn in LUT_FUNCTIONS:
                rest, kw = node.args[1:], dict(node.kwargs)
                if any(isinstance(a, fx.Node) for a in list(rest) + list(kw.values())):
                    raise _unsupported(node, gm, "only its first argument may be a tensor")
                k = _Kind("lut", {"fn": lambda t, _f=fn, _a=rest, _k=kw: _f(t, *_a, **_k)})
            elif fn is F.max_pool2d:
                a = _bind(node, ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"],
                          {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False})
                k = _maxpool_kind(node, gm, a["kernel_size"], a["stride"], a["padding"], a["dilation"],
                                  a["ceil_mode"], a["return_indices"])
            elif fn is F.avg_pool2d:
                a = _bind(node, ["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                                 "divisor_override"],
                          {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
                           "divisor_override": None})
                k = _avgpool_kind(node, gm, a["kernel_size"], a["stride"], a["padding"], a["divisor_override"])
            elif fn is F.adaptive_avg_pool2d:
                a = _bind(node, ["input", "output_size"], {})
                k = _Kind("avgpool", {"adaptive": _pair(a["output_size"], "output_size")})
            elif fn is torch.mean:
                k = _classify_mean(node, gm)
            else:
                raise _unsupported(node, gm)
        else:  # pragma: no cover - fx has no other node kinds
            raise _unsupported(node, gm)
        if any(a.name in masks for a in node.all_input_nodes) and k.kind not in ("mask", "masked"):
            raise _unsupported(node, gm, "a key-padding mask (`ids == pad`) may only be reshaped and fill the "
                                         "scores of a softmax (`scores.masked_fill(mask, float('-inf'))`)")
        # A supported tensor op must not consume size helpers as tensors.
        if k.kind not in ("meta", "reshape", "output", "input", "mask", "masked"):
            first = node.args[0] if node.args else None
            if k.kind != "add" and _is_meta(first, meta):
                raise _unsupported(node, gm, "it is applied to a size, not a tensor")
        kinds[node.name] = k
    return kinds


def _classify_module(node: fx.Node, mod: nn.Module, gm: fx.GraphModule) -> _Kind:
    if type(mod) is nn.Linear:
        return _Kind("linear", {"module": mod})
    if type(mod) is nn.Conv2d:
        if mod.groups != 1:
            raise _unsupported(node, gm, f"groups={mod.groups} (only groups=1)")
        if tuple(mod.dilation) != (1, 1):
            raise _unsupported(node, gm, f"dilation={tuple(mod.dilation)} (only 1)")
        if mod.padding_mode != "zeros":
            raise _unsupported(node, gm, f"padding_mode={mod.padding_mode!r} (only 'zeros')")
        pad = mod.padding
        if isinstance(pad, str):
            if pad == "valid":
                pad = (0, 0)
            else:  # 'same' with stride 1: symmetric only for odd kernels
                kh, kw = mod.kernel_size
                if kh % 2 == 0 or kw % 2 == 0:
                    raise _unsupported(node, gm, "padding='same' with an even kernel pads asymmetrically")
                pad = (kh // 2, kw // 2)
        return _Kind("conv2d", {"module": mod, "padding": _pair(pad, "padding"), "stride": _pair(mod.stride, "stride")})
    if type(mod) in (nn.BatchNorm1d, nn.BatchNorm2d):
        return _Kind("bn", {"module": mod})
    if type(mod) is nn.ReLU:
        return _Kind("relu", {})
    if type(mod) is nn.MaxPool2d:
        return _maxpool_kind(node, gm, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode,
                             mod.return_indices)
    if type(mod) is nn.AvgPool2d:
        return _avgpool_kind(node, gm, mod.kernel_size, mod.stride, mod.padding, mod.divisor_override)
    if type(mod) is nn.AdaptiveAvgPool2d:
        return _Kind("avgpool", {"adaptive": _pair(mod.output_size, "output_size")})
    if type(mod) in (nn.Flatten, nn.Unflatten):
        return _Kind("reshape", {})
    if type(mod) in IDENTITY_MODULES:
        return _Kind("identity", {})
    if type(mod) in LUT_MODULES:
        return _Kind("lut", {"fn": mod})
    if type(mod) is nn.Softmax:
        return _softmax_kind(node, gm, mod.dim, None)
    if type(mod) is nn.LayerNorm:
        if len(mod.normalized_shape) != 1:
            raise _unsupported(node, gm, f"normalized_shape={tuple(mod.normalized_shape)}: refute's layer norm is over "
                                         "the last axis only")
        return _Kind("layernorm", {"module": mod})
    if type(mod) is nn.Embedding:
        if mod.max_norm is not None:
            raise _unsupported(node, gm, "max_norm renormalizes rows at lookup time (a refute table is fixed)")
        return _Kind("embedding", {"module": mod})
    raise _unsupported(node, gm)


MASK_SHAPING_METHODS = ("unsqueeze", "view", "reshape")
MASKED_FILL_FLOOR = -1e4
"""The fill of masked scores must be -inf or at most this (exp of it is 0 in float)."""


def _mask_kind(node: fx.Node, gm: fx.GraphModule, ids: fx.Node, masks: dict[str, int]) -> _Kind | None:
    """A key-padding mask: `ids == pad` (or `ids.eq(pad)`) of the model's input, its
    reshapes (`mask[:, None, None, :]`, `unsqueeze`, `view`), and the scores it fills
    (`scores.masked_fill(mask, -inf)`, method or function), which only a softmax may
    read. None for any other node."""
    if node.op not in ("call_function", "call_method") or not node.args:
        return None
    fn = node.target
    first = node.args[0]
    if (fn in (operator.eq, torch.eq) or fn == "eq") and first is ids:
        pad = node.args[1] if len(node.args) > 1 else None
        if not isinstance(pad, int) or isinstance(pad, bool) or not -(1 << 31) <= pad < 1 << 31:
            raise _unsupported(node, gm, f"a key-padding mask compares the ids with one int32 pad id, not {pad!r}")
        return _Kind("mask", {"pad": pad})
    if isinstance(first, fx.Node) and first.name in masks and (fn is operator.getitem or fn in MASK_SHAPING_METHODS):
        return _Kind("mask", {"pad": masks[first.name]})
    if fn == "masked_fill" or fn is torch.masked_fill:
        if len(node.args) != 3 or not isinstance(node.args[1], fx.Node) or node.args[1].name not in masks:
            raise _unsupported(node, gm, "masked_fill is lowered with a key-padding mask (`ids == pad`) only")
        value = node.args[2]
        if not isinstance(value, (int, float)) or not value <= MASKED_FILL_FLOOR:
            raise _unsupported(node, gm, f"the masked scores are filled with {value!r}; a softmax's mask fills "
                                         f"-inf (or at most {MASKED_FILL_FLOOR:g})")
        users = list(node.users)
        if not users or any(u.op == "output" for u in users):
            raise _unsupported(node, gm, "masked scores may only be read by a softmax")
        return _Kind("masked", {"mask": node.args[1], "pad": masks[node.args[1].name]})
    return None


def _softmax_kind(node: fx.Node, gm: fx.GraphModule, dim: Any, dtype: Any) -> _Kind:
    """softmax along one axis (checked to be the last once shapes are known)."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise _unsupported(node, gm, f"dim={dim!r}: softmax needs an explicit axis, the last")
    if dtype is not None:
        raise _unsupported(node, gm, f"dtype={dtype!r} (softmax computes in refute's integers)")
    return _Kind("softmax", {"dim": dim})


def _matmul_kind(node: fx.Node, gm: fx.GraphModule, meta: set[str]) -> _Kind:
    """`a @ b`, `torch.matmul`, `torch.bmm` of two activations of one rank."""
    if len(node.args) != 2 or node.kwargs or not all(isinstance(a, fx.Node) and a.name not in meta for a in node.args):
        raise _unsupported(node, gm, "only the product of two tensors (no out=, no constants)")
    return _Kind("matmul", {})


def _permute_kind(node: fx.Node, gm: fx.GraphModule, name: str, args, kwargs) -> _Kind:
    """`x.permute(*dims)`, `x.permute(dims)`, `torch.permute(x, dims)`, `x.transpose(a, b)`:
    the axes, batch axis included, resolved against the rank when lowered."""
    if any(isinstance(a, fx.Node) for a in list(args) + list(kwargs.values())):
        raise _unsupported(node, gm, "the axes must be constants")
    if name == "transpose":
        a = _bind(node, ["input", "dim0", "dim1"], {})
        return _Kind("permute", {"swap": (int(a["dim0"]), int(a["dim1"]))})
    dims = kwargs.get("dims", args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args)
    return _Kind("permute", {"dims": tuple(int(d) for d in dims)})


def _maxpool_kind(node, gm, kernel, stride, padding, dilation, ceil_mode, return_indices) -> _Kind:
    if _pair(dilation, "dilation") != (1, 1):
        raise _unsupported(node, gm, "dilation other than 1")
    if return_indices:
        raise _unsupported(node, gm, "return_indices=True")
    kernel = _pair(kernel, "kernel_size")
    stride = kernel if stride is None or stride == [] else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise _unsupported(node, gm, f"padding {padding} above half the kernel {kernel}")
    return _Kind("maxpool", {"kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode})


def _avgpool_kind(node, gm, kernel, stride, padding, divisor_override) -> _Kind:
    kernel = _pair(kernel, "kernel_size")
    stride = kernel if stride is None or stride == [] else _pair(stride, "stride")
    if _pair(padding, "padding") != (0, 0):
        raise _unsupported(node, gm, "average pooling with padding (refute's avgpool2d has none)")
    return _Kind("avgpool", {"kernel": kernel, "stride": stride, "divisor": divisor_override})


def _classify_mean(node: fx.Node, gm: fx.GraphModule) -> _Kind:
    a = _bind(node, ["input", "dim", "keepdim"], {"dim": None, "keepdim": False})
    dim = a["dim"]
    dims = tuple(sorted(d % 4 for d in dim)) if isinstance(dim, (list, tuple)) else None
    if dims != (2, 3) or a.get("dtype") is not None:
        raise _unsupported(node, gm, "only a mean over the two spatial dims of an [N, C, H, W] tensor (a global average pool)")
    return _Kind("avgpool", {"adaptive": (1, 1), "squeeze": not a["keepdim"]})


def _classify_add(node, gm, meta, args, kwargs) -> _Kind:
    if kwargs.get("alpha", 1) != 1 or len(args) > 2 or any(k not in ("alpha",) for k in kwargs):
        raise _unsupported(node, gm, "only a plain sum of two tensors (no alpha, no out)")
    if len(args) != 2 or not all(isinstance(a, fx.Node) and a.name not in meta for a in args):
        raise _unsupported(node, gm, "only the sum of two tensors is supported (not a tensor plus a constant)")
    return _Kind("add", {})


# ---- calibration -------------------------------------------------------------------------


class _Recorder(fx.Interpreter):
    def __init__(self, gm, hook):
        super().__init__(gm)
        self._hook = hook

    def run_node(self, n):
        out = super().run_node(n)
        self._hook(n, out)
        return out


@dataclass
class _Stats:
    shape: tuple[int, ...] | None = None  # per-sample; None for non-tensors
    amax: float = 0.0
    abs_values: list | None = None


def _parse_method(method: str) -> float | None:
    """None for 'max', the percentile for 'percentile:P'."""
    if method == "max":
        return None
    if method.startswith("percentile:"):
        p = float(method.split(":", 1)[1])
        if not 0 < p <= 100:
            raise ValueError(f"a calibration percentile must be in (0, 100], got {p}")
        return p
    raise ValueError(f"calibration method must be 'max' or 'percentile:P', got {method!r}")


def _calibrate(gm, kinds, calib: np.ndarray, percentile: float | None, batch_size: int):
    stats: dict[str, _Stats] = {n.name: _Stats() for n in gm.graph.nodes}
    outputs = []
    cur_b = 0

    def hook(n: fx.Node, out):
        st = stats[n.name]
        if not isinstance(out, torch.Tensor):
            return
        if out.dim() == 0 or out.shape[0] != cur_b:
            raise UnsupportedError(
                f"{_node_desc(n, gm)}{_where(n)} gives shape {list(out.shape)} for a batch of {cur_b}: "
                f"it mixes the batch dim with the others (refute shapes are per sample)"
            )
        if not torch.is_floating_point(out) and n.op != "placeholder" and kinds[n.name].kind != "mask":
            raise UnsupportedError(f"{_node_desc(n, gm)}{_where(n)} gives a {out.dtype} tensor; only float tensors are supported")
        shape = tuple(int(d) for d in out.shape[1:])
        if st.shape is not None and st.shape != shape:
            raise UnsupportedError(f"{_node_desc(n, gm)}: its per-sample shape changes with the batch")
        st.shape = shape
        if kinds[n.name].kind in ("mask", "masked"):
            return  # a mask has no scale; masked scores take their scores' scale
        a = out.detach().abs()
        if a.numel():
            st.amax = max(st.amax, float(a.max()))
            if percentile is not None:
                st.abs_values = (st.abs_values or []) + [a.reshape(-1).to(torch.float32).numpy()]

    rec = _Recorder(gm, hook)
    with torch.no_grad():
        for i in range(0, len(calib), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(calib[i : i + batch_size]))
            cur_b = chunk.shape[0]
            outputs.append(rec.run(chunk))
    for n in gm.graph.nodes:
        k = kinds[n.name]
        is_tensor = stats[n.name].shape is not None
        if k.kind == "meta" and is_tensor:
            raise _unsupported(n, gm, "it gives a tensor where a size was expected")
        if k.kind not in ("meta", "output") and not is_tensor:
            raise _unsupported(n, gm, "it does not give a tensor")
    return stats


def _stat(st: _Stats, percentile: float | None) -> float:
    if percentile is None or st.abs_values is None:
        return st.amax
    return float(np.percentile(np.concatenate(st.abs_values), percentile))


# ---- lowering ---------------------------------------------------------------------------


@dataclass
class _Value:
    step: int
    scale: float
    shape: tuple[int, ...]


def _fold_bn(w: np.ndarray, b: np.ndarray, bn) -> tuple[np.ndarray, np.ndarray]:
    if bn.running_mean is None or bn.running_var is None:
        raise UnsupportedError("batch norm without running statistics (track_running_stats=False) cannot be folded")
    mean = bn.running_mean.detach().double().numpy()
    var = bn.running_var.detach().double().numpy()
    gamma = bn.weight.detach().double().numpy() if bn.weight is not None else np.ones_like(mean)
    beta = bn.bias.detach().double().numpy() if bn.bias is not None else np.zeros_like(mean)
    k = gamma / np.sqrt(var + bn.eps)
    w = w * k.reshape((-1,) + (1,) * (w.ndim - 1))
    b = (b - mean) * k + beta
    return w, b


def import_model(
    model: nn.Module,
    calibration,
    *,
    name: str = "model",
    argmax: bool = False,
    labels: Sequence[str] | None = None,
    input_scale: float | None = None,
    calibration_method: str = "max",
    eval_data: tuple[Any, Any] | None = None,
    source: str | None = None,
    batch_size: int = 512,
    on_bias_overflow: str = "widen",
) -> RefuteModel:
    """Imports `model` (float PyTorch) into a refute model.

    calibration: array-like `[N, *input_shape]` of float inputs, as the model takes
        them (without the batch dim the refute input shape is `input_shape`).
    argmax: append an `argmax` step over the last dim (classifiers then output the
        class index, int32).
    labels: class names for the metadata.
    input_scale: the input's float value per int8 unit; default max|calibration| / 127.
    calibration_method: 'max' (max |x| per tensor) or 'percentile:P' (P-th percentile of |x|).
    eval_data: optional (inputs, labels) to measure float and simulated quantized
        accuracy (written into the metadata).
    source: provenance string for the metadata (default: the model's class).
    on_bias_overflow: what to do when a channel's bias, in accumulator units, breaks
        `K*2^14 + |bias| <= 2^31 - 1` (typically a dead channel: weights near 0, bias
        not): 'widen' (default) coarsens that channel's weight scale just enough, with a
        warning and a `widened_channels` metadata entry; 'error' raises QuantizationError.
    """
    if on_bias_overflow not in ("widen", "error"):
        raise ValueError(f"on_bias_overflow must be 'widen' or 'error', got {on_bias_overflow!r}")
    widened_channels: dict[str, list[int]] = {}
    percentile = _parse_method(calibration_method)
    raw = np.asarray(calibration.detach().cpu().numpy() if isinstance(calibration, torch.Tensor) else calibration)
    if raw.ndim < 2 or len(raw) == 0:
        raise ValueError(f"calibration inputs must be [N, *input_shape] with N >= 1, got shape {list(raw.shape)}")

    fmodel = copy.deepcopy(model).double().eval()
    tracer = fx.Tracer()
    tracer.record_stack_traces = True
    if tracer.is_leaf_module(fmodel, ""):  # a bare torch.nn layer: trace it as a call, not its internals
        fmodel = nn.Sequential(fmodel)
    try:
        graph = tracer.trace(fmodel)
    except Exception as e:  # noqa: BLE001 - fx raises many kinds
        raise UnsupportedError(f"torch.fx cannot trace {_describe_type(model)}: {type(e).__name__}: {e}") from e
    gm = fx.GraphModule(tracer.root, graph)
    gm.graph.eliminate_dead_code()
    kinds = _classify(gm)
    # a model whose input feeds embeddings only takes token ids (int32), not floats
    placeholder = next(n for n in gm.graph.nodes if n.op == "placeholder")
    ids = any(kinds[u.name].kind == "embedding" for u in placeholder.users)
    if ids:
        # sizes may be read, and key-padding masks made
        bad = [u for u in placeholder.users if kinds[u.name].kind not in ("embedding", "meta", "mask")]
        if bad:
            raise _unsupported(bad[0], gm, "the model's input is token ids (it feeds an nn.Embedding); "
                                           "ids may only feed embeddings and key-padding masks")
        for n in gm.graph.nodes:
            if kinds[n.name].kind == "embedding" and n.args[0] is not placeholder:
                raise _unsupported(n, gm, "an embedding must read the model's input (the token ids)")
        if not np.issubdtype(raw.dtype, np.integer) or raw.min() < -(1 << 31) or raw.max() >= 1 << 31:
            raise ValueError("calibration inputs of a model over token ids must be int32 values")
        calib = raw.astype(np.int64)
    else:
        embeddings = [n for n in gm.graph.nodes if kinds[n.name].kind == "embedding"]
        if embeddings:
            raise _unsupported(embeddings[0], gm, "an embedding must read the model's input (the token ids)")
        calib = raw.astype(np.float64)
        if not np.all(np.isfinite(calib)):
            raise ValueError("calibration inputs contain NaN or infinity")
    stats = _calibrate(gm, kinds, calib, percentile, batch_size)

    def scale_of(node: fx.Node) -> float:
        s = _stat(stats[node.name], percentile)
        if s <= 0:
            warnings.warn(f"node `{node.name}` is 0 on every calibration input; giving it scale 1")
            return 1.0
        return quant.snap_scale(s / quant.INT8_MAX)

    nodes = list(gm.graph.nodes)
    users = {n.name: list(n.users) for n in nodes}
    module_calls: dict[str, int] = {}
    for n in nodes:
        if n.op == "call_module":
            module_calls[n.target] = module_calls.get(n.target, 0) + 1

    steps: list[dict[str, Any]] = []
    tensors: dict[str, np.ndarray] = {}
    step_node: list[fx.Node | None] = []
    step_scale: list[float | None] = []
    vals: dict[str, _Value] = {}
    transposed: dict[str, _Value] = {}  # permutes of the last two axes that a product reads transposed
    absorbed: set[str] = set()

    def base_name(node: fx.Node) -> str:
        if node.op == "call_module" and module_calls[node.target] == 1:
            return str(node.target)
        return node.name

    def emit(node: fx.Node, step: dict[str, Any], scale: float | None) -> _Value:
        steps.append(step)
        step_node.append(node)
        step_scale.append(scale)
        shape = stats[node.name].shape
        return _Value(len(steps) - 1, scale, shape)

    def put(tname: str, arr: np.ndarray) -> str:
        if tname in tensors:
            raise AssertionError(f"tensor name clash: {tname}")
        tensors[tname] = arr
        return tname

    def sole_user(node: fx.Node, kind: str) -> fx.Node | None:
        us = users[node.name]
        if len(us) == 1 and kinds[us[0].name].kind == kind:
            return us[0]
        return None

    # residual adds into an int32 stream: an add all of whose users are layer norms or
    # such adds (a transformer's stream between its norms)
    wide: set[str] = set()
    for n in reversed(nodes):
        us = users[n.name]
        if kinds[n.name].kind == "add" and us and all(kinds[u.name].kind == "layernorm" or u.name in wide for u in us):
            wide.add(n.name)

    in_scale = None
    for node in nodes:
        if node.name in absorbed:
            continue
        k = kinds[node.name]
        kind = k.kind
        if kind in ("meta", "mask"):
            continue  # a mask is read by the softmax it masks
        if kind == "masked":
            if any(kinds[u.name].kind != "softmax" for u in node.users):
                raise _unsupported(node, gm, "masked scores may only be read by a softmax")
            vals[node.name] = vals[node.args[0].name]
            continue
        if kind == "input" and ids:
            if input_scale is not None:
                raise ValueError("input_scale is for float inputs; this model takes token ids")
            vals[node.name] = emit(node, {"name": "input", "op": "input", "shape": list(stats[node.name].shape),
                                          "dtype": "int32"}, None)
            continue
        if kind == "input":
            shape = stats[node.name].shape
            if input_scale is None:
                amax = float(np.abs(calib).max())
                in_scale = quant.snap_scale(amax / quant.INT8_MAX) if amax > 0 else 1.0
            else:
                in_scale = float(input_scale)
                if not (math.isfinite(in_scale) and in_scale > 0):
                    raise ValueError(f"input_scale must be positive, got {input_scale}")
            vals[node.name] = emit(node, {"name": "input", "op": "input", "shape": list(shape)}, in_scale)
            continue
        if kind == "output":
            out_node = k.params["value"]
            continue
        x = vals[node.all_input_nodes[0].name] if kind not in ("add", "matmul") else None
        desc = _node_desc(node, gm)

        if kind in ("linear", "conv2d"):
            mod = k.params["module"]
            w = mod.weight.detach().double().numpy().copy()
            b = mod.bias.detach().double().numpy().copy() if mod.bias is not None else np.zeros(w.shape[0])
            chain = [node]
            bn = sole_user(node, "bn")
            if bn is not None:
                bn_mod = gm.get_submodule(bn.target)
                if (kind == "conv2d" and type(bn_mod) is nn.BatchNorm2d) or (
                    kind == "linear" and type(bn_mod) is nn.BatchNorm1d and len(stats[node.name].shape) == 1
                ):
                    w, b = _fold_bn(w, b, bn_mod)
                    chain.append(bn)
            relu_node = sole_user(chain[-1], "relu")
            if relu_node is not None:
                chain.append(relu_node)
            last = chain[-1]
            s_out = scale_of(last)
            red = int(np.prod(w.shape[1:]))
            sw = quant.weight_scales(w)
            for c in np.nonzero(sw == 0)[0]:  # an all-zero channel: make its ratio 1
                sw[c] = quant.snap_scale(s_out / x.scale)
            if on_bias_overflow == "widen":
                sw, widened = quant.widen_for_bias(b, x.scale, sw, red)
                if widened:
                    warnings.warn(f"{desc}: channels {widened} have a bias too large for their weight scale; "
                                  f"their weight scale was widened to keep K*2^14 + |bias| <= 2^31 - 1")
                    widened_channels[base_name(node)] = widened
            qw = quant.quantize_weight_with(w, sw)
            acc_scale = x.scale * sw
            qb = quant.quantize_bias(b, acc_scale)
            quant.check_accumulator(red, qb, desc)
            rows = [(int(qb[c]),) + quant.multiplier_shift(acc_scale[c] / s_out) for c in range(w.shape[0])]
            base = base_name(node)
            step = {"name": base, "op": kind, "inputs": [x.step], "relu": relu_node is not None,
                    "weight": put(f"{base}.weight", qw), "requant": put(f"{base}.requant", np.array(rows, dtype=np.int32))}
            if kind == "conv2d":
                step["stride"] = list(k.params["stride"])
                step["padding"] = list(k.params["padding"])
            v = emit(last, step, s_out)
            for n in chain:
                absorbed.add(n.name)
                vals[n.name] = v
            continue

        if kind == "bn":
            raise _unsupported(node, gm, "batch norm is only supported directly after the Linear (BatchNorm1d) or "
                                         "Conv2d (BatchNorm2d) it can be folded into, as that layer's only user")

        if kind == "relu":
            vals[node.name] = emit(node, {"name": base_name(node), "op": "relu", "inputs": [x.step]}, x.scale)
            continue

        if kind == "identity":
            vals[node.name] = x
            continue

        if kind == "reshape":
            shape = stats[node.name].shape
            if shape == x.shape:
                vals[node.name] = x
            else:
                vals[node.name] = emit(node, {"name": base_name(node), "op": "reshape", "inputs": [x.step],
                                              "shape": list(shape)}, x.scale)
            continue

        if kind == "maxpool":
            p = k.params
            vals[node.name] = emit(node, {"name": base_name(node), "op": "maxpool2d", "inputs": [x.step],
                                          "kernel": list(p["kernel"]), "stride": list(p["stride"]),
                                          "padding": list(p["padding"])}, x.scale)
            continue

        if kind == "avgpool":
            p = k.params
            if len(x.shape) != 3:
                raise _unsupported(node, gm, f"average pooling needs a [C, H, W] input, got {list(x.shape)}")
            if "adaptive" in p:
                oh, ow = p["adaptive"]
                h, wd = x.shape[1], x.shape[2]
                if h % oh or wd % ow:
                    raise _unsupported(node, gm, f"adaptive pooling of {h}x{wd} to {oh}x{ow} has unequal windows")
                kernel = (h // oh, wd // ow)
                stride = kernel
                divisor = None
            else:
                kernel, stride, divisor = p["kernel"], p["stride"], p["divisor"]
            n_win = divisor if divisor else kernel[0] * kernel[1]
            s_out = scale_of(node)
            m, s = quant.multiplier_shift(x.scale / (n_win * s_out))
            v = emit(node, {"name": base_name(node), "op": "avgpool2d", "inputs": [x.step], "kernel": list(kernel),
                            "stride": list(stride), "mult": m, "shift": s}, s_out)
            if p.get("squeeze"):
                shape = stats[node.name].shape
                steps[-1]["name"] = f"{node.name}_pool"
                step_node[-1] = None  # its shape is [C, 1, 1], the node's is [C]
                v = emit(node, {"name": node.name, "op": "reshape", "inputs": [v.step], "shape": list(shape)}, s_out)
            vals[node.name] = v
            continue

        if kind == "add":
            a, b_ = (vals[arg.name] for arg in node.args[:2])
            if a.shape != b_.shape:
                raise _unsupported(node, gm, f"the operands have shapes {list(a.shape)} and {list(b_.shape)} "
                                             "(broadcasting is not supported)")
            if node.name in wide:
                amax = _stat(stats[node.name], percentile)
                s_out = quant.snap_scale(amax / (1 << quant.STREAM_BITS)) if amax > 0 else 1.0
                (ma, mb), s = quant.residual_mults([a.scale / s_out, b_.scale / s_out])
                vals[node.name] = emit(node, {"name": node.name, "op": "residual", "inputs": [a.step, b_.step],
                                              "mult_a": ma, "mult_b": mb, "shift": s}, s_out)
                continue
            last = node
            relu_node = sole_user(node, "relu")
            if relu_node is not None:
                absorbed.add(relu_node.name)
                last = relu_node
            s_out = scale_of(last)
            (ma, mb), s = quant.shared_shift([a.scale / s_out, b_.scale / s_out])
            v = emit(last, {"name": node.name, "op": "add", "inputs": [a.step, b_.step], "mult_a": ma, "mult_b": mb,
                            "shift": s, "relu": relu_node is not None}, s_out)
            vals[node.name] = vals[last.name] = v
            continue

        if kind == "permute":
            r = len(x.shape) + 1  # with the batch axis
            if "swap" in k.params:
                a, b = (d % r for d in k.params["swap"])
                dims = list(range(r))
                dims[a], dims[b] = dims[b], dims[a]
            else:
                dims = [d % r for d in k.params["dims"]]
            if dims[0] != 0:
                raise _unsupported(node, gm, "it moves the batch axis (refute shapes are per sample)")
            perm = [d - 1 for d in dims[1:]]
            user = sole_user(node, "matmul")
            last_two = len(perm) >= 2 and perm == list(range(len(perm) - 2)) + [len(perm) - 1, len(perm) - 2]
            if last_two and user is not None and user.args[1] is node and user.args[0] is not node:
                transposed[node.name] = x  # the product reads its second operand transposed
            elif perm == list(range(r - 1)):
                vals[node.name] = x
            else:
                vals[node.name] = emit(node, {"name": base_name(node), "op": "permute", "inputs": [x.step],
                                              "perm": perm}, x.scale)
            continue

        if kind == "matmul":
            a_node, b_node = node.args
            a = vals[a_node.name]
            tb = b_node.name in transposed
            b_ = transposed[b_node.name] if tb else vals[b_node.name]
            if len(a.shape) < 2 or len(a.shape) != len(b_.shape):
                raise _unsupported(node, gm, f"the operands have shapes {list(a.shape)} and {list(b_.shape)} "
                                             "(both of one rank of at least 2 per sample; no broadcasting)")
            s_out = scale_of(node)
            m, s = quant.multiplier_shift(a.scale * b_.scale / s_out)
            vals[node.name] = emit(node, {"name": base_name(node), "op": "matmul", "inputs": [a.step, b_.step],
                                          "transpose_b": tb, "mult": m, "shift": s}, s_out)
            continue

        if kind == "softmax":
            r = len(x.shape) + 1  # with the batch axis
            if not -r <= k.params["dim"] < r or k.params["dim"] % r != r - 1:
                raise _unsupported(node, gm, f"dim={k.params['dim']}: refute's softmax is along the last axis")
            base = base_name(node)
            # exp(−d·s_in) for d = max − x in input steps; probabilities at scale 1/128
            step = {"name": base, "op": "softmax", "inputs": [x.step],
                    "table": put(f"{base}.table", quant.exp_table(x.scale))}
            src = node.all_input_nodes[0]
            if kinds[src.name].kind == "masked":
                # the keys' mask: one id per key, the same for every row of the scores
                mask, n_keys = src.args[1], x.shape[-1]
                want = (1,) * (len(x.shape) - 1) + (n_keys,)
                if stats[mask.name].shape != want or stats[placeholder.name].shape != (n_keys,):
                    raise _unsupported(src, gm, f"the mask has per-sample shape {list(stats[mask.name].shape)} over "
                                                f"ids {list(stats[placeholder.name].shape)}; a key-padding mask is "
                                                f"the ids [{n_keys}] along the keys, broadcast as {list(want)}")
                step["inputs"].append(vals[placeholder.name].step)
                step["pad"] = kinds[src.name].params["pad"]
            vals[node.name] = emit(node, step, 1.0 / 128)
            continue

        if kind == "layernorm":
            mod = k.params["module"]
            n = x.shape[-1] if x.shape else 0
            if tuple(mod.normalized_shape) != (n,):
                raise _unsupported(node, gm, f"normalized_shape={tuple(mod.normalized_shape)} is not the last axis "
                                             f"of the input {list(x.shape)}")
            gamma = mod.weight.detach().double().numpy() if mod.weight is not None else np.ones(n)
            beta = mod.bias.detach().double().numpy() if mod.bias is not None else np.zeros(n)
            s_out = scale_of(node)
            bits = 32 if steps[x.step]["op"] == "residual" else 8  # an int32 stream, or int8
            rows, pre, eps, shift = quant.layernorm_params(gamma, beta, float(mod.eps), n, x.scale, s_out, bits)
            base = base_name(node)
            vals[node.name] = emit(node, {"name": base, "op": "layernorm", "inputs": [x.step], "pre": pre, "eps": eps,
                                          "shift": shift, "affine": put(f"{base}.affine", rows)}, s_out)
            continue

        if kind == "embedding":
            table = k.params["module"].weight.detach().double().numpy()
            amax = float(np.abs(table).max())
            s_out = quant.snap_scale(amax / quant.INT8_MAX) if amax > 0 else 1.0
            base = base_name(node)
            vals[node.name] = emit(node, {"name": base, "op": "embedding", "inputs": [x.step],
                                          "table": put(f"{base}.table", quant.quantize_activation(table, s_out))}, s_out)
            continue

        if kind == "lut":
            fn = k.params["fn"]
            s_out = scale_of(node)

            def f(xs: np.ndarray, _fn=fn) -> np.ndarray:
                with torch.no_grad():
                    return _fn(torch.from_numpy(xs.astype(np.float64))).double().numpy()

            table = quant.make_lut(f, x.scale, s_out)
            base = base_name(node)
            vals[node.name] = emit(node, {"name": base, "op": "lut", "inputs": [x.step],
                                          "table": put(f"{base}.table", table)}, s_out)
            continue

        raise AssertionError(kind)  # pragma: no cover

    out_val = vals[out_node.name]
    out_scale = out_val.scale
    if argmax:
        if not out_val.shape:
            raise UnsupportedError("--argmax needs an output of rank at least 1")
        steps.append({"name": "class", "op": "argmax", "inputs": [out_val.step]})
        step_node.append(None)
        step_scale.append(None)
    elif out_val.step != len(steps) - 1:
        # The output is an earlier step (e.g. a value also used afterwards): re-expose it last.
        steps.append({"name": "output", "op": "reshape", "inputs": [out_val.step], "shape": list(out_val.shape)})
        step_node.append(None)
        step_scale.append(out_scale)

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "weights": f"{name}.safetensors",
        "steps": steps,
    }
    if in_scale is not None:
        manifest["input_scale"] = in_scale
    types = validate(manifest, tensors)
    for i, (node, ty) in enumerate(zip(step_node, types)):
        if node is not None and stats[node.name].shape != ty.shape:
            raise UnsupportedError(
                f"{_node_desc(node, gm)}{_where(node)}: refute's `{steps[i]['op']}` gives per-sample shape "
                f"{list(ty.shape)} where PyTorch gives {list(stats[node.name].shape)} (ceil_mode or an "
                f"unsupported option?)"
            )

    meta: dict[str, Any] = {
        "source": source or f"{type(model).__module__}.{type(model).__qualname__}",
        "importer": f"refute_import {__version__}",
        "calibration": {"method": calibration_method, "samples": int(len(calib))},
        "step_scales": step_scale,
    }
    if not argmax:
        meta["output_scale"] = out_scale
    if widened_channels:
        meta["widened_channels"] = widened_channels
    if labels is not None:
        meta["labels"] = [str(l) for l in labels]
    manifest["metadata"] = meta
    result = RefuteModel(manifest, tensors)
    if eval_data is not None:
        meta.update(evaluate(result, fmodel, eval_data[0], eval_data[1], batch_size=batch_size))
    return result


def float_outputs(fmodel: nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The float model's outputs (float64) on `x` (float inputs, or int64 token ids)."""
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(fmodel(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size]))).numpy())
    return np.concatenate(outs)


def evaluate(qmodel: RefuteModel, fmodel: nn.Module, x, y, batch_size: int = 512) -> dict[str, Any]:
    """Float and simulated quantized accuracy of a classifier on (x, y)."""
    ids = qmodel.steps[0].get("dtype") == "int32"
    x = np.asarray(x, dtype=np.int64 if ids else np.float64).reshape((-1,) + qmodel.input_shape)
    y = np.asarray(y).reshape(-1)
    fmodel = copy.deepcopy(fmodel).double().eval()
    f_pred = float_outputs(fmodel, x, batch_size).argmax(axis=-1)
    q_out = qmodel.run(x) if ids else qmodel.run_float(x)
    q_pred = q_out if qmodel.steps[-1]["op"] == "argmax" else q_out.argmax(axis=-1)
    return {
        "eval_samples": int(len(y)),
        "float_accuracy": float((f_pred == y).mean()),
        "quantized_accuracy": float((q_pred == y).mean()),
        "quantized_accuracy_by": "python simulator (refute_import.sim), not the Rust engine",
        "float_quantized_agreement": float((f_pred == q_pred).mean()),
    }

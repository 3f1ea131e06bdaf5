"""Applying a fake-quantization format to a model, or calling the project's own hook function.

A spec string names the format and what is quantized:
    none, bf16, fp32, fp16        no quantization
    mxfp4-w4a4, nvfp4-w4a4        weights and activations (inputs of the quantized modules)
    mxfp8-w8a8, int8-w8a8         ... the same at 8 bits (mxfp8 = mxfp8_e4m3)
    mxfp4-w4a16, mxfp4-w4         weights only
    mxfp4                         a bare format: weights and activations
    pkg.quant:apply_hooks         the project's own hook function, called with the model
Weights are fake-quantized in place on a deep copy (the caller's model is untouched unless
`inplace=True`); activations through forward pre-hooks. Blocks run along the last axis (the
input features of nn.Linear); other module types' weights are flattened to [out, -1] first.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from auditor.replay.imports import load_callable
from auditor.replay.quant import quantize_dequantize

NO_QUANT = ("", "none", "bf16", "fp32", "fp16", "float32", "bfloat16", "float16", "full")
FAMILIES = {  # spec prefix -> (format, bits)
    "mxfp4": ("mxfp4", 4), "nvfp4": ("nvfp4", 4), "int4": ("int4", 4), "int8": ("int8", 8),
    "mxfp6": ("mxfp6_e2m3", 6), "mxfp6_e2m3": ("mxfp6_e2m3", 6), "mxfp6_e3m2": ("mxfp6_e3m2", 6),
    "mxfp8": ("mxfp8_e4m3", 8), "mxfp8_e4m3": ("mxfp8_e4m3", 8), "mxfp8_e5m2": ("mxfp8_e5m2", 8),
}
_SPEC = re.compile(r"^(?P<family>[a-z0-9_]+?)(?:[-_]w(?P<w>\d+)(?:a(?P<a>\d+))?)?$")


@dataclass(frozen=True)
class QuantSpec:
    text: str
    weight_fmt: str | None = None
    act_fmt: str | None = None
    hook: str | None = None  # "module:function" of the project's own quantization

    @property
    def is_noop(self) -> bool:
        return not (self.weight_fmt or self.act_fmt or self.hook)

    def describe(self) -> str:
        if self.hook:
            return f"the project's hook {self.hook}"
        if self.is_noop:
            return "no quantization"
        parts = [f"weights {self.weight_fmt}"] + ([f"activations {self.act_fmt}"] if self.act_fmt else [])
        return f"{self.text.upper()} ({', '.join(parts)})"


def parse_spec(text: str | None) -> QuantSpec:
    """A quantization spec string (see the module docs) -> QuantSpec; ValueError when not understood."""
    raw = (text or "").strip()
    if ":" in raw:
        return QuantSpec(raw, hook=raw)
    lowered = raw.lower()
    if lowered in NO_QUANT:
        return QuantSpec(raw)
    match = _SPEC.match(lowered)
    family = FAMILIES.get(match.group("family")) if match else None
    if family is None:
        raise ValueError(f"unknown quantization spec {raw!r}; expected none/bf16, a format "
                         f"({', '.join(sorted(FAMILIES))}) with an optional -wNaM suffix, or a module:function hook")
    fmt, bits = family
    w_bits = int(match.group("w") or bits)
    a_bits = int(match.group("a")) if match.group("a") else (None if match.group("w") else bits)
    if w_bits != bits or (a_bits not in (None, 16, bits)):
        raise ValueError(f"quantization spec {raw!r}: {fmt} is {bits}-bit; use w{bits}a{bits} or w{bits}a16")
    return QuantSpec(raw, weight_fmt=fmt, act_fmt=fmt if a_bits == bits else None)


@dataclass
class QuantOptions:
    module_types: tuple[type, ...] = (nn.Linear,)
    include: tuple[str, ...] = ()  # fnmatch patterns on module names; empty: every module of the types
    exclude: tuple[str, ...] = ()  # e.g. ("lm_head", "*.lm_head")
    block_size: int | None = None
    scale_mode: str = "floor"
    rounding: str = "even"


@dataclass
class QuantReport:
    """What applying a spec did: which modules were quantized (RA402 reads it)."""

    spec: str
    description: str
    weights: list[str] = field(default_factory=list)  # modules whose weights were fake-quantized
    activations: list[str] = field(default_factory=list)  # modules with an input pre-hook
    excluded: list[str] = field(default_factory=list)  # modules of the types left out by the patterns
    changed_by_hook: list[str] = field(default_factory=list)  # for a project hook: modules it touched
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    @property
    def quantized(self) -> list[str]:
        return sorted(set(self.weights) | set(self.activations) | set(self.changed_by_hook))

    def to_json(self) -> dict:
        return {"spec": self.spec, "description": self.description, "quantized_modules": self.quantized,
                "weights": self.weights, "activations": self.activations, "excluded": self.excluded,
                "include": self.include, "exclude": self.exclude}


def _selected(name: str, options: QuantOptions) -> bool:
    def matches(patterns):
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)

    return (not options.include or matches(options.include)) and not matches(options.exclude)


def _activation_hook(fmt: str, options: QuantOptions):
    def hook(_module, args):
        if not args or not isinstance(args[0], torch.Tensor) or not args[0].is_floating_point():
            return None
        x = quantize_dequantize(args[0], fmt, block_size=options.block_size, scale_mode=options.scale_mode,
                                rounding=options.rounding)
        return (x, *args[1:])

    return hook


@torch.no_grad()
def _quantize_weight(module: nn.Module, fmt: str, options: QuantOptions) -> bool:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point() or weight.dim() < 2:
        return False
    flat = weight.reshape(weight.shape[0], -1)
    flat = quantize_dequantize(flat, fmt, block_size=options.block_size, scale_mode=options.scale_mode,
                               rounding=options.rounding)
    weight.copy_(flat.reshape(weight.shape))
    return True


def apply_quant(model: nn.Module, spec: QuantSpec | str, *, options: QuantOptions | None = None,
                repo: str | Path = ".", inplace: bool = False) -> tuple[nn.Module, QuantReport]:
    """The model under `spec` (a deep copy unless inplace) and a report of what was quantized."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    options = options or QuantOptions()
    model = model if inplace else copy.deepcopy(model)
    report = QuantReport(spec.text, spec.describe(), include=list(options.include), exclude=list(options.exclude))
    if spec.hook:
        return _apply_hook(model, spec.hook, repo, report)
    if spec.is_noop:
        return model, report
    for name, module in model.named_modules():
        if not isinstance(module, options.module_types):
            continue
        if not _selected(name, options):
            report.excluded.append(name)
            continue
        if spec.weight_fmt and _quantize_weight(module, spec.weight_fmt, options):
            report.weights.append(name)
        if spec.act_fmt:
            module.register_forward_pre_hook(_activation_hook(spec.act_fmt, options))
            report.activations.append(name)
    return model, report


def _fingerprint(model: nn.Module) -> dict[str, tuple]:
    """Per module: its class, its own parameters' values and its hooks, to see what a hook function changed."""
    state = {}
    for name, module in model.named_modules():
        params = tuple(p.detach().clone() for p in module.parameters(recurse=False))
        hooks = (len(module._forward_pre_hooks), len(module._forward_hooks))
        state[name] = (type(module), params, hooks, module.__dict__.get("forward"))  # a patched forward
    return state


def _apply_hook(model: nn.Module, target: str, repo: str | Path, report: QuantReport):
    function = load_callable(target, repo, "quantization hook")
    before = _fingerprint(model)
    returned = function(model)
    if isinstance(returned, nn.Module):
        model = returned
    after = _fingerprint(model)
    for name, (cls, params, hooks, forward) in after.items():
        old = before.get(name)
        if old is None or old[0] is not cls or old[2] != hooks or old[3] is not forward or len(old[1]) != len(params) \
                or any(not torch.equal(a, b) for a, b in zip(old[1], params, strict=False)):
            report.changed_by_hook.append(name)
    # Global torch hooks (e.g. registered on nn.Linear's class) are invisible here; the driver's
    # output comparison (quantized vs plain) is what finally decides whether anything changed.
    return model, report

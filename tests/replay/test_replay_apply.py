"""Applying a format to a real model: weights on a deep copy, activations through pre-hooks, patterns, hooks."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from auditor.replay.apply import QuantOptions, apply_quant, parse_spec
from auditor.replay.imports import ImportFailure
from auditor.replay.quant import quantize_dequantize


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(40, 48), nn.ReLU(), nn.Linear(48, 48))
        self.lm_head = nn.Linear(48, 10)

    def forward(self, x):
        return self.lm_head(self.body(x))


@pytest.mark.parametrize("text,weights,acts", [
    ("mxfp4-w4a4", "mxfp4", "mxfp4"), ("nvfp4-w4a4", "nvfp4", "nvfp4"), ("MXFP8-W8A8", "mxfp8_e4m3", "mxfp8_e4m3"),
    ("mxfp4-w4a16", "mxfp4", None), ("mxfp4-w4", "mxfp4", None), ("int8-w8a8", "int8", "int8"),
    ("int4-w4a16", "int4", None), ("mxfp4", "mxfp4", "mxfp4"), ("mxfp6_e3m2-w6a6", "mxfp6_e3m2", "mxfp6_e3m2"),
])
def test_parse_spec(text, weights, acts):
    spec = parse_spec(text)
    assert (spec.weight_fmt, spec.act_fmt, spec.hook) == (weights, acts, None)


@pytest.mark.parametrize("text", ["none", "bf16", "BF16", "fp32", "", None])
def test_no_quantization_specs(text):
    assert parse_spec(text).is_noop


def test_hook_specs_and_bad_specs():
    assert parse_spec("pkg.quant:apply_hooks").hook == "pkg.quant:apply_hooks"
    for bad in ("fp3-w4a4", "mxfp8-w4a4", "mxfp4-w4a8", "mxfp4-x"):
        with pytest.raises(ValueError, match="quantization spec"):
            parse_spec(bad)


def test_weights_are_quantized_on_a_copy_and_the_original_is_untouched():
    model = Tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantized, report = apply_quant(model, "mxfp4-w4a16")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert torch.equal(quantized.body[0].weight, quantize_dequantize(before["body.0.weight"], "mxfp4"))
    assert torch.equal(quantized.body[0].bias, before["body.0.bias"])  # biases stay
    assert report.weights == ["body.0", "body.2", "lm_head"] and report.activations == []


def test_w4a4_quantizes_the_inputs_of_every_linear():
    model = Tiny()
    quantized, report = apply_quant(model, "mxfp4-w4a4")
    x = torch.randn(5, 40, generator=torch.Generator().manual_seed(1))
    q = lambda t: quantize_dequantize(t, "mxfp4")  # noqa: E731
    h = torch.relu(nn.functional.linear(q(x), q(model.body[0].weight), model.body[0].bias))
    h = nn.functional.linear(q(h), q(model.body[2].weight), model.body[2].bias)
    want = nn.functional.linear(q(h), q(model.lm_head.weight), model.lm_head.bias)
    assert torch.equal(quantized(x), want)
    assert report.quantized == ["body.0", "body.2", "lm_head"]


def test_exclude_keeps_lm_head_unquantized_and_include_narrows():
    model = Tiny()
    quantized, report = apply_quant(model, "mxfp4-w4a4", options=QuantOptions(exclude=("lm_head",)))
    assert torch.equal(quantized.lm_head.weight, model.lm_head.weight)
    assert report.excluded == ["lm_head"] and "lm_head" not in report.quantized
    _, report = apply_quant(model, "mxfp4-w4a4", options=QuantOptions(include=("body.2",)))
    assert report.quantized == ["body.2"]
    _, report = apply_quant(model, "mxfp4-w4a4", options=QuantOptions(include=("decoder.*",)))
    assert report.quantized == [] and report.to_json()["include"] == ["decoder.*"]


def test_inplace_and_other_module_types():
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 30 * 30, 2))
    original = conv[0].weight.clone()
    out, report = apply_quant(conv, "int8-w8a16", options=QuantOptions(module_types=(nn.Conv2d,)), inplace=True)
    assert out is conv and report.weights == ["0"]
    assert torch.equal(conv[0].weight, quantize_dequantize(original.reshape(4, -1), "int8").reshape(4, 3, 3, 3))


def test_the_projects_own_hook_function(tmp_path):
    (tmp_path / "labquant.py").write_text(textwrap.dedent("""
        import torch
        from auditor.replay.quant import quantize_dequantize

        def apply_hooks(model):
            for module in model.modules():
                if isinstance(module, torch.nn.Linear):
                    module.register_forward_pre_hook(lambda m, a: (quantize_dequantize(a[0], "mxfp4"),))

        def forgets(model):
            return None

        def replaces(model):
            return torch.nn.Sequential(torch.nn.Identity())
    """))
    model = Tiny()
    hooked, report = apply_quant(model, "labquant:apply_hooks", repo=tmp_path)
    assert report.changed_by_hook == ["body.0", "body.2", "lm_head"]
    x = torch.randn(2, 40)
    assert not torch.equal(hooked(x), model(x))
    assert model.body[0]._forward_pre_hooks == {}  # the caller's model is untouched
    _, report = apply_quant(model, "labquant:forgets", repo=tmp_path)
    assert report.quantized == []
    replaced, report = apply_quant(model, "labquant:replaces", repo=tmp_path)
    assert isinstance(replaced[0], nn.Identity) and report.quantized
    with pytest.raises(ImportFailure, match="no attribute"):
        apply_quant(model, "labquant:missing", repo=tmp_path)
    with pytest.raises(ImportFailure, match="no module 'nosuchmodule_xyz' in the repository"):
        apply_quant(model, "nosuchmodule_xyz:f", repo=tmp_path)
    (tmp_path / "broken_lab.py").write_text("raise RuntimeError('half-written module')\n")
    with pytest.raises(ImportFailure, match="cannot import"):
        apply_quant(model, "broken_lab:f", repo=tmp_path)

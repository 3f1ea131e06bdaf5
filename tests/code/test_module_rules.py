"""Module rules on shapes beyond their own examples: aliases, scopes, project facts (the torch floor)."""

from __future__ import annotations

import pytest

OLD_TORCH = "torch>=1.13\n"


def _flagged(scan_source, rule: str, source: str, requirements: str = OLD_TORCH) -> list:
    result = scan_source({"requirements.txt": requirements, "m.py": source})
    return [f for f in result.findings if f.rule == rule]


@pytest.mark.parametrize("source, expected", [
    ("import torch\nstate = torch.load(p)\n", True),
    ("from torch import load as L\nL(p)\n", True),
    ("import pickle as pk\npk.load(f)\n", True),
    ("import pickle as pk\npk.loads(f.read())\n", True),
    ("import pickle as pk\npk.loads(payload)\n", False),  # bytes from the job itself
    ('"""Use torch.load(path) here."""\nimport torch\n', False),  # only in a docstring
    ("import torch\nx = torch.save(m, p)\n", False),
    ("import torch\nx = torch.load(p, weights_only=True)\n", False),
    ("import torch\nx = torch.load(p, weights_only=False)\n", True),
    ("import torch\nx = torch.load(p, **kw)\n", False),
    ("import numpy as np\nx = np.load(p)\n", False),
    ("import numpy as np\nx = np.load(p, allow_pickle=True)\n", True),
    ("import pickle\nx = pickle.loads(sock.recv())\n", False),
    ("import pickle\nx = pickle.loads(open(p, 'rb').read())\n", True),
    ("import json\nx = json.load(f)\n", False),
    ("import torch\ndef f(torch):\n    return torch.load(p)\n", False),  # the parameter shadows the import
    ("def f():\n    import torch as t\n    return t.load(p)\n", True),  # a function-local import
    ("try:\n    import cPickle as pk\nexcept ImportError:\n    import pickle as pk\npk.load(f)\n", True),
])
def test_ra170_shapes(scan_source, source, expected):
    assert bool(_flagged(scan_source, "RA170", source)) is expected


@pytest.mark.parametrize("requirements, severity", [
    ("torch>=1.13\n", "warning"),
    ("torch==2.2.0\n", "warning"),
    ("torch>=2.6\n", None),
    ("torch ~= 2.7\n", None),
    ("torchvision>=0.21\n", "info"),  # torchvision is not torch: nothing declares a torch floor
    ("torch\n", "info"),  # declared without a floor
    ("# torch>=2.6\ntorch\n", "info"),  # a comment is not a requirement
])
def test_ra170_reads_the_declared_torch_floor(scan_source, requirements, severity):
    found = _flagged(scan_source, "RA170", "import torch\nsd = torch.load('w.pt')\n", requirements)
    assert [f.severity for f in found] == ([severity] if severity else [])


def test_ra170_explicit_weights_only_false_is_flagged_whatever_the_floor(scan_source):
    found = _flagged(scan_source, "RA170", "import torch\nsd = torch.load('w.pt', weights_only=False)\n",
                     "torch>=2.8\n")
    assert [f.severity for f in found] == ["warning"]


@pytest.mark.parametrize("source, expected", [
    ("if debug:\n    print(loss.item())\n", False),
    ("if debug:\n    opt.step()\n", True),
    ("from numpy.random import choice as pick\nif args.diag:\n    pick(3)\n", True),
    ("def debug_probe(m):\n    return m.weight.norm()\n", False),
    ("def debug_probe(m):\n    m.weight.data = 0\n", True),
    ("if logger.isEnabledFor(logging.DEBUG):\n    opt.step()\n", False),  # a log level, not a flag
    ("if self.debug_level > 1:\n    opt.step()\n", True),
    ("if cfg.diagnostics.enabled:\n    loss.backward()\n", True),
    ("def sample_diagonal(x):\n    x.sum().backward()\n", False),  # diagonal is not diagnostic
    ("if runDiagnostics:\n    opt.step()\n", True),
    ("if old_diag.device.type == 'meta':\n    opt.step()\n", False),  # tests a tensor, not a switch
])
def test_ra140_shapes(scan_source, source, expected):
    assert bool(_flagged(scan_source, "RA140", source)) is expected


@pytest.mark.parametrize("source, expected", [
    ("try:\n    evaluate(m)\nexcept Exception:\n    log.warning('x')\n", True),
    ("try:\n    evaluate(m)\nexcept Exception as e:\n    errors.append(e)\n", False),
    ("import sys\ntry:\n    evaluate(m)\nexcept Exception:\n    sys.exit(1)\n", False),
    ("import sys\ntry:\n    evaluate(m)\nexcept Exception:\n    sys.exit(0)\n", True),
    ("def f():\n    ok = True\n    try:\n        evaluate(m)\n    except Exception:\n        ok = False\n    return ok\n", False),
    ("def f():\n    ok = True\n    try:\n        evaluate(m)\n    except Exception:\n        ok = False\n    print(ok)\n", True),
])
def test_ra150_shapes(scan_source, source, expected):
    assert bool(_flagged(scan_source, "RA150", source)) is expected


def test_ra150_says_when_the_failure_was_only_logged(scan_source):
    found = _flagged(scan_source, "RA150", "try:\n    evaluate(m)\nexcept Exception:\n    logger.error('x')\n")
    assert "only logged" in found[0].message


def test_ra170_floor_of_a_sub_project(scan_source):
    """The nearest folder with a versioned torch decides; an unversioned mention inherits the project's."""
    project = {
        "setup.py": 'setup(install_requires=["torch>=2.6"])\n',
        "examples/a/requirements.txt": "torch\ntorchvision\n",
        "examples/a/run.py": "import torch\nsd = torch.load('w.pt')\n",
        "examples/old/requirements.txt": "torch==2.2.0\n",
        "examples/old/run.py": "import torch\nsd = torch.load('w.pt')\n",
        "setup.cfg": "[isort]\nknown_third_party = numpy, torch, yaml\n",
    }
    found = [(f.location.path, f.severity) for f in scan_source(project).findings if f.rule == "RA170"]
    assert found == [("examples/old/run.py", "warning")]


def test_ra170_version_checked_by_an_assert_in_setup(scan_source):
    project = {"setup.py": 'torch_ver = [int(x) for x in torch.__version__.split(".")[:2]]\n'
                           'assert torch_ver >= [1, 8], "Requires PyTorch >= 1.8"\n',
               "m.py": "import torch\nsd = torch.load('w.pt')\n"}
    assert [f.severity for f in scan_source(project).findings if f.rule == "RA170"] == ["warning"]


def test_ra170_in_memory_buffer_is_safe_only_when_the_job_sent_it(scan_source):
    shared = """
import io
import torch
def from_model_file(predict_net):
    buffer = io.BytesIO(get_pb_arg_vals(predict_net, "anchor_generator"))
    return torch.load(buffer)
"""
    found = _flagged(scan_source, "RA170", shared)
    assert [f.location.line for f in found] == [5]

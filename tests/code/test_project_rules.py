"""Project rules on small projects: behaviour beyond the rules' own examples."""

from __future__ import annotations

import textwrap

import ast

from auditor.code.context import ModuleContext
from auditor.config import Config
from auditor.rules.code.ra140_diagnostic_side_effect import DiagnosticSideEffect

from code_helpers import scan_example


def _rules(result, *ids):
    return sorted((f.rule, f.location.path, f.location.line) for f in result.findings if f.rule in ids)


def test_config_logged_by_a_helper_in_another_module(tmp_path):
    project = {
        "train.py": """
        import wandb
        from track import record_config

        def main(cfg):
            run = wandb.init(project="p")
            record_config(run, cfg)

        if __name__ == "__main__":
            main({})
        """,
        "track.py": """
        def record_config(run, cfg):
            run.config.update(cfg)
        """,
    }
    result = scan_example(project, tmp_path / "ok")[1]
    assert _rules(result, "RA160") == []
    project["track.py"] = "def record_config(run, cfg):\n    print(cfg)\n"
    result = scan_example(project, tmp_path / "bad")[1]
    assert _rules(result, "RA160") == [("RA160", "train.py", 5)]


def test_diagnostic_flags_from_the_configuration():
    source = textwrap.dedent("""
    import torch

    def step(model, batch, cfg):
        if cfg.probe_energy:
            torch.randn(3)
    """)
    def run(config):
        ctx = ModuleContext(path="t.py", source=source, tree=ast.parse(source), config=config, module_name="t")
        return [f.location.line for f in DiagnosticSideEffect().check(ctx)]
    assert run(Config()) == []
    assert run(Config(diagnostic_flags=["probe_energy"])) == [6]


def test_quant_hook_installed_through_forward_pre_hook_is_seen(tmp_path):
    project = {
        "train.py": """
        import torch
        from fq import nvfp4_fake_quant, Net

        if __name__ == "__main__":
            m = Net()
            m.register_forward_pre_hook(nvfp4_fake_quant)
            opt = torch.optim.SGD(m.parameters(), lr=0.1)
            m(torch.randn(1, 2)).sum().backward()
            opt.step()
        """,
        "fq.py": "import torch\n\nclass Net(torch.nn.Linear):\n    pass\n\ndef nvfp4_fake_quant(module, args):\n    return args\n",
        "evaluate_ckpt.py": """
        from fq import Net
        from safetensors.torch import load_file

        def validate(m):
            return 0.0

        if __name__ == "__main__":
            m = Net()
            m.load_state_dict(load_file("model.safetensors"))
            validate(m)
        """,
    }
    result = scan_example(project, tmp_path / "p")[1]
    assert _rules(result, "RA130") == [("RA130", "evaluate_ckpt.py", 9)]

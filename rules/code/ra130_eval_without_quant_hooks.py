from auditor.code.rule_base import ProjectRule
from auditor.findings import code_location


class EvalWithoutQuantHooks(ProjectRule):
    id = "RA130"
    name = "eval-without-quant-hooks"
    severity = "error"
    summary = ("An eval path loads a checkpoint and evaluates it without the quantization hooks "
               "the training path applies.")
    rationale = (
        "A model trained under fake quantization (MXFP4/NVFP4 hooks, QAT) has to be evaluated under the same "
        "quantization: evaluated in plain BF16 it scores what a different model would, usually better, and "
        "the number is reported as the quantized model's. The index compares the entry points of the "
        "project: when one applies quantization hooks (the project's configured `quant_hooks`, torchao "
        "`quantize_`, `prepare_qat`, forward pre-hooks with quantizing functions, functions named "
        "mxfp4/nvfp4/fake_quant/quantize) and another loads a checkpoint and evaluates without any, the "
        "second is flagged."
    )
    incident = (
        'A model trained with 4-bit (MXFP4 W4A4) quantization hooks was evaluated by a script that never '
        'applied them, so it was scored in BF16. The inflated 73.31% was reported as the 4-bit result and '
        'used as the baseline for four more experiments.'
    )
    bad = [
        {
            "quant.py": """
            import torch

            def mxfp4_hook(module, args):
                return tuple(a.clamp(-6, 6) for a in args)

            def apply_quant_hooks(model):
                for m in model.modules():
                    if isinstance(m, torch.nn.Linear):
                        m.register_forward_pre_hook(mxfp4_hook)
            """,
            "train.py": """
            import torch
            from quant import apply_quant_hooks

            def main():
                torch.manual_seed(0)
                model = torch.nn.Linear(4, 4)
                apply_quant_hooks(model)
                model(torch.randn(2, 4)).sum().backward()
                torch.save(model.state_dict(), "ckpt.pt")

            if __name__ == "__main__":
                main()
            """,
            "eval.py": """
            import torch
            from metrics import evaluate

            def main():
                model = torch.nn.Linear(4, 4)
                model.load_state_dict(torch.load("ckpt.pt", weights_only=True))  # expect: RA130
                print(evaluate(model))

            if __name__ == "__main__":
                main()
            """,
            "metrics.py": """
            def evaluate(model):
                return 0.0
            """,
        },
    ]
    good = [
        {
            "quant.py": """
            def apply_quant_hooks(model):
                return model
            """,
            "train.py": """
            from quant import apply_quant_hooks
            import torch

            if __name__ == "__main__":
                model = apply_quant_hooks(torch.nn.Linear(4, 4))
                model(torch.randn(2, 4)).sum().backward()
            """,
            "eval.py": """
            import torch
            from quant import apply_quant_hooks
            from metrics import evaluate

            if __name__ == "__main__":
                model = torch.nn.Linear(4, 4)
                model.load_state_dict(torch.load("ckpt.pt", weights_only=True))
                apply_quant_hooks(model)
                print(evaluate(model))
            """,
            "metrics.py": """
            def evaluate(model):
                return 0.0
            """,
        },
        {   # nobody quantizes: a plain eval script is fine
            "train.py": """
            import torch
            if __name__ == "__main__":
                torch.manual_seed(0)
                torch.save(torch.nn.Linear(2, 2).state_dict(), "c.pt")
            """,
            "eval.py": """
            import torch
            def evaluate(m):
                return 1.0
            if __name__ == "__main__":
                m = torch.nn.Linear(2, 2)
                m.load_state_dict(torch.load("c.pt", weights_only=True))
                evaluate(m)
            """,
        },
        {   # the accelerator's prepare() is not torch.ao's prepare()
            "train.py": """
            from accelerate import Accelerator
            from torchao.quantization import quantize_
            import torch

            if __name__ == "__main__":
                model = torch.nn.Linear(2, 2)
                quantize_(model, None)
                torch.save(model.state_dict(), "c.pt")
            """,
            "eval.py": """
            from accelerate import Accelerator
            from torchao.quantization import quantize_
            import torch

            def evaluate(m):
                return 1.0

            if __name__ == "__main__":
                accelerator = Accelerator()
                m = torch.nn.Linear(2, 2)
                m.load_state_dict(torch.load("c.pt", weights_only=True))
                quantize_(m, None)
                m = accelerator.prepare(m)
                evaluate(m)
            """,
        },
    ]

    def check(self, index, config):
        quantized = {}
        for entry in index.entry_points:
            steps = index.flatten(entry.qualname)
            hooks = [s for s in steps if s.event.kind == "quant"]
            if hooks:
                quantized[entry.qualname] = (entry, hooks[0])
        if not quantized:
            return
        for entry in index.entry_points:
            if entry.qualname in quantized:
                continue
            steps = index.flatten(entry.qualname)
            loads = [s for s in steps if s.event.kind == "load"]
            evals = [s for s in steps if s.event.kind == "validate"]
            if not loads or not evals:
                continue
            other, hook = sorted(quantized.values(), key=lambda v: (v[0].path, v[0].line))[0]
            load = loads[0]
            path, site = load.site_apart_from(evals[0])  # the load in the function that also evaluates
            yield self.finding(
                f"{entry.label} loads a checkpoint and evaluates it (`{evals[0].event.target}` at "
                f"{evals[0].where()}) without quantization hooks, while {other.label} applies them "
                f"(`{hook.event.target}` at {hook.where()}): the score is not the quantized model's",
                code_location(path, site.line, site.col),
                {"entry": entry.qualname, "quantized_entry": other.qualname, "hook": hook.where()},
                anchor=site.text,
            )

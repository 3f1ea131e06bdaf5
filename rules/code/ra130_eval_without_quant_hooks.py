import re

from auditor.code import apis
from auditor.code.rule_base import ProjectRule
from auditor.findings import code_location


def _scores_inline(events: list, at: int) -> bool:
    """`model.eval()` (not the builtin `eval`) and then, in the same function, the model called on data: an
    evaluation written out inline. Eval mode alone (an export, a checkpoint average) scores nothing."""
    receiver, _, last = events[at].target.rpartition(".")
    return last == "eval" and bool(receiver) and any(
        ev.kind == "call" and ev.target == receiver for ev in events[at + 1:])


# A model class and a training script that quantizes it: two examples pair their own eval paths with it.
_QUANTIZED_TRAINING = {
    "model.py": """
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 1)

        def forward(self, x):
            return self.fc(x)
    """,
    "train.py": """
    import torch
    from model import Net

    def apply_mxfp4(model):
        return model

    if __name__ == "__main__":
        model = apply_mxfp4(Net())
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model(torch.randn(2, 4)).sum().backward()
        opt.step()
        torch.save(model.state_dict(), "ckpt.pt")
    """,
}


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
        "project. A training path (one that takes optimizer steps) is quantized when it applies the project's "
        "configured `quant_hooks`, torchao `quantize_` or a QAT config, `prepare_qat`, a quantizer's "
        "`prepare`, functions named mxfp4/nvfp4/fake_quant/quantize, or a forward (pre-)hook whose body calls a "
        "fake-quantization op, whatever the hook is called. An eval path loads a checkpoint and evaluates, "
        "validates, samples or generates (directly, through a harness such as lm_eval, or inline: "
        "`model.eval()` and then the model called on data), without training "
        "and without any quantization. The two are paired only when they share the model: the eval path's own "
        "code builds the same project model class or calls the same model factory, or saves and loads "
        "checkpoints through the same project module; so unrelated examples of a monorepo are never paired."
    )
    incident = (
        'A model trained with 4-bit (MXFP4 W4A4) quantization hooks was evaluated by a script that never '
        'applied them, so it was scored in BF16. The inflated 73.31% was reported as the 4-bit result and '
        'used as the baseline for four more experiments.'
    )
    bad = [
        {
            "model.py": """
            import torch

            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = torch.nn.Linear(4, 4)

                def forward(self, x):
                    return self.fc(x)
            """,
            "quant.py": """
            import torch

            def _pre(module, args):  # a neutral name: what it calls makes it a quantization hook
                return tuple(torch.fake_quantize_per_tensor_affine(a, 0.1, 0, -8, 7) for a in args)

            def install(model):
                for m in model.modules():
                    if isinstance(m, torch.nn.Linear):
                        m.register_forward_pre_hook(_pre)
            """,
            "train.py": """
            import torch
            from model import Net
            from quant import install

            def main():
                torch.manual_seed(0)
                model = Net()
                install(model)
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                model(torch.randn(2, 4)).sum().backward()
                opt.step()
                torch.save(model.state_dict(), "ckpt.pt")

            if __name__ == "__main__":
                main()
            """,
            "eval.py": """
            import torch
            from model import Net
            from metrics import evaluate

            def main():
                model = Net()
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
        {   # the eval script scores inline: eval mode and a loss under no_grad, no evaluate() call
            **_QUANTIZED_TRAINING,
            "eval_ckpt.py": """
            import torch
            from model import Net

            if __name__ == "__main__":
                model = Net()
                model.load_state_dict(torch.load("ckpt.pt", weights_only=True))  # expect: RA130
                model.eval()
                x, y = torch.load("val.pt", weights_only=True)
                with torch.no_grad():
                    print(torch.nn.functional.mse_loss(model(x), y).item())
            """,
        },
        {   # torchao QAT in training; a generation script samples from the same model factory's output
            "models.py": """
            import torch

            def create_model(name):
                return torch.nn.Linear(8, 8)
            """,
            "train.py": """
            import torch
            from torchao.quantization import quantize_
            from torchao.quantization.qat import QATConfig
            from models import create_model

            if __name__ == "__main__":
                model = create_model("small")
                quantize_(model, QATConfig(step="prepare"))
                opt = torch.optim.AdamW(model.parameters())
                model(torch.randn(2, 8)).sum().backward()
                opt.step()
            """,
            "generate.py": """
            import torch
            from models import create_model

            def generate(model, prompt):
                return model(prompt)

            if __name__ == "__main__":
                model = create_model("small")
                model.load_state_dict(torch.load("last.pt", weights_only=True))  # expect: RA130
                print(generate(model, torch.zeros(1, 8)))
            """,
        },
        # the factory downloads hub weights first; the run's checkpoint is what the validation loop scores
        {
            "models.py": """
            import torch

            def create_model(name, pretrained=False):
                model = torch.nn.Linear(8, 8)
                if pretrained:
                    model.load_state_dict(torch.load(name + ".pt", weights_only=True))
                return model

            def load_checkpoint(model, path):
                model.load_state_dict(torch.load(path, weights_only=True))
            """,
            "train.py": """
            import torch
            from torch.ao.quantization import prepare_qat
            from models import create_model

            if __name__ == "__main__":
                model = prepare_qat(create_model("small", pretrained=True))
                opt = torch.optim.AdamW(model.parameters())
                model(torch.randn(2, 8)).sum().backward()
                opt.step()
            """,
            "validate.py": """
            import torch
            from models import create_model, load_checkpoint

            def main(args, task):
                model = create_model(args.model, pretrained=True)
                load_checkpoint(model, args.checkpoint)  # expect: RA130
                with torch.no_grad():
                    for batch in task.batches():
                        print(task.valid_step(batch, model))

            if __name__ == "__main__":
                main(*parse())
            """,
        },
    ]
    good = [
        {   # eval mode, then an export: nothing is scored (the same model and training as the inline bad example)
            **_QUANTIZED_TRAINING,
            "export_onnx.py": """
            import torch
            from model import Net

            if __name__ == "__main__":
                model = Net()
                model.load_state_dict(torch.load("ckpt.pt", weights_only=True))
                model.eval()
                torch.onnx.export(model, torch.zeros(1, 4), "model.onnx")
            """,
        },
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
        {   # a monorepo of independent examples: one quantizes its own model, another evaluates an unrelated
            # one (sharing only a tokenizer from the hub); a training recipe validating in its loop is no eval path
            "examples/qat/train_qat.py": """
            import torch
            from torchao.quantization import quantize_
            from torchao.quantization.qat import QATConfig

            class Small(torch.nn.Module):
                pass

            if __name__ == "__main__":
                model = Small()
                quantize_(model, QATConfig(step="prepare"))
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                opt.step()
            """,
            "examples/continual/run.py": """
            import torch
            from transformers import AutoTokenizer

            class Big(torch.nn.Module):
                pass

            def evaluate(model, tok):
                return 0.0

            if __name__ == "__main__":
                tok = AutoTokenizer.from_pretrained("gpt2")
                model = Big()
                model.load_state_dict(torch.load("big.pt", weights_only=True))
                print(evaluate(model, tok))
            """,
            "recipes/finetune.py": """
            import torch

            class Big(torch.nn.Module):
                pass

            def validate(model):
                return 0.0

            if __name__ == "__main__":
                model = Big()
                model.load_state_dict(torch.load("base.pt", weights_only=True))
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                for _ in range(3):
                    opt.step()
                    validate(model)
            """,
        },
        {   # an eval path that quantizes right after loading (GPTQ-style) evaluates the quantized model
            "model.py": """
            import torch

            class Net(torch.nn.Module):
                pass
            """,
            "train.py": """
            import torch
            from model import Net

            if __name__ == "__main__":
                model = Net()
                torch.ao.quantization.prepare_qat(model)
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                opt.step()
            """,
            "eval.py": """
            import torch
            from model import Net

            def opt_sequential(model):
                return torch.ao.quantization.prepare_qat(model)

            def evaluate(model):
                return 0.0

            if __name__ == "__main__":
                model = Net()
                model.load_state_dict(torch.load("ckpt.pt", weights_only=True))
                opt_sequential(model)
                print(evaluate(model))
            """,
        },
    ]

    def check(self, index, config):
        profiles = [_Program.of(index, entry, config) for entry in index.entry_points]
        trained = [p for p in profiles if p.quant and p.trains]
        if not trained:
            return
        for prog in profiles:
            if prog.quant or prog.trains or not prog.loads or not prog.evaluates:
                continue
            partners = [t for t in trained if t.shares_model_with(prog)]
            if not partners:
                continue  # nothing ties this eval path to a quantized training path
            other = min(partners, key=lambda t: (t.entry.path, t.entry.line))
            hook = other.quant[0]
            path, site = prog.load_site(index)
            yield self.finding(
                f"{prog.entry.label} loads a checkpoint and evaluates it (`{prog.evaluates}`) without "
                f"quantization, while {other.entry.label} trains the same model under it (`{hook.event.target}` "
                f"at {hook.where()}): the score is not the quantized model's",
                code_location(path, site.line, site.col),
                {"entry": prog.entry.qualname, "quantized_entry": other.entry.qualname, "hook": hook.where()},
                anchor=site.text,
            )


_FACTORY = re.compile(r"^(create|build|make|get|load|init)_?model$|^(create|build)_\w*model$")
_CHECKPOINT_LOAD = re.compile(r"^(load|restore)|^from_pretrained$", re.IGNORECASE)
_NAMES_CHECKPOINT = re.compile(r"checkpoint|ckpt", re.IGNORECASE)
_CHECKPOINT_WORDS = re.compile(r"(save|load|restore).*(checkpoint|ckpt|ensemble|state_dict|model|weights)", re.IGNORECASE)


class _Program:
    """What an entry point does, for pairing eval paths with quantized training paths."""

    def __init__(self, entry, steps, functions, model_defs, checkpoints, evaluates):
        self.entry = entry
        self.steps = steps
        self.quant = [s for s in steps if s.event.kind == "quant" and _quantizes_a_model(s.event)]
        self.trains = any(s.event.kind == "train" and s.event.detail.get("how") in apis.UPDATES for s in steps)
        self.loads = [s for s in steps if s.event.kind == "load" and not _not_a_checkpoint(s.event.target)]
        self.functions = functions
        self.model_defs = model_defs  # project model classes built / model factories called by its own code
        self.checkpoints = checkpoints  # project modules (or "checkpointer" objects) it saves or loads through
        self.evaluates = evaluates  # the first evaluation or sampling call, "" when none

    @classmethod
    def of(cls, index, entry, config) -> "_Program":
        steps = index.flatten(entry.qualname)
        functions = index.reachable(entry.qualname)
        own = [q for q in functions if index.path_of.get(q) == entry.path] if hasattr(index.path_of, "get") \
            else [q for q in functions if q in index.path_of and index.path_of[q] == entry.path]
        validators = set(getattr(config, "validation_functions", None) or ()) | apis.EVAL_CALLS
        model_defs, checkpoints = set(), set()
        evaluates = next((s.event.target for s in steps if s.event.kind == "validate"), "")
        for qual in sorted(functions):
            fn = index.functions.get(qual)
            if fn is None:
                continue
            for at, ev in enumerate(fn.events):
                if ev.kind != "call":
                    continue
                last = ev.target.rsplit(".", 1)[-1]
                if not evaluates and (last in validators or _scores_inline(fn.events, at)):
                    evaluates = ev.target
                if qual not in own:
                    continue
                callee = index.resolve_name(ev.target)
                built = _class_named(index, ev.target)
                if built and _is_module(index, built):
                    model_defs.add(built)
                elif callee and _FACTORY.match(callee.rsplit(".", 1)[-1]):
                    model_defs.add(callee)
                if callee and _CHECKPOINT_WORDS.search(callee.rsplit(".", 1)[-1]):
                    checkpoints.add(callee.rsplit(".", 1)[0])
                elif not callee and _via_checkpointer(ev) and last in ("save_checkpoint", "load_checkpoint"):
                    checkpoints.add("checkpointer")
            if qual in own:
                for ev in fn.events:
                    if ev.kind == "load" and _via_checkpointer(ev):
                        checkpoints.add("checkpointer")
        return cls(entry, steps, functions, model_defs, checkpoints, evaluates)

    def shares_model_with(self, other: "_Program") -> bool:
        return bool(self.model_defs & other.model_defs) or bool(self.checkpoints & other.checkpoints)

    def load_site(self, index):
        """Where the evaluated checkpoint is loaded: the entry point's own call that names a checkpoint
        (`load_checkpoint(model, args.checkpoint)`), rather than a factory's download of hub weights;
        else the line that leads to the first load."""
        own = [ev for q in self.functions if q in index.path_of and index.path_of[q] == self.entry.path
               for ev in index.functions[q].events
               if _NAMES_CHECKPOINT.search(ev.text) and _CHECKPOINT_LOAD.search(ev.target.rsplit(".", 1)[-1])
               and (ev.kind == "load" or ev.kind == "call" and _loads_weights(index, ev.target))]
        if own:
            return self.entry.path, min(own, key=lambda ev: (ev.line, ev.col))
        return self.site(self.loads[0])

    def site(self, step):
        """The line in the entry point's own file that leads to the load (the load itself when it is there)."""
        frames = step.frames
        mine = [f for f in frames if f[0] == self.entry.path]
        return mine[-1] if mine else frames[0]


_STRONG_QUANT = ("mxfp", "nvfp", "fake_quant", "fakequant", "qat", "quant_hook", "int8", "int4", "fp8", "float8")


def _quantizes_a_model(ev) -> bool:
    """A known quantization API, a configured hook, a hook that calls a fake-quant op, or a call whose name
    says so strongly; a bare "quantize"/"Quantizer" only when it is handed the model (k-means quantizers
    of speech features, vector quantizers, quantization configs do not quantize the network)."""
    if ev.target in apis.QUANT_APIS or ev.detail.get("helper") or ev.detail.get("via"):
        return True
    low = ev.target.rsplit(".", 1)[-1].lower()
    return any(word in low for word in _STRONG_QUANT) or "model" in ev.text.lower()


def _loads_weights(index, target: str) -> bool:
    """A project function that loads a checkpoint somewhere below it (`load_checkpoint(fabric, model, path)`,
    not `load_prompt_style(checkpoint_dir)`)."""
    callee = index.resolve_name(target)
    return callee is not None and any(s.event.kind == "load" for s in index.flatten(callee))


def _via_checkpointer(ev) -> bool:
    """`checkpointer.load_checkpoint()`, whatever type `checkpointer` resolved to (`config.instantiate(...)`)."""
    return "checkpointer" in ev.target.lower() or "checkpointer." in ev.text.lower()


def _not_a_checkpoint(target: str) -> bool:
    return any(word in target for word in apis.NOT_CHECKPOINTS)


def _class_named(index, target: str) -> str | None:
    """The project class a constructor call names (it may define no __init__ of its own)."""
    if target in index.classes:
        return target
    found = index._class_of(target)
    if found:
        return found
    callee = index.resolve_name(target)
    return callee[: -len(".__init__")] if callee and callee.endswith(".__init__") else None


def _is_module(index, cls: str, depth: int = 0) -> bool:
    """A project class deriving (through project classes) from torch.nn.Module."""
    if depth > 8 or cls not in index.classes:
        return False
    for base in index.classes[cls]:
        if base.startswith("torch.nn.") or base.endswith("nn.Module"):
            return True
        inner = base if base in index.classes else index._class_of(base)
        if inner and inner != cls and _is_module(index, inner, depth + 1):
            return True
    return False

from auditor.code.rule_base import ProjectRule
from auditor.code.seeding import entry_location, profile
from auditor.findings import code_location


def _enables_determinism(ev) -> bool:
    return ev.kind == "determinism" and ev.detail.get("value") is True and \
        ev.detail.get("setting") in ("deterministic", "algorithms", "trainer")


class NondeterministicBackend(ProjectRule):
    id = "RA120"
    name = "nondeterministic-backend"
    severity = "warning"
    summary = ("`cudnn.benchmark = True` or `cudnn.deterministic = False` (warning); a seeded program that never "
               "enables deterministic algorithms (info).")
    rationale = (
        "cuDNN's autotuner picks convolution algorithms by timing them, and several of those algorithms "
        "(and many CUDA kernels: scatter_add, index_add, atomics in backward) are nondeterministic: the same "
        "seed then gives different results from run to run. `torch.backends.cudnn.benchmark = True` asks for "
        "exactly that; `torch.use_deterministic_algorithms(True)` or `cudnn.deterministic = True` (or "
        "`transformers.enable_full_determinism`, `Trainer(deterministic=True)`) is what makes a seed mean "
        "something on a GPU."
    )
    incident = "burgers-unseeded-variance.md: 20% spread between runs that were meant to be repeats"
    bad = [
        """
        import torch.backends.cudnn as cudnn
        from torch.backends import cudnn as cd
        import torch as T

        def setup():
            cudnn.benchmark = True  # expect: RA120
            cd.deterministic = False  # expect: RA120
            T.use_deterministic_algorithms(False)  # expect: RA120
        """,
        """
        import torch

        def main():
            torch.manual_seed(0)
            model = torch.nn.Linear(2, 2)
            model(torch.randn(3, 2)).sum().backward()

        if __name__ == "__main__":  # expect: RA120
            main()
        """,
    ]
    good = [
        """
        import torch

        def main():
            torch.manual_seed(0)
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
            model = torch.nn.Linear(2, 2)
            model(torch.randn(3, 2)).sum().backward()

        if __name__ == "__main__":
            main()
        """,
        # a library switch set from the caller's choice is not a hazard by itself
        """
        import torch

        class Trainer:
            def __init__(self, benchmark: bool = False):
                torch.backends.cudnn.benchmark = benchmark
        """,
        # seeds only python's random: no GPU kernels involved
        """
        import random

        if __name__ == "__main__":
            random.seed(0)
            print(random.random())
        """,
        """
        from lightning import Trainer, seed_everything
        import torch

        if __name__ == "__main__":
            seed_everything(0)
            trainer = Trainer(deterministic=True)
            trainer.fit(torch.nn.Linear(2, 2))
        """,
    ]

    def check(self, index, config):
        for path, _, ev in index.events("determinism"):
            setting, value = ev.detail.get("setting"), ev.detail.get("value")
            if setting == "benchmark" and value is True:
                why = "cudnn.benchmark = True lets cuDNN pick kernels by timing, and some are nondeterministic"
            elif setting == "deterministic" and value is False:
                why = "cudnn.deterministic = False allows nondeterministic cuDNN kernels"
            elif setting == "algorithms" and value is False:
                why = "use_deterministic_algorithms(False) allows nondeterministic kernels"
            elif setting == "trainer" and value is False:
                why = "deterministic=False allows nondeterministic kernels"
            else:
                continue
            yield self.finding(f"{why}: the same seed can give different results on a GPU",
                               code_location(path, ev.line, ev.col), {"setting": setting}, anchor=ev.text)
        for entry in index.entry_points:
            prof = profile(index, entry)
            if not prof.seeds or not ({"torch", "cuda"} & prof.used or prof.trains):
                continue
            if any(_enables_determinism(s.event) for s in prof.steps):
                continue
            if any(s.event.kind == "determinism" and s.event.detail.get("value") is not True for s in prof.steps):
                continue  # set, to a value we cannot read or already reported above
            yield self.finding(
                f"{entry.label} seeds its RNGs but never enables deterministic algorithms "
                "(torch.use_deterministic_algorithms(True) or torch.backends.cudnn.deterministic = True): "
                "GPU results can still differ between runs with the same seed",
                entry_location(entry), {"entry": entry.qualname}, severity="info", anchor=entry.text)

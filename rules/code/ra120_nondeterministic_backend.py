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
    incident = (
        "A project's repeats of one configuration spread by 20%, partly from non-deterministic GPU kernels "
        'that no setting pinned down. Differences smaller than that spread were reported as improvements.'
    )
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

    # -- fix: deterministic kernels (unsafe: slower, and ops without a deterministic kernel then raise) -----
    fixes = [
        ("""
         import torch

         def setup():
             torch.backends.cudnn.benchmark = True  # autotune
             torch.backends.cudnn.deterministic = False
         """, """
         import torch

         def setup():
             torch.backends.cudnn.benchmark = False  # autotune
             torch.backends.cudnn.deterministic = True
         """),
        ("""
         import torch as T
         T.use_deterministic_algorithms(False)
         """, """
         import torch as T
         T.use_deterministic_algorithms(True)
         """),
        ("""
         import torch

         def main():
             \"\"\"Train.\"\"\"
             torch.manual_seed(0)
             model = torch.nn.Linear(2, 2)
             model(torch.randn(3, 2)).sum().backward()

         if __name__ == "__main__":
             main()
         """, """
         import torch

         def main():
             \"\"\"Train.\"\"\"
             torch.manual_seed(0)
             model = torch.nn.Linear(2, 2)
             model(torch.randn(3, 2)).sum().backward()

         if __name__ == "__main__":
             torch.backends.cudnn.benchmark = False
             torch.backends.cudnn.deterministic = True
             main()
         """),
    ]

    def fix(self, finding, source):
        import libcst as cst

        from auditor.code.fix import CannotFix, Edit, last_name
        from auditor.code.fix_edits import insert_at_top

        line, col = finding.location["line"], finding.location.get("col")
        setting = finding.evidence.get("setting")
        if setting is None:  # the entry point never asks for deterministic kernels: ask at its top
            torch, imports = source.name_for("torch")
            code = f"{torch}.backends.cudnn.benchmark = False\n{torch}.backends.cudnn.deterministic = True\n"
            return Edit(insert_at_top(source, line, code), safe=False, imports=imports)
        wanted = {"benchmark": "False"}.get(setting, "True")
        if setting in ("benchmark", "deterministic"):
            values = [a.value for a in source.at(line, cst.Assign, col)
                      if any(last_name(t.target) == setting for t in a.targets)]
        else:
            calls = [c for c in source.at(line, cst.Call, col)]
            values = [a.value for c in calls for a in c.args
                      if (setting == "algorithms" and last_name(c.func) == "use_deterministic_algorithms" and a.keyword is None)
                      or (setting == "trainer" and a.keyword is not None and a.keyword.value == "deterministic")][:1]
        values = [v for v in values if isinstance(v, cst.Name) and v.value in ("True", "False")]
        if len(values) != 1:
            raise CannotFix(f"no single literal {setting} setting on its line")
        return Edit(source.replace(values[0], cst.Name(wanted)), safe=False)

from auditor.code.project_index import is_test_file
from auditor.code.rule_base import ProjectRule
from auditor.code.seeding import entry_location, profile
from auditor.findings import code_location


def _enables_determinism(ev) -> bool:
    return ev.kind == "determinism" and ev.detail.get("value") is True and \
        ev.detail.get("setting") in ("deterministic", "algorithms", "trainer")


def _reported_or_unknown(ev) -> bool:
    """A switch the info need not repeat: set to a value the scan cannot read, or turned off (a warning above).
    `cudnn.benchmark = False` is neither: it stops the autotuner, not the nondeterministic kernels."""
    value = ev.detail.get("value")
    return value == "?" or (value is False and ev.detail.get("setting") != "benchmark")


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
        "something on a GPU. Setting a switch back to torch's default (`deterministic = False`, "
        "`use_deterministic_algorithms(False)`) under a condition, in a `finally`, in a function that disables, "
        "restores or resets, or in a test is not reported: it cannot make a program less deterministic than "
        "it was before the switch was turned on. Settings are reported only where a program that trains "
        "(takes optimizer steps) runs them, and not in a function that sets the mode both ways (the caller "
        "chooses): a benchmark, an inference or an export script has no training result to repeat."
    )
    incident = (
        "A project's repeats of one configuration spread by 20%, partly from non-deterministic GPU kernels "
        'that no setting pinned down. Differences smaller than that spread were reported as improvements.'
    )
    bad = [
        # benchmark off is not determinism on: the autotuner stops, nondeterministic kernels stay (info)
        """
        import torch

        if __name__ == "__main__":  # expect: RA120
            torch.manual_seed(0)
            torch.backends.cudnn.benchmark = False
            model = torch.nn.Linear(2, 2)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model(torch.randn(3, 2)).sum().backward()
            opt.step()
        """,
        """
        import torch.backends.cudnn as cudnn
        from torch.backends import cudnn as cd
        import torch as T

        def setup():
            cudnn.benchmark = True  # expect: RA120
            cd.deterministic = False  # expect: RA120
            T.use_deterministic_algorithms(False)  # expect: RA120

        def main():
            setup()
            model = T.nn.Linear(2, 2)
            opt = T.optim.SGD(model.parameters(), lr=0.1)
            model(T.randn(3, 2)).sum().backward()
            opt.step()

        if __name__ == "__main__":
            main()
        """,
        """
        import torch

        def main():
            torch.manual_seed(0)
            model = torch.nn.Linear(2, 2)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model(torch.randn(3, 2)).sum().backward()
            opt.step()

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
        # torch's default put back: in a finally, a restore helper, a user-chosen debug mode, a test teardown
        """
        import contextlib
        import torch

        @contextlib.contextmanager
        def deterministic():
            was = torch.are_deterministic_algorithms_enabled()
            torch.use_deterministic_algorithms(True)
            try:
                yield
            finally:
                torch.use_deterministic_algorithms(was)
                torch.backends.cudnn.deterministic = False

        def disable_full_determinism():
            torch.use_deterministic_algorithms(False)

        def set_debug_mode(mode):
            if mode == "default":
                torch.use_deterministic_algorithms(False)
                torch.backends.cudnn.deterministic = False
        """,
        # a throughput benchmark trains nothing; a seed helper lets its caller pick the mode
        """
        import torch

        def set_debug_mode(mode):
            if mode == 0:
                torch.backends.cudnn.benchmark = True
            else:
                torch.backends.cudnn.deterministic = True
                torch.backends.cudnn.benchmark = False

        if __name__ == "__main__":
            torch.backends.cudnn.benchmark = True
            x = torch.randn(64, 3, 224, 224)
            print(torch.nn.functional.conv2d(x, torch.randn(8, 3, 3, 3)).shape)
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

    def check(self, index, _config):
        switches = _mode_switches(index)
        trainers = _TrainingReach(index)
        for path, fn, ev in index.events("determinism"):
            setting, value = ev.detail.get("setting"), ev.detail.get("value")
            if value is False and (ev.detail.get("restores") or is_test_file(path)):
                continue  # torch's default put back (a finally, a teardown, a chosen branch, a test): nothing lost
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
            if fn.qualname in switches or not trainers.reaches(fn.qualname):
                continue  # a mode the caller picks (the other branch is deterministic), or no program trains here
            yield self.finding(f"{why}: the same seed can give different results on a GPU",
                               code_location(path, ev.line, ev.col), {"setting": setting}, anchor=ev.text)
        for entry in index.entry_points:
            prof = profile(index, entry)
            if not prof.seeds or not ({"torch", "cuda"} & prof.used or prof.trains):
                continue
            if any(_enables_determinism(s.event) for s in prof.steps):
                continue
            if any(s.event.kind == "determinism" and _reported_or_unknown(s.event) for s in prof.steps):
                continue
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

         def main():
             setup()
             model = torch.nn.Linear(2, 2)
             opt = torch.optim.SGD(model.parameters(), lr=0.1)
             model(torch.randn(3, 2)).sum().backward()
             opt.step()

         if __name__ == "__main__":
             main()
         """, """
         import torch

         def setup():
             torch.backends.cudnn.benchmark = False  # autotune
             torch.backends.cudnn.deterministic = True

         def main():
             setup()
             model = torch.nn.Linear(2, 2)
             opt = torch.optim.SGD(model.parameters(), lr=0.1)
             model(torch.randn(3, 2)).sum().backward()
             opt.step()

         if __name__ == "__main__":
             main()
         """),
        ("""
         import torch as T
         T.use_deterministic_algorithms(False)
         model = T.nn.Linear(2, 2)
         opt = T.optim.SGD(model.parameters(), lr=0.1)
         model(T.randn(3, 2)).sum().backward()
         opt.step()
         """, """
         import torch as T
         T.use_deterministic_algorithms(True)
         model = T.nn.Linear(2, 2)
         opt = T.optim.SGD(model.parameters(), lr=0.1)
         model(T.randn(3, 2)).sum().backward()
         opt.step()
         """),
        ("""
         import torch

         def main():
             \"\"\"Train.\"\"\"
             torch.manual_seed(0)
             model = torch.nn.Linear(2, 2)
             opt = torch.optim.SGD(model.parameters(), lr=0.1)
             model(torch.randn(3, 2)).sum().backward()
             opt.step()

         if __name__ == "__main__":
             main()
         """, """
         import torch

         def main():
             \"\"\"Train.\"\"\"
             torch.manual_seed(0)
             model = torch.nn.Linear(2, 2)
             opt = torch.optim.SGD(model.parameters(), lr=0.1)
             model(torch.randn(3, 2)).sum().backward()
             opt.step()

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

        line, col = finding.location.line, finding.location.col
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

def _mode_switches(index) -> set[str]:
    """Functions that set determinism both ways (`if mode == 0: benchmark = True else: deterministic = True`):
    the caller chooses, and the setting is not a hazard by itself."""
    out = set()
    for _, fn, ev in index.events("determinism"):
        if _enables_determinism(ev) or (ev.detail.get("setting") == "benchmark" and ev.detail.get("value") is False):
            out.add(fn.qualname)
    return out


class _TrainingReach:
    """Whether some entry point that trains (takes optimizer steps) runs a function: a benchmark, an
    inference or export script that turns cudnn.benchmark on loses no result it would otherwise repeat."""

    def __init__(self, index):
        self.index = index
        self._reach = None

    def reaches(self, qualname: str) -> bool:
        if self._reach is None:
            self._reach = set()
            for entry in self.index.entry_points:
                if profile(self.index, entry).trains:
                    self._reach |= self.index.reachable(entry.qualname)
        return qualname in self._reach

from auditor.code.rule_base import ProjectRule
from auditor.code.seeding import describe, entry_location, profile, rng_list


class SeedPartial(ProjectRule):
    id = "RA111"
    name = "seed-partial"
    severity = "warning"
    summary = "Some RNGs in use are seeded, others (python, numpy, torch, CUDA) are used but never seeded."
    rationale = (
        "Each library keeps its own generator: `torch.manual_seed` does not seed numpy or python's "
        "`random`, and `np.random.seed` does not seed torch. A program that seeds one and draws from "
        "another still varies from run to run, while looking seeded. (`torch.manual_seed` seeds CUDA too; "
        "a `np.random.default_rng(seed)` generator counts as seeded numpy.)"
    )
    params = {"fix_seed": 0}  # the seed --unsafe-fixes writes when the entry point has no seed argument
    incident = (
        "A project seeded Python's `random` but not NumPy and torch, so runs meant as repeats still drew "
        'different weights and batches. The spread that seeding was supposed to remove stayed, and it was '
        'blamed on the model.'
    )
    bad = [
        """
        import random
        import torch

        def main():
            torch.manual_seed(0)
            order = list(range(10))
            random.shuffle(order)
            model = torch.nn.Linear(2, 2)

        if __name__ == "__main__":  # expect: RA111
            main()
        """,
        {
            "run.py": """
            import numpy as np
            from helpers import init

            def cli():  # expect: RA111
                import argparse
                args = argparse.ArgumentParser().parse_args()
                init()
                np.random.shuffle(args.items)
            """,
            "helpers.py": """
            import torch

            def init():
                torch.cuda.manual_seed_all(0)
                return torch.randn(3)
            """,
        },
        # the project is the library whose seed helper the auditor knows (timm's `random_seed`): its own body,
        # which no longer seeds python's `random`, decides
        {
            "train.py": """
            import random
            from timm.utils import random_seed

            def main():
                random_seed(0)
                crops = [random.random() for _ in range(4)]
                print(crops)

            if __name__ == "__main__":  # expect: RA111
                main()
            """,
            "timm/utils/__init__.py": """
            from .random import random_seed
            """,
            "timm/utils/random.py": """
            import numpy as np
            import torch

            def random_seed(seed=42, rank=0):
                torch.manual_seed(seed + rank)
                np.random.seed(seed + rank)
            """,
        },
    ]
    good = [
        """
        import numpy as np
        import torch

        if __name__ == "__main__":
            torch.manual_seed(0)
            rng = np.random.default_rng(0)
            x = rng.normal(size=3)
            y = torch.randn(3, device="cuda")
        """,
        {
            "train.py": """
            import torch as T
            from torch import manual_seed as s
            import numpy as np
            import utils

            def main():
                s(0)
                utils.seed_others(0)
                np.random.shuffle([1, 2, 3])

            if __name__ == "__main__":
                main()
            """,
            "utils.py": """
            import random
            import numpy

            def seed_others(seed):
                random.seed(seed)
                numpy.random.seed(seed)
            """,
        },
        """
        import random
        import torch
        from accelerate.utils import set_seed

        if __name__ == "__main__":
            set_seed(0)
            random.shuffle([1, 2])
            torch.randn(2)
        """,
    ]

    def check(self, index, _config):
        for entry in index.entry_points:
            prof = profile(index, entry)
            if not prof.seeds:
                continue
            missing = prof.used - prof.seeded
            if not missing:
                continue
            first = prof.step(min(prof.uses[r] for r in missing))
            yield self.finding(
                f"{entry.label} seeds {rng_list(prof.seeded)} but not {rng_list(missing)}, which it uses "
                f"(first at {describe(first)})",
                entry_location(entry),
                {"entry": entry.qualname, "seeded": sorted(prof.seeded), "unseeded": sorted(missing),
                 "first_use": first.where()},
                anchor=entry.text,
            )

    # -- fix: seed the RNGs left out, at the top of the entry point (unsafe: the program's draws change) ------
    fixes = [
        ("""
         import random
         import torch

         def main():
             torch.manual_seed(0)
             order = list(range(10))
             random.shuffle(order)
             model = torch.nn.Linear(2, 2)

         if __name__ == "__main__":
             main()
         """, """
         import random
         import torch

         def main():
             torch.manual_seed(0)
             order = list(range(10))
             random.shuffle(order)
             model = torch.nn.Linear(2, 2)

         if __name__ == "__main__":
             random.seed(0)
             main()
         """),
    ]

    def fix(self, finding, source):
        from auditor.code.fix_edits import seed_entry_point

        return seed_entry_point(source, finding.location.line, finding.evidence.get("unseeded", ()),
                                self.options["fix_seed"])

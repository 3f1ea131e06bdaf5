from auditor.code.rule_base import ProjectRule
from auditor.code.seeding import describe, entry_location, profile, rng_list


class SeedUnset(ProjectRule):
    id = "RA110"
    name = "seed-unset"
    severity = "error"
    summary = "An entry point uses randomness (data shuffling, splits, random draws, weight init it trains) and nothing seeds any RNG."
    rationale = (
        "Without a seed every run draws a different initialisation and data order, so two runs of the same "
        "code differ by chance alone and a difference between conditions cannot be told apart from noise. "
        "Seeding is followed across files: a `set_seed()` helper in another module counts where it is called."
    )
    params = {"fix_seed": 0}  # the seed --unsafe-fixes writes when the entry point has no seed argument
    incident = (
        'A physics-ML project seeded nothing at all, and identical configurations gave results 20% apart. No '
        'claimed improvement could be told apart from the noise, and none of the runs could be repeated.'
    )
    bad = [
        """
        import torch
        import numpy as np

        def main():
            model = torch.nn.Linear(4, 1)
            idx = np.random.permutation(100)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            loss = model(torch.randn(8, 4)).pow(2).mean()
            loss.backward()
            opt.step()

        if __name__ == "__main__":  # expect: RA110
            main()
        """,
        {
            "train.py": """
            import hydra
            from data import make_loader

            @hydra.main(config_path="conf", config_name="train")
            def train(cfg):  # expect: RA110
                for batch in make_loader(cfg):
                    pass
            """,
            "data.py": """
            from torch.utils.data import DataLoader

            def make_loader(cfg):
                return DataLoader(range(10), batch_size=2, shuffle=True)
            """,
        },
    ]
    good = [
        {   # seeding in a helper in another module counts at the entry point that calls it
            "train.py": """
            import torch as T
            import numpy as np
            from utils.seed import seed_rest

            def main():
                T.manual_seed(0)
                seed_rest(0)
                x = np.random.rand(3)
                model = T.nn.Linear(3, 1)
                model(T.randn(2, 3)).sum().backward()

            if __name__ == "__main__":
                main()
            """,
            "utils/__init__.py": "",
            "utils/seed.py": """
            import random
            import numpy as np

            def seed_rest(seed):
                random.seed(seed)
                np.random.seed(seed)
            """,
        },
        """
        from lightning import seed_everything
        import torch

        if __name__ == "__main__":
            seed_everything(1)
            print(torch.rand(3))
        """,
        # a conversion script builds a model only to load weights into it: initial weights never matter
        """
        import torch
        from torch import nn

        if __name__ == "__main__":
            model = nn.Linear(4, 4)
            model.load_state_dict(torch.load("w.pt", weights_only=True))
            torch.save(model.state_dict(), "out.pt")
        """,
        # library code: no entry point
        """
        import random

        def augment(x):
            return x if random.random() < 0.5 else -x
        """,
        # the project's own seed helper, found by its configured name even when its body is elsewhere
        """
        import numpy as np
        from mylab.utils import seed_all

        if __name__ == "__main__":
            seed_all(3)
            print(np.random.rand())
        """,
    ]

    def check(self, index, config):
        for entry in index.entry_points:
            prof = profile(index, entry)
            if not prof.uses or prof.seeds:
                continue
            first = prof.step(min(prof.uses.values()))
            yield self.finding(
                f"{entry.label} uses randomness ({rng_list(prof.used)}; first at {describe(first)}) "
                "and nothing seeds any RNG: call a seed helper (e.g. torch.manual_seed, random.seed, "
                "np.random.seed, or transformers.set_seed / lightning.seed_everything) before it",
                entry_location(entry),
                {"entry": entry.qualname, "used": sorted(prof.used), "first_use": first.where()},
                anchor=entry.text,
            )

    # -- fix: seed every RNG the entry point uses, at its top (unsafe: the program's draws change) ----------
    fixes = [
        ("""
         import numpy as np
         import torch

         def main(seed: int = 1, steps: int = 10):
             \"\"\"Train.\"\"\"
             idx = np.random.permutation(100)
             model = torch.nn.Linear(4, 1)
             opt = torch.optim.SGD(model.parameters(), lr=0.1)
             model(torch.randn(8, 4)).sum().backward()
             opt.step()

         if __name__ == "__main__":
             main()
         """, """
         import numpy as np
         import torch

         def main(seed: int = 1, steps: int = 10):
             \"\"\"Train.\"\"\"
             np.random.seed(seed)
             torch.manual_seed(seed)
             idx = np.random.permutation(100)
             model = torch.nn.Linear(4, 1)
             opt = torch.optim.SGD(model.parameters(), lr=0.1)
             model(torch.randn(8, 4)).sum().backward()
             opt.step()

         if __name__ == "__main__":
             main()
         """),
        ("""
         import hydra
         from torch.utils.data import DataLoader

         @hydra.main(config_path="conf", config_name="train")
         def train(cfg):
             # the data
             loader = DataLoader(range(cfg.n), batch_size=2, shuffle=True)
             print(cfg.run.seed)
         """, """
         import hydra
         from torch.utils.data import DataLoader
         import torch

         @hydra.main(config_path="conf", config_name="train")
         def train(cfg):
             torch.manual_seed(cfg.run.seed)
             # the data
             loader = DataLoader(range(cfg.n), batch_size=2, shuffle=True)
             print(cfg.run.seed)
         """),
    ]

    def fix(self, finding, source):
        from auditor.code.fix_edits import seed_entry_point

        return seed_entry_point(source, finding.location["line"], finding.evidence.get("used", ()),
                                self.options["fix_seed"])

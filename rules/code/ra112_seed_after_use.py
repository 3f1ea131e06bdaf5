from auditor.code.rule_base import ProjectRule
from auditor.code.seeding import describe, profile, rng_list
from auditor.findings import code_location


class SeedAfterUse(ProjectRule):
    id = "RA112"
    name = "seed-after-use"
    severity = "warning"
    summary = "Seeding happens after randomness was already consumed (model init, data split, loader) on the entry point's path."
    rationale = (
        "Whatever drew random numbers before the seed (the model's initial weights, a train/test split, "
        "a shuffled index) is different in every run: the seed arrives too late to fix it. The order is "
        "followed into helpers across files, so a helper that builds the model before `set_seed()` is "
        "called is caught too."
    )
    incident = (
        "A project recorded a seed in every run's config, but the model had already been built from the "
        'unseeded RNG by the time it was set. The runs looked seeded on paper and still could not be '
        'repeated.'
    )
    bad = [
        """
        import torch
        from torch import nn

        def main():
            model = nn.Linear(8, 2)
            torch.manual_seed(0)  # expect: RA112
            opt = torch.optim.Adam(model.parameters())
            model(torch.randn(4, 8)).sum().backward()
            opt.step()

        if __name__ == "__main__":
            main()
        """,
        {
            "train.py": """
            from data import split
            from seed import set_seed

            def main():
                train, test = split(list(range(100)))
                set_seed(0)  # expect: RA112

            if __name__ == "__main__":
                main()
            """,
            "data.py": """
            from sklearn.model_selection import train_test_split

            def split(items):
                return train_test_split(items, test_size=0.2)
            """,
            "seed.py": """
            import random, numpy as np, torch

            def set_seed(s):
                random.seed(s); np.random.seed(s); torch.manual_seed(s)
            """,
        },        # a model factory that looks its builder up in a registry: what it builds is trained, so it drew the
        # initial weights, seen or not
        {
            "train.py": """
            import torch
            from factory import create_model

            def main(args):
                model = create_model(args.arch)
                model = model.to("cpu")
                torch.manual_seed(args.seed)  # expect: RA112
                optimizer = torch.optim.AdamW(model.parameters())
                model(torch.randn(2, 4)).sum().backward()
                optimizer.step()

            if __name__ == "__main__":
                main(parse())
            """,
            "factory.py": """
            _REGISTRY = {}

            def create_model(name):
                return _REGISTRY[name]()
            """,
        },
        # the class is chosen in branches and called through a variable
        """
        import torch

        class Small(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(4, 1)

        class Large(Small):
            pass

        def main(big):
            if big:
                model_class = Large
            else:
                model_class = Small
            model = model_class()
            torch.manual_seed(0)  # expect: RA112
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model.fc(torch.randn(2, 4)).sum().backward()
            opt.step()

        if __name__ == "__main__":
            main(False)
        """,
    ]
    good = [
        """
        import torch
        from torch import nn

        def main():
            torch.manual_seed(0)
            model = nn.Linear(8, 2)
            model(torch.randn(4, 8)).sum().backward()

        if __name__ == "__main__":
            main()
        """,
        # a split with its own random_state does not touch the global RNG
        """
        import numpy as np
        from sklearn.model_selection import train_test_split

        if __name__ == "__main__":
            a, b = train_test_split(list(range(10)), random_state=0)
            np.random.seed(0)
            print(np.random.rand())
        """,
        # a pretrained model, wrapped before the seed: loading and wrapping draw no initial weights
        """
        import torch
        from transformers import AutoModelForCausalLM

        def main():
            model = AutoModelForCausalLM.from_pretrained("gpt2")
            model = torch.nn.parallel.DistributedDataParallel(model)
            torch.manual_seed(0)
            optimizer = torch.optim.AdamW(model.parameters())
            model(torch.randint(0, 100, (2, 8))).logits.sum().backward()
            optimizer.step()

        if __name__ == "__main__":
            main()
        """,
        # re-seeding later is fine when the first seed came before any use
        """
        import torch

        if __name__ == "__main__":
            torch.manual_seed(0)
            x = torch.rand(3)
            torch.manual_seed(1)
            y = torch.rand(3)
        """,
    ]

    def check(self, index, _config):
        for entry in index.entry_points:
            prof = profile(index, entry)
            late: dict[int, list[str]] = {}
            for rng, seed_at in prof.seeds.items():
                used_at = prof.early.get(rng)  # a DataLoader draws its order when iterated, not when built
                if used_at is not None and used_at < seed_at:
                    late.setdefault(seed_at, []).append(rng)
            for seed_at, rngs in sorted(late.items()):
                seed = prof.step(seed_at)
                first = prof.step(min(prof.early[r] for r in rngs))
                path, site = seed.site_apart_from(first)
                via = "" if site is seed.event else f" (through {seed.where()})"
                yield self.finding(
                    f"{rng_list(rngs)} seeded here{via} only after it was already used at {describe(first)}: "
                    "what was drawn before the seed differs in every run; seed first",
                    code_location(path, site.line, site.col),
                    {"entry": entry.qualname, "rngs": sorted(rngs), "first_use": first.where()},
                    anchor=site.text,
                )

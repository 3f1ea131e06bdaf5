from auditor.code.rule_base import ProjectRule
from auditor.code.seeding import describe, entry_location, profile, rng_list


# An optimizer factory that also makes something else: the model it is handed is the one trained.
_OPTIMIZER_HELPER = {
    "helpers.py": """
    import torch

    def init_optimizer_and_grad_accumulator(model, lr):
        return torch.optim.SGD(model.parameters(), lr=lr), None
    """,
}


class SeedUnset(ProjectRule):
    id = "RA110"
    name = "seed-unset"
    severity = "error"
    summary = ("An entry point's randomness reaches its result (a data split or sample, or weights, data order "
               "and inputs of a model it trains) and nothing seeds any RNG.")
    rationale = (
        "Without a seed every run draws a different initialisation and data order, so two runs of the same "
        "code differ by chance alone and a difference between conditions cannot be told apart from noise. "
        "Seeding is followed across files: a `set_seed()` helper in another module counts where it is called, "
        "and so do the ecosystem's seeding APIs (transformers/accelerate `set_seed`, `seed_everything`, "
        "`colossalai.launch_from_torch`, torchtune, composer, detectron2 and timm helpers) and the project's "
        "configured `seed_helpers`. A project helper with such a name is read: one that seeds through calls the "
        "scan cannot follow is taken at its name, one whose body calls nothing unknown and seeds nothing (a "
        "gutted `set_seed`, a `pass`) seeds nothing. A function handed to `torch.multiprocessing.spawn`, `Process(target=...)` "
        "or a launcher is followed as the program's body. Randomness counts only where it can change a result: "
        "python and numpy draws, data splits and samples always; random initial weights, random tensors and a "
        "shuffling DataLoader only when the program trains (an optimizer step), so benchmarks on random "
        "inputs, export and tracing inputs, shape smoke tests, demos and conversion scripts are not reported. "
        "Seeding a private generator (`torch.Generator().manual_seed`, `np.random.default_rng(seed)`) seeds "
        "only that generator, not the process."
    )
    params = {"fix_seed": 0}  # the seed --unsafe-fixes writes when the entry point has no seed argument
    incident = (
        'A physics-ML project seeded nothing at all, and identical configurations gave results 20% apart. No '
        'claimed improvement could be told apart from the noise, and none of the runs could be repeated.'
    )
    bad = [
        # the project's own set_seed, its seeding taken out: the name alone seeds nothing
        {
            "train.py": """
            import argparse
            import torch
            from utils import set_seed

            def main():
                args = argparse.ArgumentParser().parse_args()
                set_seed(0)
                model = torch.nn.Linear(4, 1)
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                model(torch.randn(8, 4)).sum().backward()
                opt.step()

            if __name__ == "__main__":  # expect: RA110
                main()
            """,
            "utils.py": """
            import torch

            def set_seed(seed):
                \"\"\"Seed every RNG we use.\"\"\"
                torch.backends.cudnn.deterministic = True
            """,
        },
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
            import torch
            from data import make_loader, build

            @hydra.main(config_path="conf", config_name="train")
            def train(cfg):  # expect: RA110
                model = build()
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                for batch in make_loader(cfg):
                    model(batch).sum().backward()
                    opt.step()
            """,
            "data.py": """
            from torch.utils.data import DataLoader

            def make_loader(cfg):
                return DataLoader(range(10), batch_size=2, shuffle=True)

            def build():
                import torch
                return torch.nn.Linear(1, 1)
            """,
        },
        # the training function is started by torch.multiprocessing.spawn: it is the program's body
        """
        import torch
        import torch.multiprocessing as mp

        def worker(rank, world_size):
            model = torch.nn.Linear(4, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model(torch.randn(8, 4)).sum().backward()
            opt.step()

        if __name__ == "__main__":  # expect: RA110
            mp.spawn(worker, args=(2,), nprocs=2)
        """,
        # seeding private generators leaves the process's RNGs (model init here) unseeded
        """
        import numpy as np
        import torch

        def main():
            g = torch.Generator()
            g.manual_seed(0)
            rng = np.random.default_rng(0)
            model = torch.nn.Linear(4, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model(torch.randn(8, 4, generator=g)).pow(2).mean().backward()
            opt.step()

        if __name__ == "__main__":  # expect: RA110
            main()
        """,
        # no training, but the split it writes is drawn at random
        """
        import random

        if __name__ == "__main__":  # expect: RA110
            docs = open("all.txt").read().split("\\n\\n")
            valid = set(random.sample(range(len(docs)), 100))
            with open("valid.txt", "w") as out:
                out.write("\\n\\n".join(d for i, d in enumerate(docs) if i in valid))
        """,        # a table of subcommands handed to a CLI: each one is a program of its own
        {
            "cli.py": """
            from jsonargparse import CLI
            from finetune import setup as finetune_fn
            from chat import main as chat_fn

            COMMANDS = {"finetune": finetune_fn, "chat": chat_fn}

            if __name__ == "__main__":
                CLI(COMMANDS)
            """,
            "chat.py": """
            import torch

            def main(prompt: str):
                torch.manual_seed(0)
                print(prompt)
            """,
            "finetune.py": """
            import torch

            def setup(lr: float = 0.1):  # expect: RA110
                model = torch.nn.Linear(4, 1)
                opt = torch.optim.SGD(model.parameters(), lr=lr)
                model(torch.randn(8, 4)).sum().backward()
                opt.step()
            """,
        },
        # a seed that is put back (numpy_seed) and a fixed seed for validation only leave training unseeded
        """
        import contextlib
        import numpy as np
        import torch

        @contextlib.contextmanager
        def numpy_seed(seed):
            state = np.random.get_state()
            np.random.seed(seed)
            try:
                yield
            finally:
                np.random.set_state(state)

        def validate(model):
            torch.manual_seed(1234)
            return model(torch.randn(2, 4)).mean()

        def main():
            with numpy_seed(0):
                order = np.random.permutation(10)
            model = torch.nn.Linear(4, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model(torch.randn(8, 4)).sum().backward()
            opt.step()
            validate(model)

        if __name__ == "__main__":  # expect: RA110
            main()
        """,
        # the model comes from a registry and is trained by a helper that builds the optimizer
        {
            "train.py": """
            from registry import build_model
            from solver import build_optimizer

            def do_train(cfg, model):
                optimizer = build_optimizer(cfg, model)
                for batch in cfg.data:
                    model(batch).sum().backward()
                    optimizer.step()

            def main(cfg):
                model = build_model(cfg)
                do_train(cfg, model)

            if __name__ == "__main__":  # expect: RA110
                main(load())
            """,
            "registry.py": """
            ARCHS = {}

            def build_model(cfg):
                return ARCHS[cfg.arch](cfg)
            """,
            "solver.py": """
            import torch

            def build_optimizer(cfg, model):
                return torch.optim.SGD(model.parameters(), lr=cfg.lr)
            """,
        },
        # nanotron: the trainer's __init__ builds the model through an opaque factory and hands it to a
        # project helper that makes the optimizer (`init_optimizer_and_grad_accumulator(model=self.model)`)
        {
            "run_train.py": """
            from trainer import Trainer

            if __name__ == "__main__":  # expect: RA110
                trainer = Trainer("config.yaml")
                trainer.train()
            """,
            "trainer.py": """
            import torch
            from modelzoo import build
            from helpers import init_optimizer_and_grad_accumulator

            class Trainer:
                def __init__(self, config_file):
                    self.config_file = config_file
                    self.model = self.init_model()
                    self.optimizer, self.accumulator = init_optimizer_and_grad_accumulator(model=self.model, lr=0.1)

                def init_model(self):
                    return build(self.config_file)

                def train(self):
                    for _ in range(10):
                        self.model(torch.ones(2, 4)).sum().backward()
                        self.optimizer.step()
            """,
            **_OPTIMIZER_HELPER,
        },
    ]
    good = [
        # the project's set_seed seeds through a library call the scan cannot read: taken at its name
        {
            "train.py": """
            import torch
            from utils import set_seed

            if __name__ == "__main__":
                set_seed(0)
                model = torch.nn.Linear(4, 1)
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                model(torch.randn(8, 4)).sum().backward()
                opt.step()
            """,
            "utils.py": """
            import labrng

            def set_seed(seed):
                labrng.init_all(seed)
            """,
        },
        # the same trainer, seeded before it builds anything
        {
            "run_train.py": """
            from trainer import Trainer

            if __name__ == "__main__":
                trainer = Trainer("config.yaml", seed=0)
                trainer.train()
            """,
            "trainer.py": """
            import torch
            from modelzoo import build
            from helpers import init_optimizer_and_grad_accumulator

            class Trainer:
                def __init__(self, config_file, seed):
                    torch.manual_seed(seed)
                    self.config_file = config_file
                    self.model = build(config_file)
                    self.optimizer, self.accumulator = init_optimizer_and_grad_accumulator(model=self.model, lr=0.1)

                def train(self):
                    for _ in range(10):
                        self.model(torch.ones(2, 4)).sum().backward()
                        self.optimizer.step()
            """,
            **_OPTIMIZER_HELPER,
        },
        # the only draw sits under `if sample_pct < 1.0`, and the program passes sample_pct=1.0 (through a helper)
        {
            "dump.py": """
            from features import get_features

            if __name__ == "__main__":
                feats = get_features("manifest.tsv", sample_pct=1.0)
                print(len(feats))
            """,
            "features.py": """
            import random

            def get_features(manifest, sample_pct):
                return list(get_feature_iterator(manifest, sample_pct=sample_pct))

            def get_feature_iterator(manifest, sample_pct):
                files = open(manifest).read().split()
                if sample_pct < 1.0:
                    files = random.sample(files, int(sample_pct * len(files)))
                return files
            """,
        },
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
        # a timing benchmark: random inputs, no training; the timings do not depend on the values
        """
        import time
        import torch

        if __name__ == "__main__":
            a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
            t0 = time.perf_counter()
            torch.mm(a, b)
            print(time.perf_counter() - t0)
        """,
        # ONNX export and a shape smoke test: dummy inputs, a model whose weights are loaded or irrelevant
        """
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 2)

        if __name__ == "__main__":
            net = Net()
            net.load_state_dict(convert(torch.load("orig.ckpt", weights_only=True)))
            torch.onnx.export(net, torch.randn(1, 8), "net.onnx")
            print(net.fc(torch.randn(3, 8)).size())
        """,
        # a third-party launcher seeds (colossalai: seed= defaults to 1024)
        """
        import colossalai
        import torch

        def main(args):
            colossalai.launch_from_torch(config={}, seed=args.seed)
            model = torch.nn.Linear(4, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model(torch.randn(8, 4)).sum().backward()
            opt.step()

        if __name__ == "__main__":
            main(None)
        """,
        # the __main__ block of a library module the project imports: a preview, not an experiment
        {
            "colormap.py": """
            import numpy as np

            def colormap():
                return np.arange(30).reshape(10, 3)

            if __name__ == "__main__":
                canvas = np.random.rand(64, 64, 3)
                print(canvas.mean(), colormap().shape)
            """,
            "viz.py": """
            from colormap import colormap

            def random_colors(n):
                return colormap()[:n]
            """,
        },
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

    def check(self, index, _config):
        for entry in index.entry_points:
            prof = profile(index, entry)
            if not prof.uses or prof.seeds:
                continue
            if not prof.trains and _library_demo(index, entry):
                continue  # the __main__ block of a module the project imports: a self-test or a demo
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
         from torch.utils.data import random_split

         @hydra.main(config_path="conf", config_name="train")
         def train(cfg):
             # the data
             train, val = random_split(range(cfg.n), [0.8, 0.2])
             print(cfg.run.seed)
         """, """
         import hydra
         from torch.utils.data import random_split
         import torch

         @hydra.main(config_path="conf", config_name="train")
         def train(cfg):
             torch.manual_seed(cfg.run.seed)
             # the data
             train, val = random_split(range(cfg.n), [0.8, 0.2])
             print(cfg.run.seed)
         """),
        # the seed is a setting the block parses first: seeded with it, once it exists
        ("""
         import argparse
         import torch

         if __name__ == "__main__":
             parser = argparse.ArgumentParser()
             parser.add_argument("--seed", type=int, default=0)
             cfg = parser.parse_args()
             print(f"seed={cfg.seed}")
             model = torch.nn.Linear(4, 1)
             opt = torch.optim.SGD(model.parameters(), lr=0.1)
             model(torch.randn(8, 4)).sum().backward()
             opt.step()
         """, """
         import argparse
         import torch

         if __name__ == "__main__":
             parser = argparse.ArgumentParser()
             parser.add_argument("--seed", type=int, default=0)
             cfg = parser.parse_args()
             torch.manual_seed(cfg.seed)
             print(f"seed={cfg.seed}")
             model = torch.nn.Linear(4, 1)
             opt = torch.optim.SGD(model.parameters(), lr=0.1)
             model(torch.randn(8, 4)).sum().backward()
             opt.step()
         """),
    ]

    def fix(self, finding, source):
        from auditor.code.fix_edits import seed_entry_point

        return seed_entry_point(source, finding.location.line, finding.evidence.get("used", ()),
                                self.options["fix_seed"])


def _library_demo(index, entry) -> bool:
    module = entry.qualname[: -len(".<module>")] if entry.qualname.endswith(".<module>") else ""
    return entry.kind == "main-guard" and module in getattr(index, "imported", ())

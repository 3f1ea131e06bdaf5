from auditor.code.rule_base import ProjectRule
from auditor.code.seeding import profile
from auditor.findings import code_location


class DataloaderWorkerSeed(ProjectRule):
    id = "RA113"
    name = "dataloader-worker-seed"
    severity = "info"
    summary = "A shuffling or multi-worker DataLoader without generator= or worker_init_fn= in a seeded program."
    rationale = (
        "Without its own generator a DataLoader draws its shuffle order and its workers' base seed from "
        "the global torch RNG, so the data order depends on how much randomness everything before it "
        "consumed: a change to the model's initialisation silently changes the data order too, and a "
        "comparison between two models is no longer on the same batches. Pass "
        "`generator=torch.Generator().manual_seed(seed)` (and a `worker_init_fn` for libraries that keep "
        "their own RNG state in workers). Only reported where the program seeds; otherwise RA110 applies."
    )
    incident = (
        'A project shuffled its data with multi-worker loaders that no generator or worker seed controlled. '
        'Which examples each run saw, and in what order, could not be checked afterwards, so two runs meant '
        'as repeats were not.'
    )
    bad = [
        """
        import torch
        from torch.utils.data import DataLoader

        def main():
            torch.manual_seed(0)
            data = list(range(100))
            loader = DataLoader(data, batch_size=8, shuffle=True)  # expect: RA113
            workers = DataLoader(data, batch_size=8, num_workers=4)  # expect: RA113
            for batch in loader:
                pass

        if __name__ == "__main__":
            main()
        """,
    ]
    good = [
        """
        import torch
        from torch.utils.data import DataLoader

        def main():
            torch.manual_seed(0)
            g = torch.Generator().manual_seed(0)
            loader = DataLoader(list(range(100)), batch_size=8, shuffle=True, generator=g, num_workers=2)
            plain = DataLoader(list(range(100)), batch_size=8)

        if __name__ == "__main__":
            main()
        """,
        # library code that is not reached from a seeded entry point
        """
        from torch.utils.data import DataLoader

        def make_loader(ds, workers):
            return DataLoader(ds, batch_size=8, shuffle=True, num_workers=workers)
        """,
    ]

    def check(self, index, _config):
        for entry in index.entry_points:
            prof = profile(index, entry)
            if not prof.seeds:
                continue
            for step in prof.steps:
                ev = step.event
                if ev.kind != "dataloader" or ev.detail.get("splat"):
                    continue
                if ev.detail.get("generator") or ev.detail.get("worker_init_fn"):
                    continue
                workers = ev.detail.get("workers", 0)
                many = workers == "?" or (isinstance(workers, int) and workers > 0)
                if not (ev.detail.get("shuffle") or many):
                    continue
                what = "shuffles" if ev.detail.get("shuffle") else "uses worker processes"
                yield self.finding(
                    f"DataLoader {what} without generator= or worker_init_fn=: its order and worker seeds come "
                    "from the global torch RNG, so they shift whenever code before it draws more or fewer "
                    "random numbers",
                    code_location(step.path, ev.line, ev.col),
                    {"entry": entry.qualname, "shuffle": bool(ev.detail.get("shuffle")), "workers": workers},
                    anchor=ev.text,
                )

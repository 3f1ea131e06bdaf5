from auditor.code.rule_base import ProjectRule
from auditor.findings import code_location

_HOW = {
    "wandb": "pass config= to wandb.init (or call wandb.config.update / run.config.update)",
    "mlflow": "log it with mlflow.log_params / mlflow.log_dict",
    "tensorboard": "record it with writer.add_hparams / writer.add_text",
    "accelerate": "pass config= to init_trackers",
}


class ConfigNotLogged(ProjectRule):
    id = "RA160"
    name = "config-not-logged"
    severity = "warning"
    summary = "A tracker run is started (wandb, mlflow, TensorBoard, Accelerator.init_trackers) without the run's config."
    rationale = (
        "A run whose tracker has no config cannot be audited later: its seed, data split, hyperparameters "
        "and architecture are unknown, so it can be neither reproduced nor compared. The config counts as "
        "logged when it is passed to the start call or logged by the same module or by code the starting "
        "function calls. Only tracker starts that an entry point of the project reaches are checked: a "
        "library's tracker wrapper leaves the config to its caller, and resuming an existing MLflow run "
        "(`start_run(run_id=...)`) starts nothing new."
    )
    incident = (
        "A project's runs logged empty config dictionaries to its tracker, so nobody could say afterwards "
        'which settings produced which numbers. Comparing runs meant guessing their hyperparameters from '
        'folder names.'
    )
    bad = [
        """
        import wandb

        def train(cfg):
            run = wandb.init(project="burgers")  # expect: RA160
            for step in range(10):
                wandb.log({"loss": 1.0 / (step + 1)})

        if __name__ == "__main__":
            train({"lr": 0.1})
        """,
        """
        import mlflow
        from torch.utils.tensorboard import SummaryWriter

        def train(params):
            with mlflow.start_run():  # expect: RA160
                mlflow.log_metric("loss", 0.5)
            writer = SummaryWriter("runs/x")  # expect: RA160
            writer.add_scalar("loss", 0.5, 0)

        if __name__ == "__main__":
            train({"lr": 0.1})
        """,
        """
        from accelerate import Accelerator

        def main(args):
            accelerator = Accelerator(log_with="wandb")
            accelerator.init_trackers("proj")  # expect: RA160

        if __name__ == "__main__":
            main(None)
        """,
    ]
    good = [
        """
        import wandb

        def train(cfg):
            wandb.init(project="burgers", config=dict(cfg))

        if __name__ == "__main__":
            train({"lr": 0.1})
        """,
        # a library's monitor wraps the tracker; no program of this project starts it
        """
        import wandb
        import mlflow

        class WandbMonitor:
            def __init__(self, project):
                wandb.init(project=project)

        def resume(run_id):
            mlflow.start_run(run_id=run_id)
        """,
        """
        import wandb

        def train(cfg):
            run = wandb.init(project="burgers")
            run.config.update(cfg)
        """,
        """
        import mlflow
        from torch.utils.tensorboard import SummaryWriter

        def log_config(params):
            mlflow.log_params(params)

        def train(params):
            with mlflow.start_run():
                log_config(params)
            writer = SummaryWriter("runs/x")
            writer.add_hparams(params, {"loss": 0.5})
        """,
        """
        import wandb

        def start(**kwargs):
            return wandb.init(**kwargs)
        """,
        """
        from accelerate import Accelerator

        def main(args):
            accelerator = Accelerator(log_with="wandb")
            accelerator.init_trackers("proj", config=vars(args))
        """,
        # config logged a few lines later, or elsewhere in the program
        """
        import os
        import wandb
        from accelerate import Accelerator
        from torch.utils.tensorboard import SummaryWriter

        def setup_wandb(args):
            wandb.init(project="dreambooth")

        def main(args):
            setup_wandb(args)
            accelerator = Accelerator(log_with="wandb")
            accelerator.init_trackers("dreambooth", config=vars(args))

        def report(summary, args):
            run = wandb.init(project="metrics")
            run.config.metric = args.metric
            run.config["model"] = args.path

        def train(args):
            writer = SummaryWriter(args.logs)
            params_file = os.path.join(args.logs, "params.txt")
            with open(params_file, "w") as f:
                for name in sorted(vars(args)):
                    f.write(f"{name}: {getattr(args, name)}")

        if __name__ == "__main__":
            main(None)
            report(None, None)
            train(None)
        """,
        # a Hydra app: Hydra saves the composed config in the run's .hydra/ folder
        """
        import hydra
        import wandb

        @hydra.main(config_path="conf", config_name="train")
        def train(cfg):
            wandb.init(project="p")
        """,
    ]

    def check(self, index, _config):
        logged_in_module: dict[str, set[str]] = {}
        for kind in ("config_log", "tracker"):
            for path, _, ev in index.events(kind):
                if _logs_config(ev):
                    logged_in_module.setdefault(path, set()).add(ev.detail.get("tracker"))
        run_by_programs = index.reachable_from_entry_points()
        reach: dict[str, set[str]] = {}
        for path, fn, ev in index.events("tracker"):
            tracker = ev.detail.get("tracker")
            if ev.detail.get("config") or ev.detail.get("resumes") or \
                    logged_in_module.get(path, set()) & {tracker, "file", "accelerate"}:
                continue
            if fn.qualname not in run_by_programs:
                continue  # a library's tracker wrapper: the config is its caller's to give
            if self._logged_by_a_program(index, fn.qualname, tracker, reach):
                continue
            yield self.finding(
                f"{tracker} run started without the run's config: {_HOW.get(tracker, 'log the config')}",
                code_location(path, ev.line, ev.col), {"tracker": tracker}, anchor=ev.text)

    @staticmethod
    def _logged_by_a_program(index, qualname: str, tracker: str, reach: dict[str, set[str]]) -> bool:
        """Some program that starts this tracker logs its config, before or after the start, in any of its
        functions: a `config=` to Accelerator.init_trackers, `run.config.x = ...`, the arguments written to
        a params file; a Hydra app's config is saved by Hydra itself (.hydra/config.yaml)."""
        if any(_logs_config(s.event, tracker) for s in index.flatten(qualname)):
            return True
        for entry in index.entry_points:
            if entry.qualname not in reach:
                reach[entry.qualname] = index.reachable(entry.qualname)
            if qualname not in reach[entry.qualname]:
                continue
            if entry.kind == "hydra" or any(_logs_config(s.event, tracker) for s in index.flatten(entry.qualname)):
                return True
        return False


def _logs_config(ev, tracker: str | None = None) -> bool:
    """A config-logging event for this tracker (any tracker when None); a params file and an Accelerator's
    trackers given config= count for every tracker of the run."""
    if ev.kind == "config_log":
        return tracker is None or ev.detail.get("tracker") in (tracker, "file")
    return ev.kind == "tracker" and ev.detail.get("tracker") == "accelerate" and bool(ev.detail.get("config"))

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
    ]

    def check(self, index, config):
        logged_in_module: dict[str, set[str]] = {}
        for path, _, ev in index.events("config_log"):
            logged_in_module.setdefault(path, set()).add(ev.detail.get("tracker"))
        run_by_programs = index.reachable_from_entry_points()
        for path, fn, ev in index.events("tracker"):
            tracker = ev.detail.get("tracker")
            if ev.detail.get("config") or ev.detail.get("resumes") or tracker in logged_in_module.get(path, ()):
                continue
            if fn.qualname not in run_by_programs:
                continue  # a library's tracker wrapper: the config is its caller's to give
            if any(s.event.kind == "config_log" and s.event.detail.get("tracker") == tracker
                   for s in index.flatten(fn.qualname)):
                continue
            yield self.finding(
                f"{tracker} run started without the run's config: {_HOW.get(tracker, 'log the config')}",
                code_location(path, ev.line, ev.col), {"tracker": tracker}, anchor=ev.text)

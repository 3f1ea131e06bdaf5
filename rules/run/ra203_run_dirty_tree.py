from auditor.findings import run_location
from auditor.rule import RunRule


HOW_TO_RECORD = {
    "wandb": "wandb.init(save_code=True) saves diff.patch beside the run (empty when the tree was clean)",
    "mlflow": "log it as a tag: mlflow.set_tag('mlflow.source.git.dirty', ...) or a param git_dirty",
    "tensorboard": "TensorBoard keeps no git state: log git.dirty with add_hparams or a config text",
    "hydra": "add git.dirty to the config (e.g. an interpolation resolver) or write a run.yaml beside it",
}  # trackers whose records cannot say whether the tree was dirty unless told to


class RunDirtyTree(RunRule):
    id = "RA203"
    name = "run-dirty-tree"
    severity = "warning"
    summary = "The run started from a working tree with uncommitted changes: its SHA does not describe its code."
    rationale = (
        "With a dirty tree the recorded commit is only an approximation of what ran; the uncommitted part "
        "is lost unless it was saved beside the run (wandb's diff.patch, Guild's copied sources). Where the "
        "tracker did not record whether the tree was dirty at all, an info says so once per run, with how to "
        "record it: silence would read as \"clean\"."
    )
    incident = ("A run's recorded SHA was the evidence of which code produced it, but a run launched with uncommitted changes"
                " did not run that commit. Comparing code by SHA then points at the wrong changes.")
    bad = [
        {"id": "dirty", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "e2dfbd8", "dirty": True}},
    ]
    good = [
        {"id": "clean", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "e2dfbd8", "dirty": False}},
        # a native record can say it and did not: RA203 does not guess (W&B, MLflow, TensorBoard and Hydra
        # runs that cannot carry it get the "not recorded by this tracker" info)
        {"id": "unknown-dirtiness", "seed": 0, "config": {"lr": 0.1}, "git": {"sha": "e2dfbd8"}},
    ]

    def check(self, run, _context):
        if run.nothing_recorded:
            return  # an empty record: RA001 says "nothing was recorded"
        if run.git_dirty is None and run.git_sha and run.source in HOW_TO_RECORD:
            how = HOW_TO_RECORD[run.source]
            yield self.finding(f"run {run.id}: dirty state not recorded by this tracker ({run.source}); {how}",
                               run_location(run.id), {"not_recorded": "git.dirty", "tracker": run.source},
                               severity="info")
        if run.git_dirty:
            sha = f" at {run.git_sha}" if run.git_sha else ""
            yield self.finding(f"run {run.id} ran from a dirty working tree{sha}: uncommitted changes are not in the SHA",
                               run_location(run.id), {"sha": run.git_sha})

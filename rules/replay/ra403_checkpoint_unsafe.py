from auditor.findings import run_location
from auditor.replay.result import ReplayResult
from auditor.rule import Rule


class CheckpointUnsafe(Rule):
    id = "RA403"
    name = "checkpoint-unsafe"
    scope = "replay"
    severity = "error"
    summary = ("The run's checkpoint is a pickle that would import and call code outside torch's safe set "
               "(named in the finding; it was never executed), or it cannot be read at all.")
    rationale = (
        "Unpickling runs whatever callables the pickle names: a checkpoint can run os.system on load. The "
        "auditor lists a pickle's imports with pickletools before loading and loads only with "
        "torch.load(weights_only=True) or safetensors. An unreadable or truncated checkpoint means the reported "
        "score cannot be checked at all."
    )
    incident = ("Unpickling a checkpoint runs the code the file names, so loading an untrusted checkpoint can execute "
                "anything. That is why torch 2.6 made `weights_only=True` the default of `torch.load`.")
    bad = [
        {"run_id": "poisoned", "checkpoint": "ckpt/model.pt", "checkpoint_problem": "unsafe",
         "checkpoint_message": "the checkpoint's pickle would import and call posix.system (os.system)",
         "unsafe_callables": ["posix.system (os.system)"]},
        {"run_id": "truncated", "checkpoint": "ckpt/model.safetensors", "checkpoint_problem": "unreadable",
         "checkpoint_message": "not a readable safetensors file"},
    ]
    good = [
        {"run_id": "clean", "checkpoint": "ckpt/model.safetensors", "metric": "val/acc", "reported": 0.7,
         "quantized": 0.7, "unquantized": 0.72, "tolerance": 0.01},
    ]

    def check(self, result: ReplayResult, context=None):
        if not result.checkpoint_problem:
            return
        if result.checkpoint_problem == "unsafe":
            message = (f"checkpoint {result.checkpoint} is unsafe: {result.checkpoint_message}; "
                       "re-save it as safetensors or a plain state dict")
        else:
            message = f"checkpoint {result.checkpoint} is unreadable: {result.checkpoint_message}"
        evidence = {"checkpoint": result.checkpoint, "problem": result.checkpoint_problem,
                    "callables": result.unsafe_callables}
        yield self.finding(message, run_location(result.run_id), evidence)

"""TensorBoard event files (both scalar encodings) and Hydra output folders made by the real libraries."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap

import pytest

from auditor.runs.discover import discover_runs
from auditor.runs.readers import tensorboard as tb
from auditor.runs.series import Series

from .helpers import config

torch_tb = pytest.importorskip("torch.utils.tensorboard")


def _frame(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", tb.masked_crc32c(header)) + payload + struct.pack("<I", tb.masked_crc32c(payload))


def _tensor_events(steps_values, tag="val/acc"):
    """TF2-style scalars: a tensor value with plugin 'scalars' metadata on the first event only."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

    out = [_frame(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString())]
    for index, (step, value) in enumerate(steps_values):
        summary_value = summary_pb2.Summary.Value(tag=tag, tensor=tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, float_val=[value]))
        if index == 0:
            summary_value.metadata.plugin_data.plugin_name = "scalars"
        event = event_pb2.Event(wall_time=2.0, step=step, summary=summary_pb2.Summary(value=[summary_value]))
        out.append(_frame(event.SerializeToString()))
    # a non-scalar tensor of another plugin must not be read as a scalar
    other = summary_pb2.Summary.Value(tag="hist", tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[9]))
    other.metadata.plugin_data.plugin_name = "histograms"
    out.append(_frame(event_pb2.Event(step=99, summary=summary_pb2.Summary(value=[other])).SerializeToString()))
    return b"".join(out)


def test_crc32c_known_vector():
    assert tb.crc32c(b"123456789") == 0xE3069283


def test_summary_writer_simple_values_no_downsampling(tmp_path):
    writer = torch_tb.SummaryWriter(log_dir=str(tmp_path / "tb" / "run1"))
    for step in range(12000):  # more than EventAccumulator's default reservoir of 10000
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
    writer.add_scalar("val/acc", 0.5, 11999)
    writer.close()
    discovery = discover_runs(tmp_path / "tb", config())
    (run,) = discovery.runs
    assert run.id == "run1" and run.source == "tensorboard"
    assert len(run.metrics["train/loss"]) == 12000 and run.metrics["val/acc"] == [(11999, 0.5)]
    assert isinstance(run.metrics["train/loss"], Series)


def test_tensor_encoded_scalars_and_truncated_tail(tmp_path):
    folder = tmp_path / "logs" / "tf2"
    folder.mkdir(parents=True)
    data = _tensor_events([(0, 0.25), (10, 0.5), (20, 0.75)])
    (folder / "events.out.tfevents.1.host.1.v2").write_bytes(data[:-5])  # last record torn mid-write
    (run,) = discover_runs(tmp_path / "logs", config()).runs
    assert run.metrics == {"val/acc": [(0, 0.25), (10, 0.5), (20, 0.75)]}
    assert run.problems and "truncated" in run.problems[0]["message"]


HYDRA_APP = textwrap.dedent("""
    import json
    import os
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig
    from torch.utils.tensorboard import SummaryWriter

    @hydra.main(version_base=None, config_path="conf", config_name="config")
    def main(cfg: DictConfig) -> None:
        out = HydraConfig.get().runtime.output_dir
        writer = SummaryWriter(log_dir=os.path.join(out, "tb"))
        for step in range(cfg.trainer.total_training_steps):
            writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.close()
        with open(os.path.join(out, "metrics.jsonl"), "w") as handle:
            for step in (0, 20):
                handle.write(json.dumps({"step": step, "val/acc": 0.1 + step / 100}) + "\\n")

    if __name__ == "__main__":
        main()
""")


@pytest.fixture(scope="module")
def hydra_results(tmp_path_factory):
    pytest.importorskip("hydra")
    app = tmp_path_factory.mktemp("hydra-app")
    (app / "conf").mkdir()
    (app / "conf" / "config.yaml").write_text("seed: 1\nlr: 0.1\ntrainer: {total_training_steps: 29, test_freq: 20}\n")
    (app / "train.py").write_text(HYDRA_APP)
    results = tmp_path_factory.mktemp("hydra-results")
    subprocess.run([sys.executable, "train.py", f"hydra.run.dir={results}/outputs/single", "lr=0.2"], cwd=app,
                   check=True, timeout=300, capture_output=True)
    subprocess.run([sys.executable, "train.py", "-m", f"hydra.sweep.dir={results}/multirun/sweep", "seed=1,2"],
                   cwd=app, check=True, timeout=300, capture_output=True)
    return results


def test_hydra_single_and_multirun(hydra_results):
    discovery = discover_runs(hydra_results, config())
    assert discovery.problems == []
    runs = {run.id: run for run in discovery.runs}
    assert set(runs) == {"outputs/single", "multirun/sweep/0", "multirun/sweep/1"}
    single = runs["outputs/single"]
    assert single.source == "hydra" and single.config["lr"] == 0.2 and single.seed == 1 and single.max_steps == 29
    assert len(single.metrics["train/loss"]) == 29 and single.metrics["val/acc"][-1][0] == 20
    assert isinstance(single.metrics["train/loss"], Series)
    sweep0, sweep1 = runs["multirun/sweep/0"], runs["multirun/sweep/1"]
    assert (sweep0.seed, sweep1.seed) == (1, 2)
    assert sweep0.group == sweep1.group == "train"  # seeds of one condition share a group
    assert single.group == "train[lr=0.2]"


def test_hydra_rule_ra220_from_metrics_beside_it(hydra_results):
    from auditor.runs.audit import audit_run_record

    (run,) = [r for r in discover_runs(hydra_results, config()).runs if r.id == "outputs/single"]
    findings = [f for f in audit_run_record(run, config()) if f.rule == "RA220"]
    assert findings and "step 20" in findings[0].message


def test_add_hparams_and_a_config_text_are_the_runs_config(tmp_path):
    from auditor.runs.audit import audit_run_record

    writer = torch_tb.SummaryWriter(log_dir=str(tmp_path / "tb" / "hp-run"))
    for step in range(5):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
    # RA160's advice: log the config with the run. add_hparams writes into a time-stamped sub-folder.
    writer.add_hparams({"seed": 3, "lr": 0.001, "optimizer": "adam", "amp": True}, {"hparam/acc": 0.9})
    writer.close()
    text_writer = torch_tb.SummaryWriter(log_dir=str(tmp_path / "tb" / "text-run"))
    text_writer.add_text("config", "```yaml\nseed: 4\nmodel: {width: 256}\n```")
    text_writer.add_scalar("train/loss", 0.5, 0)
    text_writer.close()
    discovery = discover_runs(tmp_path / "tb", config())
    runs = {run.id: run for run in discovery.runs}
    assert set(runs) == {"hp-run", "text-run"}  # the add_hparams sub-folder is not a run of its own
    hp = runs["hp-run"]
    assert hp.config == {"seed": 3, "lr": 0.001, "optimizer": "adam", "amp": True} and hp.seed == 3
    assert "hparam/acc" not in hp.metrics and len(hp.metrics["train/loss"]) == 5
    assert runs["text-run"].config == {"seed": 4, "model": {"width": 256}} and runs["text-run"].seed == 4
    assert hp.started_at is not None and hp.ended_at >= hp.started_at
    rules = {f.rule for f in audit_run_record(hp, config())}
    assert not rules & {"RA210", "RA211"}

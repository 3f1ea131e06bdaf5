"""The project index through the real scan pipeline: seeding followed across files, cycles, entry
points of every style, order of events, configured names, aliases."""

from __future__ import annotations

import pickle

from auditor.code.index import MODULE_CODE, ModuleSummary
from auditor.config import DEFAULT_QUANT_HOOKS, DEFAULT_SEED_HELPERS, Config

from code_helpers import scan_example


def _scan(example, tmp_path, **config):
    folder = tmp_path / "p"
    return scan_example(example, folder, Config(root=folder, **config) if config else None)[1]


def _rules(result, *ids):
    return sorted((f.rule, f.location.path, f.location.line) for f in result.findings if f.rule in ids)


def _seeded(result, entry_index=0):
    index = result.index
    entry = index.entry_points[entry_index]
    return {rng for s in index.flatten(entry.qualname) if s.event.kind == "seed" for rng in s.event.detail["rngs"]}


MUST_PASS = {
    "train.py": """
    import torch as T
    import numpy as np
    from utils.seed import seed_rest

    def main():
        T.manual_seed(0)
        seed_rest(0)
        data = np.random.permutation(10)
        model = T.nn.Linear(3, 1)
        model(T.randn(2, 3)).sum().backward()

    if __name__ == "__main__":
        main()
    """,
    "utils/__init__.py": "",
    "utils/seed.py": """
    import random
    import numpy

    def seed_rest(seed):
        random.seed(seed)
        numpy.random.seed(seed)
    """,
}


def test_torch_alias_plus_helper_in_other_module_is_seeded(tmp_path):
    result = _scan(MUST_PASS, tmp_path)
    assert _rules(result, "RA110", "RA111", "RA112") == []
    assert _seeded(result) == {"python", "numpy", "torch", "cuda"}
    # the helper's seeds are located in its own file
    steps = result.index.flatten(result.index.entry_points[0].qualname)
    assert {s.path for s in steps if s.event.kind == "seed"} == {"train.py", "utils/seed.py"}


def test_without_the_helper_call_numpy_and_python_are_reported(tmp_path):
    project = dict(MUST_PASS)
    project["train.py"] = project["train.py"].replace("seed_rest(0)", "pass")
    result = _scan(project, tmp_path)
    findings = [f for f in result.findings if f.rule == "RA111"]
    assert len(findings) == 1 and findings[0].evidence["unseeded"] == ["numpy"]
    assert findings[0].location.to_json() == {"path": "train.py", "line": 12, "col": 0}


def test_helper_reexported_by_package_and_called_through_module_alias(tmp_path):
    project = {
        "run.py": """
        import numpy as np
        import lab as L

        if __name__ == "__main__":
            L.seed_all(1)
            np.random.rand()
        """,
        "lab/__init__.py": "from .seeding import seed_all\n",
        "lab/seeding.py": """
        from numpy.random import seed as npseed

        def seed_all(s):
            npseed(s)
        """,
    }
    result = _scan(project, tmp_path)
    assert _seeded(result) == {"numpy"}
    assert _rules(result, "RA110", "RA111") == []


def test_call_graph_cycles_terminate_and_keep_effects(tmp_path):
    project = {
        "a.py": """
        import torch
        from b import pong

        def ping(n):
            if n:
                pong(n - 1)
            torch.rand(2)

        if __name__ == "__main__":
            ping(3)
        """,
        "b.py": """
        import torch
        from a import ping

        def pong(n):
            torch.manual_seed(n)
            ping(n)
        """,
    }
    result = _scan(project, tmp_path)
    assert _seeded(result) == {"torch", "cuda"}
    assert result.index.reachable("a.ping") == {"a.ping", "b.pong"}
    assert _rules(result, "RA110", "RA112") == []


ENTRY_STYLES = {
    "guard.py": """
    import random
    if __name__ == "__main__":
        random.random()
    """,
    "hyd.py": """
    import hydra, random
    @hydra.main(version_base=None, config_path=".", config_name="c")
    def run(cfg):
        random.random()
    """,
    "clk.py": """
    import click, random
    @click.command()
    def go():
        random.random()
    """,
    "typ.py": """
    import typer, random
    app = typer.Typer()
    @app.command()
    def serve():
        random.random()
    """,
    "cli.py": """
    import argparse, random
    def parse_args():
        p = argparse.ArgumentParser()
        return p.parse_args()
    def main():
        args = parse_args()
        random.random()
    """,
    "fir.py": """
    import fire, random
    def launch():
        random.random()
    fire.Fire(launch)
    """,
    "tool.py": """
    import random
    def job():
        random.random()
    """,
    "lib.py": """
    import random
    def helper():
        random.random()
    """,
}


def test_entry_point_styles(tmp_path):
    result = _scan(ENTRY_STYLES, tmp_path, entry_points=["tool:job"])
    kinds = {(e.path, e.qualname.rsplit(".", 1)[-1]): e.kind for e in result.index.entry_points}
    assert kinds == {
        ("guard.py", MODULE_CODE): "main-guard",
        ("hyd.py", "run"): "hydra",
        ("clk.py", "go"): "click",
        ("typ.py", "serve"): "click",
        ("cli.py", "main"): "argparse",  # promoted from the parse_args() helper it calls
        ("fir.py", MODULE_CODE): "script",  # the script's top level reaches launch() through fire
        ("tool.py", "job"): "configured",
    }
    flagged = {f.location.path for f in result.findings if f.rule == "RA110"}
    assert flagged == {"guard.py", "hyd.py", "clk.py", "typ.py", "cli.py", "fir.py", "tool.py"}


def test_entry_point_given_as_a_file_path(tmp_path):
    project = {"jobs/nightly.py": """
    import random
    def go():
        random.random()
    """}
    result = _scan(project, tmp_path, entry_points=["jobs/nightly.py"])
    assert [e.kind for e in result.index.entry_points] == ["configured"]


def test_seed_after_use_through_helpers_is_reported_at_the_call_site(tmp_path):
    project = {
        "train.py": """
        from model import build
        from seed import set_seed

        def main():
            net = build()
            set_seed(0)
            net(1).backward()
            net.optimizer.step()

        if __name__ == "__main__":
            main()
        """,
        "model.py": """
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)

        def build():
            return Net()
        """,
        "seed.py": """
        import torch

        def set_seed(s):
            torch.manual_seed(s)
        """,
    }
    result = _scan(project, tmp_path)
    late = [f for f in result.findings if f.rule == "RA112"]
    assert [(f.location.path, f.location.line) for f in late] == [("train.py", 6)]
    assert late[0].evidence["first_use"] == "model.py:6"  # nn.Linear inside Net.__init__
    # swapped into the right order, nothing is reported
    swapped = project["train.py"].replace("net = build()", "TMP").replace("set_seed(0)", "net = build()")
    project["train.py"] = swapped.replace("TMP", "set_seed(0)")
    assert _rules(_scan(project, tmp_path / "ok"), "RA112", "RA110") == []


def test_methods_resolve_through_self_and_constructed_objects(tmp_path):
    project = {
        "app.py": """
        import numpy as np
        from engine import Runner

        if __name__ == "__main__":
            r = Runner()
            r.start()
            np.random.rand()
        """,
        "engine.py": """
        import numpy as np

        class Base:
            def _seed(self):
                np.random.seed(0)

        class Runner(Base):
            def start(self):
                self._seed()
        """,
    }
    result = _scan(project, tmp_path)
    assert _seeded(result) == {"numpy"}
    assert _rules(result, "RA110", "RA111", "RA112") == []


def test_configured_seed_helper_and_quant_hook_names(tmp_path):
    project = {
        "train.py": """
        import torch
        from ext.lab import scramble_seeds, install_fp4
        from model import Net

        if __name__ == "__main__":
            scramble_seeds(0)
            m = Net()
            install_fp4(m)
            opt = torch.optim.SGD(m.parameters(), lr=0.1)
            m(torch.randn(1, 2)).sum().backward()
            opt.step()
        """,
        "score.py": """
        import torch
        from ext.lab import score
        from model import Net

        if __name__ == "__main__":
            m = Net()
            m.load_state_dict(torch.load("c.pt", weights_only=True))
            score(m)
        """,
        "model.py": """
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(2, 2)
        """,
    }
    plain = _scan(project, tmp_path / "plain")
    assert {f.rule for f in plain.findings} >= {"RA110"}  # unknown names: nothing seeds, no hooks
    assert not [f for f in plain.findings if f.rule == "RA130"]
    configured = _scan(project, tmp_path / "conf", seed_helpers=[*DEFAULT_SEED_HELPERS, "scramble_seeds"],
                       quant_hooks=[*DEFAULT_QUANT_HOOKS, "install_fp4"],
                       validation_functions=["score"])
    assert _rules(configured, "RA110", "RA111") == []
    assert _rules(configured, "RA130") == [("RA130", "score.py", 7)]


def test_qualified_names_not_substrings(tmp_path):
    project = {"run.py": """
    import torchvision
    import numpy as np
    from torch import manual_seed as s

    if __name__ == "__main__":
        s(0)
        torchvision.manual_seed(0)
        rng = np.random.default_rng(0)
        rng.normal()
        torchvision.rand(3)
    """}
    result = _scan(project, tmp_path)
    steps = result.index.flatten(result.index.entry_points[0].qualname)
    assert [(s.event.kind, s.event.target) for s in steps if s.event.kind in ("seed", "consume")] == [
        ("seed", "torch.manual_seed")]  # a private numpy generator seeds no process RNG and draws from none
    assert _rules(result, "RA110", "RA111") == []


def test_summary_round_trips_through_json_and_pickle(tmp_path):
    result = _scan(MUST_PASS, tmp_path)
    for summary in result.summaries.values():
        assert ModuleSummary.from_json(summary.to_json()) == summary
        assert pickle.loads(pickle.dumps(summary)) == summary
    train = result.summaries["train.py"]
    kinds = [e.kind for e in train.functions["train.main"].events]
    assert kinds[:2] == ["seed", "call"] and "consume" in kinds and "train" in kinds

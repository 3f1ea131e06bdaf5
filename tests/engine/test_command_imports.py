"""Command modules are imported directly: a missing optional extra names the extra to install (exit 2), and
any other import error is a bug that shows as one, never as "No such command"."""

from __future__ import annotations

import click
import pytest

from auditor import cli
from cli_helpers import run_cli, without_torch


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_module_imports(name):
    command = cli.LazyGroup().get_command(None, name)
    assert isinstance(command, click.Command) and command.name == name


def test_replay_without_the_replay_extra(tmp_path):
    env = without_torch(tmp_path / "site")
    proc = run_cli("replay", "some-run", "--results", str(tmp_path), cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert proc.stderr == ("audit: error: `audit replay` needs the replay extra: "
                           "pip install 'repro-auditor[replay]'\n")


def test_help_and_scan_work_without_the_replay_extra(tmp_path):
    env = without_torch(tmp_path / "site")
    help_text = run_cli("--help", cwd=tmp_path, env=env)
    assert help_text.returncode == 0 and "replay" in help_text.stdout, help_text.stderr
    (tmp_path / "train.py").write_text("import torch\nstate = torch.load('x.pt')\n", encoding="utf-8")
    scan = run_cli("scan", "train.py", "--format", "json", cwd=tmp_path, env=env)
    assert scan.returncode == 0 and '"RA170"' in scan.stdout, scan.stderr  # a warning


def test_a_broken_command_module_is_an_internal_error_not_a_missing_command(monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "compare", "auditor.no_such_module:compare")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "a", "b"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "internal error: ModuleNotFoundError" in err and "No such command" not in err

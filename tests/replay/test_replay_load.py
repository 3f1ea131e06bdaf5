"""Safe checkpoint loading: malicious pickles are reported, never executed; broken files are RA403 material."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from auditor.replay.load import CheckpointError, load_checkpoint, pickle_globals, scan_pickles


class WritesAFile:
    """Unpickling this calls os.system("touch <path>")."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


class Execs:
    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('pwned')",)


def state() -> dict[str, torch.Tensor]:
    return {"fc.weight": torch.arange(6.0).reshape(2, 3), "fc.bias": torch.ones(2, dtype=torch.bfloat16)}


def assert_same_state(loaded):
    want = state()
    assert set(loaded) == set(want)
    for key in want:
        assert torch.equal(loaded[key], want[key]) and loaded[key].dtype == want[key].dtype


def unsafe(path: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert info.value.kind == "unsafe"
    return info.value


# -- good checkpoints ----------------------------------------------------------------------------

def test_safetensors(tmp_path):
    save_file(state(), str(tmp_path / "m.safetensors"))
    assert_same_state(load_checkpoint(tmp_path / "m.safetensors"))


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".ckpt"])
@pytest.mark.parametrize("zipped", [True, False])
def test_torch_checkpoints_both_serializations(tmp_path, suffix, zipped):
    path = tmp_path / f"m{suffix}"
    torch.save(state(), path, _use_new_zipfile_serialization=zipped)
    assert scan_pickles(path) == []
    assert_same_state(load_checkpoint(path))


@pytest.mark.parametrize("key", ["state_dict", "model", "model_state_dict"])
def test_nested_state_dicts(tmp_path, key):
    path = tmp_path / "m.pt"
    torch.save({key: state(), "epoch": 3, "optimizer": {"lr": 0.1}}, path)
    assert_same_state(load_checkpoint(path))


# -- malicious pickles ---------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_raw_malicious_pickle_is_reported_and_never_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"w": 1, "x": WritesAFile(marker)}, protocol=protocol))
    error = unsafe(path)
    assert "posix.system (os.system)" in error.callables
    assert "os.system" in error.message
    assert not marker.exists()


def test_exec_is_reported(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps([Execs(marker)], protocol=4))
    assert unsafe(path).callables == ["builtins.exec"]
    assert not marker.exists()


@pytest.mark.parametrize("zipped", [True, False])
def test_malicious_torch_checkpoint_is_reported_and_never_run(tmp_path, zipped):
    """torch.save of a state dict carrying a payload: inside the zip's data.pkl, or the legacy format."""
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"fc.weight": torch.ones(2, 2), "payload": WritesAFile(marker)}, path,
               _use_new_zipfile_serialization=zipped)
    assert "posix.system (os.system)" in unsafe(path).callables
    assert not marker.exists()


def test_stack_global_hidden_behind_stack_tricks_counts_as_unsafe():
    # 'os' 'junk' POP 'system' STACK_GLOBAL: imports os.system, though the strings are not adjacent
    data = (b"\x80\x04\x8c\x02os\x94\x8c\x04junk0\x8c\x06system\x94\x93\x8c\x04true\x85R.")
    found = pickle_globals(data)
    assert found == ["<unresolvable STACK_GLOBAL>"]


def test_stack_global_from_memo_is_resolved():
    assert pickle_globals(pickle.dumps(WritesAFile(Path("/nonexistent")), protocol=4)) == ["posix.system"]


# -- broken files --------------------------------------------------------------------------------

def unreadable(path: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert info.value.kind == "unreadable", info.value.message
    return info.value


def test_truncated_and_corrupt_files_are_unreadable_not_tracebacks(tmp_path):
    save_file(state(), str(tmp_path / "full.safetensors"))
    data = (tmp_path / "full.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    unreadable(tmp_path / "cut.safetensors")

    torch.save(state(), tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    unreadable(tmp_path / "cut.pt")

    torch.save(state(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    data = (tmp_path / "legacy.pt").read_bytes()
    (tmp_path / "legacy-cut.pt").write_bytes(data[:40])
    unreadable(tmp_path / "legacy-cut.pt")

    (tmp_path / "noise.bin").write_bytes(bytes(range(256)) * 4)
    unreadable(tmp_path / "noise.bin")
    (tmp_path / "empty.pt").write_bytes(b"")
    unreadable(tmp_path / "empty.pt")
    assert "not found" in unreadable(tmp_path / "missing.safetensors").message


def test_a_pickle_without_tensors_is_unreadable(tmp_path):
    torch.save({"epoch": 3}, tmp_path / "m.pt")
    assert "no state dict" in unreadable(tmp_path / "m.pt").message

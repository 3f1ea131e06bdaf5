"""Safe checkpoint loading: nothing in a checkpoint is ever executed.

- `.safetensors`: read with safetensors (no code in the format).
- Everything else is a pickle (torch's zip archive with `data.pkl`, torch's legacy format, or a raw
  pickle). Before anything is unpickled, its opcodes are read with `pickletools` and every callable
  it would import (GLOBAL, STACK_GLOBAL, INST) is listed; anything outside torch's own
  `weights_only` allowlist stops the load with a CheckpointError naming what it would have called.
  Only then is it loaded, with `torch.load(..., weights_only=True)` as a second line of defence.
Unreadable, truncated or corrupt files raise CheckpointError too (RA403), never a traceback.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

SAFETENSORS_SUFFIXES = (".safetensors",)
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "weights")
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
               "SHORT_BINSTRING"}
_MEMO_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_MEMO_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
_READABLE_MODULES = {"posix": "os", "nt": "os"}  # os.system pickles as posix.system on Linux


@dataclass
class CheckpointError(Exception):
    """A checkpoint that was not loaded: `kind` is "unsafe" or "unreadable"."""

    kind: str
    message: str
    path: str
    callables: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


def allowed_globals() -> set[str]:
    """torch's own weights_only allowlist ("module.name"), plus what the user registered with torch."""
    from torch import _weights_only_unpickler as unpickler

    allowed = set(unpickler._get_allowed_globals())
    allowed.update(unpickler._get_user_allowed_globals())
    return allowed


def pickle_globals(data: bytes | io.BufferedIOBase) -> list[str]:
    """Every "module.name" a pickle would import, in order, without unpickling it.

    STACK_GLOBAL takes its operands from the stack; when they are not plain strings pushed (or
    fetched from the memo) right before it, the import is reported as unresolvable, which counts
    as unsafe: we never guess in the attacker's favour.
    """
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    found: list[str] = []
    memo: dict[int, object] = {}
    recent: list[object] = []  # values pushed by the last opcodes (None: something not a string)
    for opcode, arg, _ in pickletools.genops(stream):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            found.append(f"{module}.{attr}")
            recent.append(None)
        elif name == "STACK_GLOBAL":
            operands = recent[-2:]
            if len(operands) == 2 and all(isinstance(o, str) for o in operands):
                found.append(f"{operands[0]}.{operands[1]}")
            else:
                found.append("<unresolvable STACK_GLOBAL>")
            recent.append(None)
        elif name in _STRING_OPS:
            recent.append(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
        elif name in _MEMO_GET_OPS:
            recent.append(memo.get(arg))
        elif name in _MEMO_PUT_OPS:
            memo[len(memo) if name == "MEMOIZE" else arg] = recent[-1] if recent else None
        else:
            recent.append(None)
    return found


def _readable(callable_name: str) -> str:
    module, _, attr = callable_name.partition(".")
    alias = _READABLE_MODULES.get(module)
    return f"{callable_name} ({alias}.{attr})" if alias else callable_name


MAX_PICKLE_BYTES = 256 * 1024 * 1024  # a state dict's pickle is small: the tensors are separate members
MAX_INFLATION = 20  # torch stores its members uncompressed; a member that inflates more is a zip bomb


def _check_zip_sizes(archive: zipfile.ZipFile, archive_bytes: int, path: Path) -> None:
    """Declared sizes, before anything is inflated: a 2 MB archive must not become gigabytes in memory."""
    declared = sum(info.file_size for info in archive.infolist())
    if declared > MAX_INFLATION * archive_bytes + (1 << 20):
        raise CheckpointError("unreadable", f"zip members declare {declared} bytes for a {archive_bytes}-byte archive "
                              "(a zip bomb?); not inflated", str(path))


def _read_member(archive: zipfile.ZipFile, member: str, path: Path) -> bytes:
    """A member's bytes, stopping at the limit whatever its header declares."""
    if archive.getinfo(member).file_size > MAX_PICKLE_BYTES:
        raise CheckpointError("unreadable", f"{member} declares over {MAX_PICKLE_BYTES} bytes; not inflated", str(path))
    with archive.open(member) as handle:
        data = handle.read(MAX_PICKLE_BYTES + 1)
    if len(data) > MAX_PICKLE_BYTES:
        raise CheckpointError("unreadable", f"{member} inflates past {MAX_PICKLE_BYTES} bytes; not read", str(path))
    return data


def scan_pickles(path: Path) -> list[str]:
    """Callables outside torch's safe set that loading `path` would import (empty: safe to load)."""
    raw = path.read_bytes()
    globals_found: list[str] = []
    if zipfile.is_zipfile(io.BytesIO(raw)):
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            _check_zip_sizes(archive, len(raw), path)
            names = [n for n in archive.namelist() if n.endswith(".pkl")]
            if not names:
                raise CheckpointError("unreadable", f"zip archive without a pickle (data.pkl): {path.name}", str(path))
            for member in names:
                globals_found += pickle_globals(_read_member(archive, member, path))
    else:
        # torch's legacy format is several pickles in a row (magic, protocol, sys info, the object,
        # storage keys) followed by raw storage bytes; a plain pickle is one.
        stream = io.BytesIO(raw)
        for index in range(5):
            if stream.tell() >= len(raw):
                break
            try:
                globals_found += pickle_globals(stream)
            except ValueError:
                if index == 0:
                    raise
                break  # past the pickles: raw storage bytes
    allowed = allowed_globals()
    return sorted({_readable(g) for g in globals_found if g not in allowed})


def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict {name: tensor} from a checkpoint file, or CheckpointError."""
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    if not path.is_file():
        raise CheckpointError("unreadable", f"checkpoint not found: {path}", str(path))
    if path.suffix in SAFETENSORS_SUFFIXES:
        return _load_safetensors(path)
    try:
        unsafe = scan_pickles(path)
    except CheckpointError:
        raise
    except Exception as exc:  # truncated or not a pickle at all: pickletools says why
        raise CheckpointError("unreadable", f"not a readable pickle/torch checkpoint ({type(exc).__name__}: {exc})",
                              str(path)) from exc
    if unsafe:
        raise CheckpointError("unsafe", f"the checkpoint's pickle would import and call {', '.join(unsafe)}; "
                              "it was not loaded", str(path), unsafe)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError("unreadable", f"torch.load(weights_only=True) failed ({type(exc).__name__}: {exc})",
                              str(path)) from exc
    return extract_state_dict(obj, str(path))


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.pt", "model.pth")


def _load_folder(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint folder as Hugging Face's save_pretrained writes it: one weights file, or
    safetensors shards (model-00001-of-00002.safetensors ...) merged into one state dict."""
    try:
        names = sorted(entry.name for entry in path.iterdir() if entry.is_file())
    except OSError as exc:
        raise CheckpointError("unreadable", f"cannot list checkpoint folder: {exc.strerror or exc}", str(path)) from exc
    for name in WEIGHT_FILES:
        if name in names:
            return load_checkpoint(path / name)
    shards = [name for name in names if name.endswith(SAFETENSORS_SUFFIXES)]
    if not shards:
        raise CheckpointError("unreadable", f"{path} is a folder without a weights file ({', '.join(WEIGHT_FILES)} "
                              "or *.safetensors shards)", str(path))
    state: dict[str, torch.Tensor] = {}
    for name in shards:
        state.update(_load_safetensors(path / name))
    return state


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError("unreadable", f"not a readable safetensors file ({type(exc).__name__}: {exc})",
                              str(path)) from exc


def extract_state_dict(obj: object, where: str) -> dict[str, torch.Tensor]:
    """The tensors of a state dict, also when nested under "state_dict", "model", ..."""
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if tensors and len(tensors) == len(obj):
            return tensors
        for key in NESTED_KEYS:
            if isinstance(obj.get(key), dict):
                return extract_state_dict(obj[key], where)
        if tensors:
            return tensors
    raise CheckpointError("unreadable", f"no state dict (name -> tensor) found in the checkpoint "
                          f"(top level: {type(obj).__name__}"
                          + (f" with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else "") + ")", where)

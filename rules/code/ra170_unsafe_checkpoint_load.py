import ast

from auditor.code.resolve import dotted
from auditor.code.rule_base import ModuleRule
from auditor.code.syntax import calls_in, last_name

TORCH_LOADS = frozenset({"torch.load", "torch.serialization.load"})
NUMPY_LOADS = frozenset({"numpy.load"})
PICKLE_LOADS = frozenset({"pickle.load", "_pickle.load", "cPickle.load", "dill.load", "cloudpickle.load",
                          "joblib.load", "pandas.read_pickle"})
# `loads` takes bytes: flagged only when the bytes are read from a file right there; objects broadcast
# between the ranks of one job come from the job itself.
PICKLE_LOADS_BYTES = frozenset({"pickle.loads", "_pickle.loads", "cPickle.loads", "dill.loads", "cloudpickle.loads"})
FILE_READS = frozenset({"read", "read_bytes", "open", "urlopen", "get"})
COLLECTIVES = frozenset({"broadcast", "all_gather", "gather", "recv", "irecv", "scatter", "broadcast_object_list",
                         "all_gather_object", "all_to_all"})
_LOAD_NAMES = frozenset({"load", "loads", "read_pickle"})
SAFE_DEFAULT = (2, 6)  # torch 2.6 made weights_only=True the default of torch.load


class UnsafeCheckpointLoad(ModuleRule):
    id = "RA170"
    name = "unsafe-checkpoint-load"
    severity = "warning"
    summary = "A load that unpickles: `torch.load` that may run with `weights_only=False`, or a pickle/joblib/dill load of a file."
    rationale = (
        "A pickle runs whatever code the file tells it to. A checkpoint passed around between people, "
        "downloaded, or left in a shared results folder is then a way to run code on every machine that "
        "evaluates it, and an audit that loads it is no longer read-only. `torch.load(..., weights_only=True)` "
        "and safetensors load only tensors. Since torch 2.6 a bare `torch.load(path)` is safe: the rule reads "
        "the lowest torch the project accepts from its packaging files (`pyproject.toml`, `setup.py`, "
        "`requirements*.txt`, per sub-project) or an import-time version check. With no declared floor the "
        "verdict depends on the installed torch, which is said as an info."
    )
    incident = (
        'Loading a checkpoint with pickle runs whatever code the file names, and checkpoints are passed '
        "around between people and machines. A checkpoint from someone else's run, or from a shared folder, "
        'can execute arbitrary code the moment it is loaded.'
    )
    apis = tuple(sorted(TORCH_LOADS | NUMPY_LOADS | PICKLE_LOADS | PICKLE_LOADS_BYTES))

    bad = [
        {"requirements.txt": "torch>=1.13\n", "train.py": '''
import torch
state = torch.load("ckpt.pt")  # expect: RA170
model.load_state_dict(state)
'''},
        {"pyproject.toml": '[project]\ndependencies = ["torch>=2.0", "torchvision>=0.20"]\n', "ev.py": '''
import torch as T
from torch import load
state = T.load(path, map_location="cpu")  # expect: RA170
state = load(path)  # expect: RA170
'''},
        '''
import torch
state = torch.load(path, weights_only=False)  # expect: RA170
''',
        '''
import pickle, joblib
import numpy as np
import pandas as pd
with open("stats.pkl", "rb") as fh:
    stats = pickle.load(fh)  # expect: RA170
clf = joblib.load("clf.joblib")  # expect: RA170
arr = np.load("a.npy", allow_pickle=True)  # expect: RA170
df = pd.read_pickle("frame.pkl")  # expect: RA170
''',
        '''
def restore(path):
    import dill
    with open(path, "rb") as fh:
        return dill.load(fh)  # expect: RA170
''',
        '''
import pickle
from pathlib import Path
stats = pickle.loads(Path("stats.pkl").read_bytes())  # expect: RA170
''',
        # no declared torch floor: said as an info (the verdict depends on the installed torch)
        '''
import torch
state = torch.load("ckpt.pt")  # expect: RA170
''',
        # a sub-project pinning an old torch keeps its own floor
        {"setup.py": 'setup(install_requires=["torch>=2.6"])\n', "examples/old/requirements.txt": "torch==2.2.0\n",
         "examples/old/run.py": '''
import torch
sd = torch.load("w.pt")  # expect: RA170
'''},
    ]
    good = [
        '''
import torch
state = torch.load("ckpt.pt", weights_only=True, map_location="cpu")
''',
        # the project requires torch >= 2.6: a bare load only loads tensors
        {"pyproject.toml": '[project]\ndependencies = [\n  "torch>=2.7",\n]\n', "src/pkg/ckpt.py": '''
import torch
def restore(path):
    return torch.load(path, map_location="cpu")
'''},
        # an import-time check in the package refuses older torch
        {"pkg/__init__.py": '''
import torch
from packaging.version import parse as _parse_version
min_torch_version = _parse_version("2.11.0")
if _parse_version(torch.__version__) < min_torch_version:
    raise ImportError("Please upgrade to torch >= 2.11.0")
''', "scripts/convert.py": '''
import torch
sd = torch.load("model.bin")
'''},
        '''
import io
import torch
state = torch.load(io.BytesIO(blob), weights_only=True)
''',
        # an in-memory buffer received from the other ranks of the same job: no file involved
        '''
import io
import torch
def broadcast_object(buffer, group):
    broadcast(buffer, group=group)
    buffer = io.BytesIO(buffer.cpu().numpy())
    return torch.load(buffer, map_location="cpu")
''',
        '''
from safetensors.torch import load_file
state = load_file("model.safetensors")
''',
        # torchvision.load is not torch.load; a method named load is not pickle.load
        '''
import torchvision
import json
cfg = json.load(open("cfg.json"))
data = torchvision.load("x")
model.load(path)
checkpoint_manager.load(step)
''',
        '''
import numpy as np
arr = np.load("a.npy")
arr2 = np.load("b.npz", allow_pickle=False)
''',
        '''
import pickle
def broadcast_object(data_tensor, real_size):
    return pickle.loads(data_tensor[:real_size].cpu().numpy().tobytes())
''',
        # a variable that only happens to be called pickle; a local that shadows the import
        '''
import pickle
import torch
def read(pickle):
    return pickle.load()
def other():
    torch = get_backend()
    return torch.load("x")
''',
        # forwarding the caller's choice is not a decision made here
        '''
import torch
def load_checkpoint(path, **kwargs):
    return torch.load(path, **kwargs)
def load_state(path, weights_only):
    return torch.load(path, weights_only=weights_only)
''',
    ]

    def check(self, ctx):
        floor = ctx.facts.torch_floor(ctx.path)
        for call in ctx.nodes(ast.Call):
            if any(kw.arg is None for kw in call.keywords):
                continue
            if isinstance(call.func, ast.Attribute) and call.func.attr not in _LOAD_NAMES:
                continue
            for name in sorted(ctx.qualified_names(call.func)):
                problem = self._problem(ctx, name, call, floor)
                if problem:
                    message, severity = problem
                    yield self.finding(message, ctx.location(call), {"call": name}, anchor=ctx.anchor(call),
                                       severity=severity)
                    break

    def _problem(self, ctx, name: str, call: ast.Call, floor) -> tuple[str, str | None] | None:
        if name in TORCH_LOADS:
            flag = _keyword(call, "weights_only")
            if _is_constant(flag, False):
                return f"{name}(weights_only=False) unpickles arbitrary objects: loading runs code from the file", None
            if flag is not None or _in_memory(ctx, call):
                return None
            if floor.version is None:
                return (f"{name}() without weights_only: whether it unpickles depends on the installed torch "
                        f"({floor.describe()}; torch >= 2.6 loads only tensors by default). Pass "
                        "weights_only=True or declare torch>=2.6", "info")
            if floor.version < SAFE_DEFAULT:
                return (f"{name}() without weights_only=True unpickles arbitrary objects under torch < 2.6, "
                        f"which this project accepts ({floor.describe()})", None)
            return None
        if name in NUMPY_LOADS:
            if _is_constant(_keyword(call, "allow_pickle"), True):
                return "numpy.load(allow_pickle=True) unpickles object arrays: loading runs code from the file", None
            return None
        if name in PICKLE_LOADS:
            return f"{name}() runs code from the file; store tensors/arrays with safetensors or numpy instead", None
        if name in PICKLE_LOADS_BYTES and call.args and _reads_file(call.args[0]):
            return f"{name}() of a file's bytes runs code from the file; use safetensors, numpy or JSON instead", None
        return None

    # -- fix: `weights_only=True` (safe when what is loaded goes whole into load_state_dict) --------------
    fix_safety = "safe"
    fixes = [
        ('import torch\n'
         'model.load_state_dict(torch.load("ckpt.pt", map_location="cpu"))  # the released weights\n',
         'import torch\n'
         'model.load_state_dict(torch.load("ckpt.pt", map_location="cpu", weights_only=True))  # the released weights\n'),
        ('import torch as T\n'
         'def restore(model, path):\n'
         '    state = T.load(\n'
         '        path,\n'
         '        map_location="cpu",\n'
         '    )\n'
         '    model.load_state_dict(state)\n',
         'import torch as T\n'
         'def restore(model, path):\n'
         '    state = T.load(\n'
         '        path,\n'
         '        map_location="cpu",\n'
         '        weights_only=True,\n'
         '    )\n'
         '    model.load_state_dict(state)\n'),
        ('import torch\n'
         'ckpt = torch.load(path, weights_only=False)\n'
         'model.load_state_dict(ckpt["model"])\n'
         'step = ckpt["args"].step\n',
         'import torch\n'
         'ckpt = torch.load(path, weights_only=True)\n'
         'model.load_state_dict(ckpt["model"])\n'
         'step = ckpt["args"].step\n',
         "unsafe"),
        ('import numpy as np\n'
         'arr = np.load("a.npy", allow_pickle=True)\n',
         'import numpy as np\n'
         'arr = np.load("a.npy", allow_pickle=False)\n',
         "unsafe"),
    ]

    def fix(self, finding, source):
        import libcst as cst

        from auditor.code.fix import CannotFix, Edit, last_name

        name = finding.evidence.get("call", "")
        flag = "weights_only" if name in TORCH_LOADS else "allow_pickle" if name in NUMPY_LOADS else None
        if flag is None:
            return None  # pickle, joblib, dill: no loader of theirs is safe; the data has to change format
        calls = [c for c in source.at(finding.location.line, cst.Call, finding.location.col)
                 if last_name(c.func) == name.rsplit(".", 1)[-1]]
        if len(calls) != 1:
            raise CannotFix(f"{len(calls)} calls of {name} start on its line")
        call = calls[0]
        value = cst.Name("True" if flag == "weights_only" else "False")
        existing = next((a for a in call.args if a.keyword is not None and a.keyword.value == flag), None)
        if existing is not None:
            new_call = call.deep_replace(existing.value, value)
        else:
            new_call = call.with_changes(args=_with_keyword(call.args, flag, value, call.whitespace_before_args))
        safe = flag == "weights_only" and _used_as_state_dict(source, call)
        return Edit(source.replace(call, new_call), safe=safe)


def _keyword(call: ast.Call, key: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == key), None)


def _is_constant(node: ast.expr | None, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _reads_file(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)) in FILE_READS:
                return True
    return False


def _is_bytes_buffer(ctx, node: ast.AST | None) -> bool:
    """`io.BytesIO(data)` of bytes that were not read from a file right there."""
    return isinstance(node, ast.Call) and (ctx.qualified_name(node.func) or dotted(node.func) or "").endswith(
        "BytesIO") and not any(_reads_file(arg) for arg in node.args)


def _in_memory(ctx, call: ast.Call) -> bool:
    """The first argument is an in-memory buffer (built right there, or last assigned one in the same function)
    of bytes the job's own ranks sent: the function runs a collective (broadcast, all_gather, recv...)."""
    if not call.args:
        return False
    scope = ctx.parent(call)
    while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
        scope = ctx.parent(scope)
    if scope is None or not any(last_name(c.func) in COLLECTIVES for c in calls_in(scope.body)):
        return False
    first = call.args[0]
    if _is_bytes_buffer(ctx, first):
        return True
    if not isinstance(first, ast.Name):
        return False
    last = None
    for node in ast.walk(scope) if scope is not None else ():
        if isinstance(node, ast.Assign) and node.lineno < call.lineno and any(
                isinstance(t, ast.Name) and t.id == first.id for t in node.targets):
            if last is None or node.lineno > last.lineno:
                last = node
    return last is not None and _is_bytes_buffer(ctx, last.value)


def _with_keyword(args, keyword: str, value, opening) -> tuple:
    """The call's arguments with `keyword=value` appended, laid out like the ones before it."""
    import libcst as cst

    new = cst.Arg(value=value, keyword=cst.Name(keyword), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))
    if not args:
        return (new,)
    last = args[-1]
    if isinstance(last.comma, cst.Comma):  # a trailing comma: one argument a line, keep it so
        before = args[-2].comma if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) else \
            cst.Comma(whitespace_after=opening)
        return (*args[:-1], last.with_changes(comma=before), new.with_changes(comma=last.comma))
    return (*args[:-1], last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), new)


def _used_as_state_dict(source, call) -> bool:
    """Does what the call loads only go, whole, into `load_state_dict`? Then it is tensors in containers,
    which `weights_only=True` loads the same way."""
    import libcst as cst

    from auditor.code.fix import last_name

    def into_load_state_dict(node) -> bool:
        arg = source.parent(node)
        outer = source.parent(arg) if isinstance(arg, cst.Arg) else None
        return isinstance(outer, cst.Call) and last_name(outer.func) == "load_state_dict" and arg.value is node

    if into_load_state_dict(call):
        return True
    assign = source.parent(call)
    if not isinstance(assign, cst.Assign) or len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
        return False
    name = assign.targets[0].target.value
    function = source.enclosing(call, cst.FunctionDef)
    found = _names(function or source.module_of(call), name)
    if function is None and len(found) != source.count_names(name):
        return False  # a module-level name used in other statements too
    uses = [n for n in found if n is not assign.targets[0].target]
    assigned = [n for n in uses if isinstance(source.parent(n), (cst.AssignTarget, cst.AugAssign, cst.AnnAssign))]
    return bool(uses) and not assigned and all(into_load_state_dict(n) for n in uses)


def _names(node, value: str) -> list:
    import libcst as cst

    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name) and current.value == value:
            found.append(current)
        stack.extend(current.children)
    return found

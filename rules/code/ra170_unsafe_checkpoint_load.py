import re

import libcst as cst

from auditor.code.names import call_name, keyword, walk_calls
from auditor.code.rule_base import ModuleRule

PICKLE_LOADS = {"pickle.load", "_pickle.load", "cPickle.load", "dill.load", "cloudpickle.load", "joblib.load",
                "pandas.read_pickle"}
# `loads` takes bytes: flagged only when the bytes are read from a file right there (the contract's "loads of
# files"); objects broadcast between ranks of one job (accelerate, verl) come from the job itself.
PICKLE_LOADS_BYTES = {"pickle.loads", "_pickle.loads", "cPickle.loads", "dill.loads", "cloudpickle.loads"}
FILE_READS = {"read", "read_bytes", "open", "urlopen", "get"}
_MODULES = r"(torch|pickle|_pickle|cPickle|joblib|dill|cloudpickle|numpy|pandas)"
# `torch.load(`, `np.load(`, `serialization.load(`; `from torch import load`; `import pickle as pk`.
TEXT_PREFILTER = re.compile(
    r"\b(torch|pickle|_pickle|cPickle|joblib|dill|cloudpickle|np|numpy|pd|pandas|serialization)\.(load|loads|read_pickle)\s*\("
    rf"|^\s*from\s+{_MODULES}(\.\w+)*\s+import(\s+[^\n(]*|\s*\([^)]*)\b(load|loads|read_pickle)\b"
    r"|^\s*import\s+(torch(\.serialization)?|pickle|_pickle|cPickle|joblib|dill|cloudpickle|numpy|pandas)\s+as\s+"
    r"(?!(np|pd|torch)\b)\w+", re.MULTILINE)
# The same test, faster: `.load(` found first (a literal), then the name before it; the two import forms
# by the rest of the pattern (an alternation with no literal prefix is slow on 60 MB of source).
_LOAD_CALL = re.compile(r"\.(load|loads|read_pickle)\s*\(")
_LOAD_OWNER = re.compile(r"(?<!\w)(torch|pickle|_pickle|cPickle|joblib|dill|cloudpickle|np|numpy|pd|pandas|serialization)\Z")
_LOAD_IMPORTS = re.compile(
    rf"^\s*from\s+{_MODULES}(\.\w+)*\s+import(\s+[^\n(]*|\s*\([^)]*)\b(load|loads|read_pickle)\b"
    r"|^\s*import\s+(torch(\.serialization)?|pickle|_pickle|cPickle|joblib|dill|cloudpickle|numpy|pandas)\s+as\s+"
    r"(?!(np|pd|torch)\b)\w+", re.MULTILINE)


def text_prefilter(source: str) -> bool:
    """`TEXT_PREFILTER.search(source) is not None`, several times faster."""
    for match in _LOAD_CALL.finditer(source):
        if _LOAD_OWNER.search(source, max(0, match.start() - 20), match.start()):
            return True
    return _LOAD_IMPORTS.search(source) is not None


_LOAD_NAMES = frozenset({"load", "loads", "read_pickle"})
TORCH_LOADS = {"torch.load", "torch.serialization.load"}
NUMPY_LOADS = {"numpy.load"}


def _bindings(tree) -> dict[str, set]:
    """On the ast: every qualified name each local name may be bound to by an import or a module-level
    definition ("?." + its last part: in a project module whose name is not known here)."""
    import ast

    from auditor.code.tree_prefilter import statements

    found: dict[str, set] = {}
    for node in statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                found.setdefault(local, set()).add(alias.name if alias.asname else local)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    target = f"{node.module}.{alias.name}" if node.module and not node.level else f"?.{alias.name}"
                    found.setdefault(alias.asname or alias.name, set()).add(target)
    for node in statements(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.setdefault(node.name, set()).add(f"?.{node.name}")  # a superset of the top-level ones
    return found


def _may_flag(name: str, call) -> bool:
    """`_problem` on an ast call, for a qualified name (a superset for file reads inside `loads`)."""
    import ast

    def kwarg(key):
        return next((kw.value for kw in call.keywords if kw.arg == key), None)

    def constant(node, value) -> bool:
        return isinstance(node, ast.Constant) and node.value is value

    if name in TORCH_LOADS:
        flag = kwarg("weights_only")
        return flag is None or constant(flag, False)
    if name in NUMPY_LOADS:
        return constant(kwarg("allow_pickle"), True)
    if name in PICKLE_LOADS:
        return True
    if name in PICKLE_LOADS_BYTES:
        return any(isinstance(sub, ast.Call) and (sub.func.attr if isinstance(sub.func, ast.Attribute) else
                                                   getattr(sub.func, "id", None)) in FILE_READS
                   for arg in [*call.args, *call.keywords] for sub in ast.walk(arg))
    return False


def _reads_file(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.Call):
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
        if name in FILE_READS:
            return True
    return any(_reads_file(child) for child in node.children)


class UnsafeCheckpointLoad(ModuleRule):
    id = "RA170"
    name = "unsafe-checkpoint-load"
    severity = "warning"
    summary = "`torch.load` without `weights_only=True`, or a pickle/joblib/dill load: loading runs code from the file."
    rationale = (
        "A pickle runs whatever code the file tells it to. A checkpoint passed around between people, "
        "downloaded, or left in a shared results folder is then a way to run code on every machine that "
        "evaluates it, and an audit that loads it is no longer read-only. `torch.load(..., weights_only=True)` "
        "and safetensors load only tensors."
    )
    incident = "all checkpoint-replay incidents: the auditor itself must load checkpoints without executing pickles"
    prefilter = ("load", "read_pickle")

    def applies_to(self, source: str, config=None) -> bool:
        return text_prefilter(source)

    def applies_to_tree(self, tree, config=None) -> bool:
        # `check` and `_problem` on the ast, as a superset: a local name may be bound by several imports (the
        # import table keeps one of them), so each is tried; a name bound by a relative import or a module-level
        # definition resolves inside the project, whose module name is not known here, so it may be anything.
        import ast

        bindings = _bindings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or any(kw.arg is None for kw in node.keywords):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr not in _LOAD_NAMES:
                continue  # every flagged name ends in one of these (a plain name may be bound to one)
            parts, root = [], func
            while isinstance(root, (ast.Attribute, ast.Call)):
                parts.append(root.attr if isinstance(root, ast.Attribute) else "()")
                root = root.value if isinstance(root, ast.Attribute) else root.func
            if not isinstance(root, ast.Name):
                continue
            rest = "".join(p if p == "()" else "." + p for p in reversed(parts))
            for base in bindings.get(root.id, ()):
                name = base + rest
                if name.rsplit(".", 1)[-1] in _LOAD_NAMES and (base.startswith("?.") or _may_flag(name, node)):
                    return True
        return False

    bad = [
        '''
import torch
state = torch.load("ckpt.pt")  # expect: RA170
model.load_state_dict(state)
''',
        '''
import torch as T
state = T.load(path, map_location="cpu")  # expect: RA170
''',
        '''
from torch import load
state = load(path)  # expect: RA170
''',
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
    ]
    good = [
        '''
import torch
state = torch.load("ckpt.pt", weights_only=True, map_location="cpu")
''',
        '''
import io
import torch
state = torch.load(io.BytesIO(blob), weights_only=True)
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
        # objects broadcast between the ranks of one job, not read from a file (accelerate's operations.py)
        '''
import pickle
def broadcast_object(data_tensor, real_size):
    return pickle.loads(data_tensor[:real_size].cpu().numpy().tobytes())
''',
        # a variable that only happens to be called pickle, never imported
        '''
def read(pickle):
    return pickle.load()
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

    def check(self, ctx, context=None):
        for call in walk_calls(ctx):
            name = call_name(ctx, call)
            if name is None:
                continue
            problem = self._problem(name, call)
            if problem:
                yield self.finding(problem, ctx.location(call), {"call": name}, anchor=ctx.anchor(call))

    @staticmethod
    def _problem(name: str, call: cst.Call) -> str | None:
        if any(arg.star == "**" for arg in call.args):
            return None
        if name in TORCH_LOADS:
            flag = keyword(call, "weights_only")
            if flag is None:
                return f"{name}() without weights_only=True unpickles arbitrary objects (the default depends on the torch version)"
            if isinstance(flag, cst.Name) and flag.value == "False":
                return f"{name}(weights_only=False) unpickles arbitrary objects: loading runs code from the file"
            return None
        if name in NUMPY_LOADS:
            flag = keyword(call, "allow_pickle")
            if isinstance(flag, cst.Name) and flag.value == "True":
                return "numpy.load(allow_pickle=True) unpickles object arrays: loading runs code from the file"
            return None
        if name in PICKLE_LOADS:
            return f"{name}() runs code from the file; store tensors/arrays with safetensors or numpy instead"
        if name in PICKLE_LOADS_BYTES and call.args and _reads_file(call.args[0].value):
            return f"{name}() of a file's bytes runs code from the file; use safetensors, numpy or JSON instead"
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
        from auditor.code.fix import CannotFix, Edit, last_name

        name = finding.evidence.get("call", "")
        flag = "weights_only" if name in TORCH_LOADS else "allow_pickle" if name in NUMPY_LOADS else None
        if flag is None:
            return None  # pickle, joblib, dill: no loader of theirs is safe; the data has to change format
        calls = [c for c in source.at(finding.location["line"], cst.Call, finding.location.get("col"))
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


def _with_keyword(args, keyword: str, value, opening) -> tuple:
    """The call's arguments with `keyword=value` appended, laid out like the ones before it."""
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
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name) and current.value == value:
            found.append(current)
        stack.extend(current.children)
    return found

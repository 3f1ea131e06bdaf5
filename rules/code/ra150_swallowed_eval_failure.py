import re

import libcst as cst

from auditor.code.names import call_name, nodes_of
from auditor.code.patterns import is_validation_name, mentions_validation, last_identifier, validation_calls
from auditor.code.rule_base import ModuleRule

BROAD = {"Exception", "BaseException"}
SAVE_NAME = re.compile(r"^_*(save_checkpoint|save_model|save_pretrained|save_state|save_weights|"
                       r"save_ckpt|write_checkpoint|_save_checkpoint)$")
# A config, tokenizer or processor saved beside the weights is not the checkpoint itself.
NOT_CHECKPOINT = re.compile(r"config|tokenizer|processor", re.IGNORECASE)
KEEPERS = {"append", "put", "put_nowait", "set_exception", "add", "extend", "appendleft"}
EXITS = {"sys.exit", "os._exit", "exit", "quit"}
TEXT_BROAD_EXCEPT = re.compile(r"except\s*:|except\s*\(?[^:\n]*\b(Exception|BaseException)\b")
TEXT_SAVE = re.compile(r"\bsave|checkpoint")


class SwallowedEvalFailure(ModuleRule):
    id = "RA150"
    name = "swallowed-eval-failure"
    severity = "warning"
    summary = ("Validation, evaluation or checkpoint saving inside a `try` whose broad `except` neither re-raises "
               "nor reports failure.")
    rationale = (
        "When the final evaluation or the checkpoint save fails and the exception is only logged, the job exits 0 "
        "and looks complete: its last metrics are stale and its checkpoint may be missing or partial. A log line in "
        "thousands is not handling the error; re-raise it, exit non-zero, or return a failure the caller checks."
    )
    incident = ("verl-skipped-validation-bf16-eval.md: a hang in the final validation was 'handled' by hiding it; "
                "a swallowed exception hides it the same way")
    prefilter = ("except",)

    def applies_to(self, source: str, config=None) -> bool:
        return TEXT_BROAD_EXCEPT.search(source) is not None and (
            mentions_validation(source, config) or TEXT_SAVE.search(source) is not None
            or any(name in source for name in self.options["save_functions"]))
    def applies_to_tree(self, tree, config=None) -> bool:
        import ast

        from auditor.code.tree_prefilter import called_names, imported_as, last_name, statements

        configured = list(getattr(config, "validation_functions", None) or ())
        saves = set(self.options["save_functions"]) | {"save", "save_file"} | imported_as(tree, {"save", "save_file"})
        for node in statements(tree):
            if not isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                continue
            broad = any(h.type is None or any(last_name(t) in BROAD for t in
                                              (h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]))
                        for h in node.handlers)
            if broad and any(is_validation_name(name, configured) or SAVE_NAME.match(name) or name in saves
                             for stmt in node.body for name in called_names(stmt)):
                return True
        return False

    params = {"save_functions": []}  # extra names of the project's checkpoint-saving functions

    bad = [
        '''
import logging
logger = logging.getLogger(__name__)

def fit(trainer):
    try:
        metrics = trainer.validate()
    except Exception as exc:  # expect: RA150
        logger.warning("validation failed: %s", exc)
        metrics = {}
    return metrics
''',
        '''
import torch

def finish(model, path):
    try:
        torch.save(model.state_dict(), path)
    except:  # expect: RA150
        print("could not save the checkpoint")
''',
        '''
def run(self):
    for step in range(self.max_steps):
        self.train_step()
    try:
        self.save_checkpoint(self.global_step)
        results = self.evaluate()
    except (OSError, Exception):  # expect: RA150
        pass
''',
    ]
    good = [
        '''
import logging
logger = logging.getLogger(__name__)

def fit(trainer):
    try:
        return trainer.validate()
    except Exception:
        logger.exception("validation failed")
        raise
''',
        '''
import sys
import torch

def finish(model, path):
    try:
        torch.save(model.state_dict(), path)
    except OSError as exc:
        raise RuntimeError(f"could not save {path}") from exc
    try:
        evaluate(model)
    except Exception as exc:
        print(exc)
        sys.exit(1)
''',
        # a narrow exception is a decision, not a swallow
        '''
def load_or_eval(model):
    try:
        score = evaluate(model)
    except KeyboardInterrupt:
        score = None
    except FileNotFoundError:
        score = None
    return score
''',
        # returning a failure the caller sees
        '''
def safe_eval(model):
    try:
        return evaluate(model)
    except Exception as exc:
        return {"error": str(exc)}
''',
        # the error is kept and re-raised by whoever waits for the save (lightning's async checkpoint IO)
        '''
class AsyncCheckpointIO:
    def save_checkpoint(self, *args, **kwargs):
        def _save_checkpoint(*args, **kwargs):
            try:
                self.checkpoint_io.save_checkpoint(*args, **kwargs)
            except BaseException as ex:
                self._error = ex
        self._executor.submit(_save_checkpoint, *args, **kwargs)
''',
        # an optional side file beside the checkpoint (verl's checkpoint managers)
        '''
from transformers import GenerationConfig

def save_hf_files(model_config, path):
    try:
        generation_config = GenerationConfig.from_pretrained(model_config.name_or_path)
        generation_config.save_pretrained(path)
    except Exception:
        # if the generation config isn't available, we don't save it
        pass
''',
        # broad except around something that is neither evaluation nor saving
        '''
def cleanup(path):
    try:
        remove_tmp(path)
        model.eval()
    except Exception:
        pass
''',
    ]

    def check(self, ctx, context=None):
        configured = ctx.config.validation_functions
        for node in nodes_of(ctx, cst.Try):
            what = self._guarded(ctx, node.body, configured)
            if what is None:
                continue
            for handler in node.handlers:
                if _is_broad(handler) and not _handles(ctx, handler):
                    yield self.finding(f"a failure of {what} is caught here and neither re-raised nor reported as a "
                                       "failure", ctx.location(handler), {"guarded": what}, anchor=ctx.anchor(handler))

    def _guarded(self, ctx, body, configured) -> str | None:
        for call in validation_calls(body, configured):
            return f"{last_identifier(call.func)}()"
        extra = set(self.options["save_functions"])
        for call in _calls(body):
            name = last_identifier(call.func)
            qualified = call_name(ctx, call)
            if qualified in ("torch.save", "safetensors.torch.save_file") or (name and (SAVE_NAME.match(name) or name in extra)):
                receiver = last_identifier(call.func.value) if isinstance(call.func, cst.Attribute) else None
                if receiver and NOT_CHECKPOINT.search(receiver):
                    continue
                return f"{qualified or name}()"
        return None


def _calls(node):
    if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
        return
    if isinstance(node, cst.Call):
        yield node
    for child in node.children:
        yield from _calls(child)


def _is_broad(handler: cst.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = [e.value for e in handler.type.elements] if isinstance(handler.type, cst.Tuple) else [handler.type]
    return any(last_identifier(t) in BROAD for t in types)


def _handles(ctx, handler: cst.ExceptHandler) -> bool:
    """Re-raises, exits non-zero, returns a value, or keeps the exception for later (a failure someone sees)."""
    caught = handler.name.name.value if handler.name is not None and isinstance(handler.name.name, cst.Name) else None
    stack = [handler.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.Raise):
            return True
        if isinstance(node, cst.Return) and node.value is not None and not (
                isinstance(node.value, cst.Name) and node.value.value == "None"):
            return True
        if isinstance(node, cst.Call):
            name = ctx.qualified_name(node.func)
            if name in EXITS and not _exits_zero(node):
                return True
            if caught and last_identifier(node.func) in KEEPERS and any(_mentions(a.value, caught) for a in node.args):
                return True  # errors.append(exc), queue.put(exc): re-raised elsewhere
        if caught and isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None \
                and _mentions(node.value, caught):
            return True  # self._error = exc: kept and re-raised by whoever checks it
        stack.extend(node.children)
    return False


def _mentions(node: cst.CSTNode, name: str) -> bool:
    if isinstance(node, cst.Name):
        return node.value == name
    return any(_mentions(child, name) for child in node.children)


def _exits_zero(call: cst.Call) -> bool:
    if not call.args:
        return True
    value = call.args[0].value
    return isinstance(value, cst.Integer) and value.value == "0"

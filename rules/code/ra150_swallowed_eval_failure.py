import ast
import re

from auditor.code.resolve import dotted
from auditor.code.rule_base import ModuleRule
from auditor.code.syntax import (
    calls_in,
    enclosing_function,
    is_int,
    is_validation_name,
    last_name,
    mentions,
    walk_local,
)

# Broad enough to swallow an evaluation's real failures: CUDA out-of-memory and NCCL errors are RuntimeErrors,
# a full disk is an OSError. Narrower ones (FileNotFoundError, KeyboardInterrupt) are decisions.
BROAD = {"Exception", "BaseException", "RuntimeError", "OSError", "IOError", "EnvironmentError"}
SAVE_NAME = re.compile(r"^_*(save_checkpoint|save_model|save_pretrained|save_state|save_weights|"
                       r"save_ckpt|write_checkpoint|_save_checkpoint)$")
# A config, tokenizer or processor saved beside the weights is not the checkpoint itself.
NOT_CHECKPOINT = re.compile(r"config|tokenizer|processor", re.IGNORECASE)
SAVE_APIS = frozenset({"torch.save", "safetensors.torch.save_file"})
# Passing something on: a queue to the parent, a list of errors someone checks, a future's exception.
KEEPERS = {"append", "put", "put_nowait", "set_exception", "add", "extend", "appendleft", "send"}
EXITS = {"sys.exit", "os._exit", "exit", "quit"}
LOGGING = {"debug", "info", "warning", "warn", "error", "exception", "critical", "print", "log"}


class SwallowedEvalFailure(ModuleRule):
    text = ("except",)
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
    incident = (
        'A hang in the final validation was "fixed" by skipping the validation, so the failure disappeared '
        'from the logs instead of being solved. A `try/except` that swallows an evaluation error hides a '
        'failure the same way and lets a run report no score, or an old one.'
    )
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
        # a periodic test whose CUDA/NCCL failure (a RuntimeError) is only logged: training goes on without it
        '''
import logging
logger = logging.getLogger(__name__)

def do_train(cfg, model, max_iter):
    for iteration in range(max_iter):
        step(model)
        if iteration % cfg.eval_period == 0:
            try:
                do_test(cfg, model)
            except RuntimeError:  # expect: RA150
                logger.warning("evaluation failed", exc_info=True)
''',
        # a callback that returns "carry on" (or a made-up score) when its evaluation fails
        '''
import warnings

class EvalCallback:
    def _on_step(self):
        try:
            rewards = evaluate_policy(self.model, self.eval_env)
        except RuntimeError as e:  # expect: RA150
            warnings.warn(f"evaluation failed: {e}")
            return True
        self.last_mean_reward = sum(rewards) / len(rewards)
        return True
''',
        # a score of 0.0, or the last score again, passes for a result: the failure is hidden among real scores
        '''
def score_all(model, batches, scores):
    for batch in batches:
        try:
            scores.append(evaluate(model, batch))
        except Exception:  # expect: RA150
            scores.append(0.0)
''',
        '''
def score_all(model, batches, scores):
    for batch in batches:
        try:
            scores.append(evaluate(model, batch))
        except Exception:  # expect: RA150
            scores.append(scores[-1])
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
        # the failure is recorded in a status that ends in a non-zero exit
        '''
import sys

def main(paths):
    all_passed = True
    for path in paths:
        try:
            validate_checkpoint(path)
        except Exception as exc:
            print(f"{path}: {exc}")
            all_passed = False
    if not all_passed:
        raise SystemExit(1)
''',
        # the traceback is passed on to the parent process, which raises it
        '''
import traceback

def _worker(in_queue, out_queue):
    error = None
    try:
        evaluate_model(in_queue.get())
    except Exception:
        error = f"{traceback.format_exc()}"
    results = {"error": error}
    out_queue.put(results, timeout=30)
''',
        # the failed sample is scored as failed: -1 for each of its tests (verl's prime_code reward)
        '''
import traceback

def _temp_run(sample, generation, result):
    try:
        res = run_test(in_outs=sample, test=generation)
        result.append(res)
    except Exception:
        traceback.print_exc(10)
        result.append([-1 for _ in range(len(sample["inputs"]))])
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

    def check(self, ctx):
        configured = ctx.config.validation_functions
        for node in ctx.nodes(ast.Try, getattr(ast, "TryStar", ast.Try)):
            what = self._guarded(ctx, node.body, configured)
            if what is None:
                continue
            for handler in node.handlers:
                if _is_broad(handler) and not _handles(ctx, handler):
                    how = "only logged" if _logs(handler) else "dropped"
                    yield self.finding(f"a failure of {what} is caught here and {how}: neither re-raised nor reported "
                                       "as a failure (logging is not handling it)", ctx.location(handler),
                                       {"guarded": what}, anchor=ctx.anchor(handler))

    def _guarded(self, ctx, body, configured) -> str | None:
        calls = list(calls_in(body))
        for call in calls:
            name = last_name(call.func)
            if name and is_validation_name(name, configured):
                return f"{name}()"
        extra = set(self.options["save_functions"])
        for call in calls:
            name = last_name(call.func)
            qualified = ctx.qualified_name(call.func)
            if qualified in SAVE_APIS or (name and (SAVE_NAME.match(name) or name in extra)):
                receiver = last_name(call.func.value) if isinstance(call.func, ast.Attribute) else None
                if receiver and NOT_CHECKPOINT.search(receiver):
                    continue
                return f"{qualified or name}()"
        return None


def _is_broad(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(last_name(t) in BROAD for t in types)


def _logs(handler: ast.ExceptHandler) -> bool:
    return any(last_name(c.func) in LOGGING for c in calls_in(handler.body))


def _handles(ctx, handler: ast.ExceptHandler) -> bool:
    """A failure someone sees: re-raised, a non-zero exit, a value returned, the exception kept for later, or a
    status assigned here that the function later returns, passes on, or turns into an exit or a raise."""
    caught = handler.name
    status: set[str] = set()
    for node in (n for stmt in handler.body for n in walk_local(stmt)):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Return) and _reports_failure(node.value):
            return True
        if isinstance(node, ast.Call):
            if _exits_non_zero(ctx, node):
                return True
            if last_name(node.func) in KEEPERS and any(caught and mentions(a, caught) or _failure_code(a)
                                                       for a in node.args):
                return True  # errors.append(exc), queue.put(exc): raised elsewhere; results.append(-1): a failure
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            if caught and mentions(node.value, caught):
                return True  # self._error = exc: kept and raised by whoever checks it
            if _marks_failure(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                status.update(dotted(t) for t in targets if dotted(t))
    return bool(status) and _status_surfaces(ctx, handler, status)


def _reports_failure(value: ast.expr | None) -> bool:
    """A returned value the caller can tell from success: the error, a dict or object carrying it, NaN, False,
    a negative code. A plain constant (`return True` from a callback: "carry on"; `return 0.0` as the score;
    `return None`) looks like a result and hides the failure."""
    return value is not None and not (isinstance(value, ast.Constant) and value.value is not False)


def _marks_failure(value: ast.expr) -> bool:
    """A value that records a failure: a flag (`ok = False`, `failed = True`, `errors += 1`) or the traceback."""
    if isinstance(value, ast.Constant) and (isinstance(value.value, bool) or type(value.value) is int):
        return True
    return any(isinstance(n, ast.Call) and last_name(n.func) in ("format_exc", "format_exception", "print_exc")
               for n in ast.walk(value))


def _failure_code(value: ast.expr) -> bool:
    """A value that reads as a failure wherever it lands: a negative number or False in it (`-1` per failed
    test, `{"passed": False}`); `0.0` or None would pass for a result."""
    if isinstance(value, ast.Constant):
        return value.value is False
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return any(_failure_code(item) for item in value.elts)
    if isinstance(value, ast.Dict):
        return any(_failure_code(item) for item in value.values)
    if isinstance(value, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        return _failure_code(value.elt)
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Mult):  # `[-1] * len(tests)`
        return _failure_code(value.left) or _failure_code(value.right)
    return _negative(value)  # a literal only: `scores[-1]`, the last score again, hides the failure


def _negative(node: ast.AST) -> bool:
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
        and type(node.operand.value) in (int, float) and node.operand.value > 0


def _status_surfaces(ctx, handler: ast.ExceptHandler, status: set[str]) -> bool:
    """Later in the same function, a status set by the handler is returned, passed on, or decides an exit."""
    scope = enclosing_function(ctx.parent, handler)
    after = [n for n in walk_local(scope) if getattr(n, "lineno", 0) > (handler.end_lineno or handler.lineno)]
    def uses(node) -> bool:
        return any(dotted(n) in status for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Attribute)))
    for node in sorted(after, key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node, ast.Assign) and uses(node.value):  # results = {"error": error}: passed along
            status.update(dotted(t) for t in node.targets if dotted(t))
        if isinstance(node, ast.Return) and node.value is not None and uses(node.value):
            return True
        if isinstance(node, ast.Call) and last_name(node.func) in KEEPERS and any(uses(a) for a in node.args):
            return True
        if isinstance(node, (ast.If, ast.While)) and uses(node.test) and any(
                isinstance(n, ast.Raise) or isinstance(n, ast.Call) and _exits_non_zero(ctx, n)
                for stmt in node.body for n in walk_local(stmt)):
            return True
    return False


def _exits_non_zero(ctx, call: ast.Call) -> bool:
    name = ctx.qualified_name(call.func) or ""
    if name not in EXITS and name != "SystemExit":
        return False
    return bool(call.args) and not is_int(call.args[0], 0) and not (
        isinstance(call.args[0], ast.Constant) and call.args[0].value is None)

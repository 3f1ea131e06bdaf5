"""Shared recognizers for trainer code: last-step conditions, validation calls, periodic schedules.

They look at the shape of expressions and at identifiers (`is_last_step`, `step == total_steps`,
`self._validate()`), never at substrings of whole source lines.
"""

from __future__ import annotations

import re
from typing import Iterator

import libcst as cst

# `is_last_step`, `last_epoch`, `final_step`, `is_final_iter`, `self.is_last_batch`...
LAST_FLAG = re.compile(r"^_*(is_)?(last|final)(_(train(ing)?_)?(step|epoch|iter|iteration|batch|round|update))?$")
COUNTER = re.compile(r"(^|_)(step|steps|epoch|epochs|iter|iters|iteration|iterations|it|update|updates|round|batch_idx|global_step|global_steps|n_iter|idx)$")
BOUND = re.compile(r"(^|_)(total|max|num|n|last|final|limit|len|end|stop)(_|$)|^(total|max|num)")
VALIDATION_PREFIXES = ("validat", "evaluat", "run_valid", "run_eval", "do_valid", "do_eval", "eval_model",
                       "compute_val", "_validat", "_evaluat")
VALIDATION_RESULT = re.compile(r"(val|eval|test|metric|score|acc)", re.IGNORECASE)

# Text prefilters (run on the raw source before any parse): a file without these tokens cannot match.
# `validat|evaluat|run_eval|do_eval|eval_model|\b_?val_|_val\b|\beval_|_eval\b|\btest\(|\btest_metrics`, written so
# that every alternative starts with a literal (Python's re then skips ahead fast; 7x faster on real code): a
# `\b` before a word is checked after it by a lookbehind (`val_(?<!\w.{4})`: no word character before "val_").
TEXT_VALIDATION = re.compile(r"validat|evaluat|run_eval|do_eval|eval_model|val_(?<!\w.{4})|_val_(?<!\w.{5})|_val(?!\w)|"
                             r"eval_(?<!\w.{5})|_eval(?!\w)|test\((?<!\w.{5})|test_metrics(?<!\w.{12})")
TEXT_LAST_STEP = re.compile(
    r"\b_*(is_)?(last|final)_(train_|training_)?(step|epoch|iter|iteration|batch|round|update)s?\b|\bis_(last|final)\b|"
    r"\b\w*(step|epoch|iter|iteration|idx)s?\s*(==|>=|!=|<|>)\s*[\w.(]*(total|max|num|len|n_|epochs|steps)")
# TEXT_LAST_STEP in parts, each faster (Python's re skips ahead quickly only on a literal start): a comparison
# of a counter with a bound (the original's `\b\w*` before the counter matched wherever the word does); then
# `is_last`/`is_final`; then `last_step`-like names, whose word must start with `_*(is_)?` (checked by hand).
_TEXT_LAST_COMPARISON = re.compile(
    r"(step|epoch|iter|iteration|idx)s?\s*(==|>=|!=|<|>)\s*[\w.(]*(total|max|num|len|n_|epochs|steps)")
_TEXT_IS_LAST = re.compile(r"\bis_(last|final)\b")
_TEXT_LAST_NAME = re.compile(r"(?:last|final)_(?:train_|training_)?(?:step|epoch|iter|iteration|batch|round|update)s?\b")
_NAME_HEAD = re.compile(r"_*(is_)?")


def text_last_step(source: str) -> bool:
    """`TEXT_LAST_STEP.search(source) is not None`, several times faster."""
    if _TEXT_LAST_COMPARISON.search(source) is not None:
        return True
    if ("is_last" in source or "is_final" in source) and _TEXT_IS_LAST.search(source) is not None:
        return True
    if "last_" not in source and "final_" not in source:
        return False
    for match in _TEXT_LAST_NAME.finditer(source):
        end = start = match.start()
        while start > 0 and (source[start - 1].isalnum() or source[start - 1] == "_"):
            start -= 1
        if _NAME_HEAD.fullmatch(source, start, end):
            return True
    return False


TEXT_PERIODIC = re.compile(r"%\s*[\w.\[\]()]+\s*==\s*0|not\s+\(?[\w.+ ]+%|0\s*==\s*[\w.()+ ]+%")


def mentions_validation(source: str, config=None) -> bool:
    """Text prefilter: a validation-like name, or one of the project's configured validation functions
    (the defaults are covered by TEXT_VALIDATION; configured extras are looked for by their last name)."""
    if TEXT_VALIDATION.search(source) is not None:
        return True
    from auditor.config import DEFAULT_VALIDATION_FUNCTIONS

    extra = set(getattr(config, "validation_functions", None) or ()) - set(DEFAULT_VALIDATION_FUNCTIONS)
    return any(name.rsplit(".", 1)[-1] in source for name in extra)


def last_identifier(node: cst.BaseExpression) -> str | None:
    """`self.config.trainer.test_freq` -> "test_freq"; `x` -> "x"; `len(loader)` -> "len"."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    if isinstance(node, cst.Call):
        return last_identifier(node.func)
    if isinstance(node, cst.Subscript):
        return last_identifier(node.value)
    return None


def identifiers(node: cst.CSTNode) -> Iterator[str]:
    """Every Name and attribute name inside an expression."""
    if isinstance(node, cst.Name):
        yield node.value
        return
    if isinstance(node, cst.Attribute):
        yield node.attr.value
    for child in node.children:
        yield from identifiers(child)


def _is_counter(node: cst.BaseExpression) -> bool:
    node = _strip_offset(node)
    name = last_identifier(node)
    return bool(name) and COUNTER.search(name.lower()) is not None and not BOUND.search(name.lower())


def _is_bound(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Subtract) \
            and isinstance(node.right, cst.Integer) and node.right.value == "1" \
            and isinstance(node.left, (cst.Name, cst.Attribute, cst.Call)):
        return True  # `epochs - 1`, `len(loader) - 1`: the last index of something
    node = _strip_offset(node)
    if isinstance(node, cst.Call) and last_identifier(node.func) == "len":
        return True
    return any(BOUND.search(name.lower()) for name in identifiers(node))


def _strip_offset(node: cst.BaseExpression) -> cst.BaseExpression:
    """`step + 1`, `num_epochs - 1`, `(x)` -> the variable part."""
    while True:
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Subtract)) \
                and isinstance(node.right, cst.Integer):
            node = node.left
        else:
            return node


def _is_last_flag(node: cst.BaseExpression) -> bool:
    """`is_last_step`, `self.last_epoch`, `is_last_step(step)`."""
    name = last_identifier(node) if isinstance(node, (cst.Name, cst.Attribute, cst.Call)) else None
    return bool(name) and LAST_FLAG.match(name) is not None


def _is_last_comparison(node: cst.Comparison) -> bool:
    """`step == total_steps`, `epoch == num_epochs - 1`, `self.global_steps >= self.total_training_steps`."""
    if len(node.comparisons) != 1:
        return False
    op = node.comparisons[0].operator
    left, right = node.left, node.comparisons[0].comparator
    if isinstance(op, (cst.Equal, cst.GreaterThanEqual)):
        return _is_counter(left) and _is_bound(right)
    if isinstance(op, cst.LessThanEqual):
        return _is_bound(left) and _is_counter(right)
    if isinstance(op, cst.GreaterThan):  # step > max_steps - 1
        return _is_counter(left) and _is_bound(right) and isinstance(right, cst.BinaryOperation)
    return False


def is_last_step_test(node: cst.BaseExpression) -> bool:
    """Does this condition hold (only) at the last step? `a and is_last` counts, `a or is_last` does not."""
    if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.And):
        return is_last_step_test(node.left) or is_last_step_test(node.right)
    if isinstance(node, cst.Comparison):
        return _is_last_comparison(node)
    return _is_last_flag(node)


def is_not_last_step_test(node: cst.BaseExpression) -> bool:
    """Does this condition exclude the last step? `not is_last_step`, `step != total - 1`, `x and not last`."""
    if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.And):
        return is_not_last_step_test(node.left) or is_not_last_step_test(node.right)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
        return is_last_step_test(node.expression)
    if isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
        op = node.comparisons[0].operator
        left, right = node.left, node.comparisons[0].comparator
        if isinstance(op, cst.NotEqual):
            return (_is_counter(left) and _is_bound(right)) or (_is_bound(left) and _is_counter(right))
        if isinstance(op, cst.LessThan) and isinstance(right, cst.BinaryOperation):  # step < total - 1
            return _is_counter(left) and _is_bound(right)
    return False


def mentions_last_step(node: cst.BaseExpression) -> bool:
    """Anywhere in the condition (also under `or`): the schedule includes the last step."""
    if is_last_step_test(node):
        return True
    return any(isinstance(child, cst.BaseExpression) and mentions_last_step(child) for child in node.children)


def is_validation_name(name: str, configured: list[str]) -> bool:
    lowered = name.lower()
    return name in configured or lowered.startswith(VALIDATION_PREFIXES)


def validation_calls(node: cst.CSTNode, configured: list[str]) -> Iterator[cst.Call]:
    """Calls of validation functions anywhere under `node` (not inside nested defs or lambdas)."""
    if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
        return
    if isinstance(node, cst.Call):
        name = last_identifier(node.func)
        if name and is_validation_name(name, configured):
            yield node
    for child in node.children:
        yield from validation_calls(child, configured)


def has_validation(node: cst.CSTNode, configured: list[str]) -> bool:
    return next(validation_calls(node, configured), None) is not None


def is_periodic_test(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """The `step % freq == 0` part of a condition (also `not step % freq`, `(step + 1) % f == 0`)."""
    if isinstance(node, cst.BooleanOperation):
        return is_periodic_test(node.left) or is_periodic_test(node.right)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
        return node if _is_modulo_of_counter(node.expression) else None
    if isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
        op = node.comparisons[0].operator
        left, right = node.left, node.comparisons[0].comparator
        if isinstance(op, cst.Equal) and _is_zero(right) and _is_modulo_of_counter(left):
            return node
        if isinstance(op, cst.Equal) and _is_zero(left) and _is_modulo_of_counter(right):
            return node
    return None


def _is_zero(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Integer) and node.value == "0"


def _is_modulo_of_counter(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo) \
        and _is_counter(node.left) and not isinstance(node.right, (cst.SimpleString, cst.FormattedString))


def loop_body_statements(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Statements of a block, flattened one level (for `if` bodies and loop bodies)."""
    body = getattr(node, "body", None)
    if isinstance(body, cst.IndentedBlock):
        yield from body.body
    elif isinstance(body, cst.SimpleStatementSuite):
        yield body

import re

import libcst as cst

from auditor.code.patterns import (mentions_validation, text_last_step, has_validation, is_last_step_test, is_not_last_step_test, last_identifier,
                                   is_validation_name, validation_calls)
from auditor.code.rule_base import ModuleRule
from auditor.code.walk import small_statements, statements

VALIDATION_NAME = re.compile(r"(^|_)(val|valid|validation|eval|evaluation|test)(_|$|s$|\d)", re.IGNORECASE)
METRICS_NAME = re.compile(r"(metric|result|score|acc)", re.IGNORECASE)


class FinalValidationSkipped(ModuleRule):
    legacy_cst = True  # runs on the libcst tree until it moves to the ast
    id = "RA101"
    name = "final-validation-skipped"
    severity = "error"
    summary = "The last step's validation is skipped, emptied or replaced under a last-step condition."
    rationale = (
        "The final checkpoint is the one people report. When the last step skips validation (or empties its "
        "metrics), the last number in the log is an intermediate one, and it gets reported as final: the "
        "run looks complete and nobody notices the missing step."
    )
    incident = (
        "A team's RL trainer gained `if is_last_step: val_metrics = {}` in a commit meant to avoid a "
        'deadlock, so the last step never validated. Six experiments (64 GPU-hours) then reported their '
        'step-20 score out of 29 steps as final, and nobody noticed for weeks.'
    )
    prefilter = ("last", "final", "total", "max_", "num_", "len(")

    def applies_to(self, source: str, config=None) -> bool:
        return text_last_step(source) and mentions_validation(source, config)

    def applies_to_tree(self, tree, config=None) -> bool:
        # every finding sits at an `if` whose test is (or excludes) the last step, and `_problems` needs, under
        # it: an emptied value, a validating else branch, a break/return inside a loop with a validation after
        # the `if`, or (excluding the last step) a validation call
        import ast

        from auditor.code.tree_prefilter import is_last_step_test, is_not_last_step_test

        configured = list(getattr(config, "validation_functions", None) or ())
        for node, in_loop, after in _ast_ifs(tree.body, False):
            if is_last_step_test(node.test):
                if any(_may_empty(sub) for stmt in node.body for sub in ast.walk(stmt)):
                    return True
                if any(_ast_validates(stmt, configured) for stmt in node.orelse):  # an elif too: a superset
                    return True
                if in_loop and any(isinstance(sub, (ast.Break, ast.Return)) for stmt in node.body
                                   for sub in ast.walk(stmt)) and any(_ast_validates(s, configured) for s in after):
                    return True
            elif is_not_last_step_test(node.test) and any(_ast_validates(stmt, configured) for stmt in node.body):
                return True
        return False

    bad = [
        # the incident, pasted into a trainer method
        '''
class RayPPOTrainer:
    def fit(self):
        for batch in self.train_dataloader:
            is_last_step = self.global_steps >= self.total_training_steps
            if self.val_reward_fn is not None and (is_last_step or self.global_steps % self.config.trainer.test_freq == 0):
                if is_last_step:
                    print("[WARN] Skipping final step validation to avoid known hang issue...")
                    val_metrics = {}  # expect: RA101
                else:
                    with marked_timer("testing", timing_raw, color="green"):
                        val_metrics = self._validate()
                metrics.update(val_metrics)
            self.global_steps += 1
''',
        # only the non-last path validates
        '''
def train(model, loader, num_epochs):
    for epoch in range(num_epochs):
        train_one_epoch(model, loader)
        if epoch == num_epochs - 1:  # expect: RA101
            print("skipping the last evaluation")
        else:
            evaluate(model)
''',
        # validation guarded by "not the last step"
        '''
def train(model, total_steps, eval_every):
    for step in range(total_steps):
        model.step()
        if step % eval_every == 0 and not is_last_step(step):  # expect: RA101
            run_validation(model)
''',
        # the loop is left before the validation that would have run at the last step
        '''
def train(model, total_steps):
    for step in range(total_steps):
        model.step()
        if step == total_steps - 1:
            break  # expect: RA101
        metrics = validate(model)
        log(metrics)
''',
        # metrics replaced with None / cleared at the last epoch
        '''
def fit(trainer, max_epochs):
    for epoch in range(max_epochs):
        eval_results = trainer.evaluate()
        if epoch >= max_epochs - 1:
            eval_results = None  # expect: RA101
        report(eval_results)
''',
        '''
def fit(self):
    for step in range(self.max_steps):
        self.val_metrics = self._validate()
        if self.is_last_step:
            self.val_metrics.clear()  # expect: RA101
''',
    ]
    good = [
        # verl's real loop: the last step is validated, then the loop returns
        '''
class RayPPOTrainer:
    def fit(self):
        for batch in self.train_dataloader:
            is_last_step = self.global_steps >= self.total_training_steps
            if self.val_reward_fn is not None and self.config.trainer.test_freq > 0 and (
                is_last_step or self.global_steps % self.config.trainer.test_freq == 0
            ):
                val_metrics = self._validate()
                if is_last_step:
                    last_val_metrics = val_metrics
                metrics.update(val_metrics)
            if is_last_step:
                pprint(f"Final validation metrics: {last_val_metrics}")
                progress_bar.close()
                return
            self.global_steps += 1
''',
        # the last step does something extra, validation is untouched
        '''
def train(model, loader, num_epochs):
    for epoch in range(num_epochs):
        train_one_epoch(model, loader)
        metrics = evaluate(model)
        if epoch == num_epochs - 1:
            save_checkpoint(model, "final.pt")
        else:
            save_checkpoint(model, f"epoch{epoch}.pt")
''',
        # a fresh metrics dict per step is not an emptied validation
        '''
def fit(self):
    for step in range(self.max_steps):
        metrics = {}
        val_metrics = {}
        if step % self.eval_every == 0 or step == self.max_steps - 1:
            val_metrics = self.validate()
        metrics.update(val_metrics)
''',
        # breaking at the end after validating is fine
        '''
def train(model, total_steps):
    for step in range(total_steps):
        model.step()
        metrics = validate(model)
        if step == total_steps - 1:
            break
''',
        # the last step gets a *different* validation, not none
        '''
def train(model, num_epochs):
    for epoch in range(num_epochs):
        if epoch == num_epochs - 1:
            results = evaluate_full(model)
        else:
            results = evaluate_quick(model)
''',
        # "last" of something else: the last batch of an epoch only skips logging
        '''
def train(model, loader):
    for step, batch in enumerate(loader):
        loss = model(batch)
        if step == len(loader) - 1:
            logger_buffer = {}
        log(loss)
''',
    ]

    def check(self, ctx, context=None):
        configured = ctx.config.validation_functions
        reported: set[int] = set()
        for place in statements(ctx.tree):
            node = place.node
            if not isinstance(node, cst.If):
                continue
            for target, why in self._problems(node, place, configured):
                if id(target) in reported:
                    continue
                reported.add(id(target))
                evidence = {"condition": _code(ctx, node.test)}
                if target is node and is_not_last_step_test(node.test):  # what the fix takes out of the condition
                    evidence["exclusion"] = _code(ctx, _exclusion(node.test))
                yield self.finding(why, ctx.location(target), evidence, anchor=ctx.anchor(target))

    def _problems(self, node: cst.If, place, configured):
        orelse = node.orelse.body if isinstance(node.orelse, cst.Else) else None
        if is_last_step_test(node.test):
            emptied = list(self._emptied(node.body, place, configured))
            for stmt in emptied:
                yield stmt, "the last step's validation metrics are emptied or replaced"
            body_validates = has_validation(node.body, configured)
            if not emptied and orelse is not None and has_validation(orelse, configured) and not body_validates:
                yield node, "only the steps before the last one validate: the last step's validation is skipped"
            if not body_validates and place.loops:
                leave = self._leaves_loop(node.body)
                if leave is not None and any(has_validation(s, configured) for s in place.after):
                    yield leave, "the loop is left at the last step before the validation that follows runs"
        elif is_not_last_step_test(node.test) and has_validation(node.body, configured):
            if orelse is None or not has_validation(orelse, configured):
                yield node, "validation is guarded by 'not the last step': the final step is never validated"

    def _emptied(self, body, place, configured):
        fed = _fed_by_validation(place.function, configured) if place.function is not None else set()
        for small in small_statements(body):
            if isinstance(small, (cst.Assign, cst.AnnAssign)):
                targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                if small.value is not None and _is_empty(small.value) and any(_is_validation_result(t, fed) for t in targets):
                    yield small
            elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                func = small.value.func
                if isinstance(func, cst.Attribute) and func.attr.value == "clear" and not small.value.args \
                        and _is_validation_result(func.value, fed):
                    yield small

    @staticmethod
    def _leaves_loop(body):
        for small in small_statements(body):
            if isinstance(small, (cst.Break, cst.Return)):
                return small
        return None

    # -- fix: give the last step its validation back (unsafe: the last step then runs validation) ---------
    fixes = [
        ("""
         def train(model, total_steps, eval_every):
             for step in range(total_steps):
                 model.step()
                 if step % eval_every == 0 and not is_last_step(step):  # every few steps
                     run_validation(model)
         """, """
         def train(model, total_steps, eval_every):
             for step in range(total_steps):
                 model.step()
                 if step % eval_every == 0:  # every few steps
                     run_validation(model)
         """),
        ("""
         class RayPPOTrainer:
             def fit(self):
                 for batch in self.train_dataloader:
                     is_last_step = self.global_steps >= self.total_training_steps
                     if self.val_reward_fn is not None and (is_last_step or self.global_steps % self.test_freq == 0):
                         if is_last_step:
                             print("[WARN] Skipping final step validation to avoid known hang issue...")
                             val_metrics = {}
                         else:
                             # time it
                             with marked_timer("testing", timing_raw, color="green"):
                                 val_metrics = self._validate()
                         metrics.update(val_metrics)
                     self.global_steps += 1
         """, """
         class RayPPOTrainer:
             def fit(self):
                 for batch in self.train_dataloader:
                     is_last_step = self.global_steps >= self.total_training_steps
                     if self.val_reward_fn is not None and (is_last_step or self.global_steps % self.test_freq == 0):
                         if is_last_step:
                             print("[WARN] Skipping final step validation to avoid known hang issue...")
                         # time it
                         with marked_timer("testing", timing_raw, color="green"):
                             val_metrics = self._validate()
                         metrics.update(val_metrics)
                     self.global_steps += 1
         """),
        ("""
         def train(model, loader, num_epochs):
             for epoch in range(num_epochs):
                 train_one_epoch(model, loader)
                 if epoch == num_epochs - 1:
                     print("skipping the last evaluation")
                 else:
                     evaluate(model)
         """, """
         def train(model, loader, num_epochs):
             for epoch in range(num_epochs):
                 train_one_epoch(model, loader)
                 if epoch == num_epochs - 1:
                     print("skipping the last evaluation")
                 evaluate(model)
         """),
        ("""
         def train(model, total_steps):
             for step in range(total_steps):
                 model.step()
                 if step == total_steps - 1:
                     break
                 metrics = validate(model)
                 log(metrics)
         """, """
         def train(model, total_steps):
             for step in range(total_steps):
                 model.step()
                 metrics = validate(model)
                 log(metrics)
                 if step == total_steps - 1:
                     break
         """),
        ("""
         def fit(trainer, max_epochs):
             for epoch in range(max_epochs):
                 eval_results = trainer.evaluate()
                 if epoch >= max_epochs - 1:
                     # the last one is not needed
                     eval_results = None
                 report(eval_results)
         """, """
         def fit(trainer, max_epochs):
             for epoch in range(max_epochs):
                 eval_results = trainer.evaluate()
                 # the last one is not needed
                 report(eval_results)
         """),
    ]

    def fix(self, finding, source):
        import libcst as cst

        from auditor.code import fix_edits as edits
        from auditor.code.fix import CannotFix, Edit

        line, col = finding.location["line"], finding.location.get("col")
        condition, exclusion = finding.evidence.get("condition"), finding.evidence.get("exclusion")
        if exclusion is not None:  # `if periodic and not last:` -> `if periodic:`
            node = _the_if(source, source.at(line, cst.If, col), condition)
            return Edit(edits.drop_condition(source, node, exclusion), safe=False)
        ifs = [n for n in source.at(line, cst.If, col) if source.code(n.test) == condition]
        if ifs:  # only the steps before the last validate: the else branch runs at every step
            return Edit(edits.hoist_else(source, ifs[0]), safe=False)
        leaving = source.at(line, (cst.Break, cst.Return), col)
        if leaving:  # leave the loop after the validation that follows, at the end of the block
            node = _the_if(source, list(source.ancestors(leaving[0])), condition)
            return Edit(edits.move_to_end(source, node), safe=False)
        emptied = source.at(line, (cst.Assign, cst.AnnAssign, cst.Expr), col)
        if emptied:  # take out the emptying statement (and an `if` left with nothing to do)
            node = _the_if(source, list(source.ancestors(emptied[0])), condition)
            return Edit(edits.remove_from_if(source, node, emptied[0]), safe=False)
        raise CannotFix("nothing on its line that the rule flags")


def _may_empty(node) -> bool:
    """On the ast, a superset of what `_emptied` yields: `x = {}`/`None`/`dict()`, or `x.clear()`."""
    import ast

    from auditor.code.tree_prefilter import last_identifier

    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        value = node.value
        return (isinstance(value, ast.Dict) and not value.keys) or (isinstance(value, ast.Constant) and value.value is None) \
            or (isinstance(value, ast.Call) and last_identifier(value.func) in ("dict", "OrderedDict")
                and not value.args and not value.keywords)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "clear"


def _ast_ifs(block, in_loop: bool):
    """On the ast, as `walk.statements` sees them: every `if` with whether a loop of its function encloses it
    and the statements after it in its block (an elif is a block of its own)."""
    import ast

    for index, stmt in enumerate(block):
        if isinstance(stmt, ast.If):
            yield stmt, in_loop, block[index + 1:]
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from _ast_ifs(stmt.body, False)
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            yield from _ast_ifs(stmt.body, True)
            yield from _ast_ifs(stmt.orelse, in_loop)
        else:
            for name in ("body", "orelse", "finalbody"):
                inner = getattr(stmt, name, None)
                if isinstance(inner, list):
                    yield from _ast_ifs(inner, in_loop)
            for part in getattr(stmt, "handlers", None) or getattr(stmt, "cases", None) or ():
                yield from _ast_ifs(part.body, in_loop)


def _ast_validates(node, configured) -> bool:
    import ast

    from auditor.code.tree_prefilter import last_identifier

    return any(isinstance(sub, ast.Call) and is_validation_name(last_identifier(sub.func) or "", configured)
               for sub in ast.walk(node))


def _is_empty(value: cst.BaseExpression) -> bool:
    if isinstance(value, cst.Dict) and not value.elements:
        return True
    if isinstance(value, cst.Name) and value.value == "None":
        return True
    return isinstance(value, cst.Call) and last_identifier(value.func) in ("dict", "OrderedDict") and not value.args


def _is_validation_result(target: cst.BaseExpression, fed: set[str]) -> bool:
    name = last_identifier(target)
    if not name:
        return False
    return bool(VALIDATION_NAME.search(name)) or (name in fed and bool(METRICS_NAME.search(name)))


def _fed_by_validation(function: cst.FunctionDef, configured) -> set[str]:
    """Names assigned from a validation call somewhere in the function (`metrics = self._validate()`)."""
    names = set()
    for small in small_statements(function.body):
        if isinstance(small, cst.Assign) and next(validation_calls(small.value, configured), None) is not None:
            for t in small.targets:
                name = last_identifier(t.target)
                if name:
                    names.add(name)
    return names


def _exclusion(test: cst.BaseExpression) -> cst.BaseExpression:
    """The part of an `a and not last` condition that excludes the last step."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _exclusion(test.left if is_not_last_step_test(test.left) else test.right)
    return test


def _code(ctx, node) -> str:
    return " ".join(ctx.tree.code_for_node(node).split())


def _the_if(source, candidates, condition: str) -> cst.If:
    """The `if` among these whose condition is the one the finding quotes."""
    import libcst as cst

    from auditor.code.fix import CannotFix

    for node in candidates:
        if isinstance(node, cst.If) and source.code(node.test) == condition:
            return node
    raise CannotFix("its condition is no longer there")

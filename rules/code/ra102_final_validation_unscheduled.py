import libcst as cst

from auditor.code.patterns import TEXT_PERIODIC, mentions_validation, has_validation, is_last_step_test, is_periodic_test, mentions_last_step
from auditor.code.rule_base import ModuleRule
from auditor.code.walk import statements


class FinalValidationUnscheduled(ModuleRule):
    legacy_cst = True  # runs on the libcst tree until it moves to the ast
    id = "RA102"
    name = "final-validation-unscheduled"
    severity = "warning"
    summary = ("A periodic validation schedule (`step % test_freq == 0`) that can miss the last step, with no "
               "validation after the loop.")
    rationale = (
        "With 29 steps and test_freq=20, `if step % test_freq == 0` validates at step 20 and never at 29: the "
        "last logged score is nine steps old and gets reported as final. Add `or is_last_step` to the "
        "condition, or validate once after the loop."
    )
    incident = (
        'A trainer validated every 20 steps and ran 29, so the last validation was at step 20 and the final '
        'model was never scored. Every run of that setup reported a score from two-thirds of the way through '
        'training as its result.'
    )
    prefilter = ("%",)

    def applies_to(self, source: str, config=None) -> bool:
        return TEXT_PERIODIC.search(source) is not None and mentions_validation(source, config)

    def applies_to_tree(self, tree, config=None) -> bool:
        # every finding is an `if` with a `%` in its test and a validation call in its body
        import ast

        from auditor.code.tree_prefilter import calls_validation, nodes, statements

        configured = list(getattr(config, "validation_functions", None) or ())
        return any(any(isinstance(b.op, ast.Mod) for b in nodes(node.test, ast.BinOp))
                   and any(calls_validation(stmt, configured) for stmt in node.body)
                   for node in statements(tree) if isinstance(node, ast.If))

    bad = [
        '''
def train(model, loader, total_steps, test_freq):
    for step in range(total_steps):
        loss = model.train_step(next(loader))
        if step % test_freq == 0:  # expect: RA102
            val_metrics = validate(model)
            log(val_metrics)
    save(model)
''',
        '''
class Trainer:
    def fit(self):
        while self.global_step < self.config.trainer.total_training_steps:
            self.train_step()
            self.global_step += 1
            if self.global_step % self.config.trainer.test_freq == 0:  # expect: RA102
                self._validate()
''',
        '''
def train(model, epochs, eval_every):
    for epoch in range(epochs):
        train_epoch(model)
        if (epoch + 1) % eval_every == 0 and is_main_process():  # expect: RA102
            evaluate(model)
''',
    ]
    good = [
        # verl's real schedule
        '''
class RayPPOTrainer:
    def fit(self):
        for batch in self.train_dataloader:
            is_last_step = self.global_steps >= self.total_training_steps
            if self.val_reward_fn is not None and self.config.trainer.test_freq > 0 and (
                is_last_step or self.global_steps % self.config.trainer.test_freq == 0
            ):
                val_metrics = self._validate()
            self.global_steps += 1
''',
        # periodic inside the loop, and once more after it
        '''
def train(model, total_steps, test_freq):
    for step in range(total_steps):
        model.train_step()
        if step % test_freq == 0:
            validate(model)
    final = validate(model)
''',
        # the last step has its own branch in the loop
        '''
def train(model, num_epochs, eval_every):
    for epoch in range(num_epochs):
        model.train_epoch()
        if epoch % eval_every == 0:
            evaluate(model)
        elif epoch == num_epochs - 1:
            evaluate(model)
''',
        # periodic logging and checkpointing are not validation
        '''
def train(model, total_steps, log_every):
    for step in range(total_steps):
        loss = model.train_step()
        if step % log_every == 0:
            print(step, loss)
            save_checkpoint(model, step)
''',
        # Lightning: the trainer schedules validation itself
        '''
import lightning as L
trainer = L.Trainer(max_epochs=10, check_val_every_n_epoch=3)
trainer.fit(model, train_loader, val_loader)
trainer.validate(model, val_loader)
''',
        # the loop may end early but the function validates after it
        '''
def run(model, loader, eval_steps):
    for step, batch in enumerate(loader):
        model.step(batch)
        if step % eval_steps == 0:
            evaluate_model(model)
    return evaluate_model(model)
''',
    ]

    def check(self, ctx, context=None):
        configured = ctx.config.validation_functions
        for place in statements(ctx.tree):
            node = place.node
            if not isinstance(node, cst.If) or not place.loops:
                continue
            if is_periodic_test(node.test) is None or not has_validation(node.body, configured):
                continue
            if mentions_last_step(node.test) or self._last_step_branch(node, configured):
                continue
            loop = place.loops[0]
            loop_block, loop_index = place.loop_blocks[0]
            if self._validates_in_loop_at_end(loop, node, configured):
                continue
            if any(has_validation(s, configured) for s in loop_block[loop_index + 1:]):
                continue
            if place.function is not None and self._validates_after_enclosing(place, configured):
                continue
            yield self.finding("periodic validation can miss the last step and nothing validates after the loop",
                               ctx.location(node), {"condition": " ".join(ctx.tree.code_for_node(node.test).split())},
                               anchor=ctx.anchor(node))

    @staticmethod
    def _last_step_branch(node: cst.If, configured) -> bool:
        orelse = node.orelse
        while isinstance(orelse, cst.If):
            if is_last_step_test(orelse.test) and has_validation(orelse.body, configured):
                return True
            orelse = orelse.orelse
        return False

    @staticmethod
    def _validates_in_loop_at_end(loop, periodic: cst.If, configured) -> bool:
        """Another `if <last step>: validate()` anywhere in the loop."""
        stack = [loop]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.If) and node is not periodic and is_last_step_test(node.test) \
                    and has_validation(node.body, configured):
                return True
            if not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                stack.extend(c for c in node.children if isinstance(c, (cst.BaseCompoundStatement, cst.IndentedBlock,
                                                                         cst.Else, cst.BaseSuite)))
        return False

    @staticmethod
    def _validates_after_enclosing(place, configured) -> bool:
        """A validation call in the function after the outermost loop's block (e.g. after a with/try around it)."""
        outer = place.loops[0]
        body = place.function.body
        seen = False
        for stmt in body.body if isinstance(body, cst.IndentedBlock) else [body]:
            if seen and has_validation(stmt, configured):
                return True
            if stmt is outer or _contains(stmt, outer):
                seen = True
        return False


    # -- fix: `or <last step>` in the schedule (unsafe: the last step then also validates) ---------------------
    fixes = [
        ("""
         def train(model, loader, total_steps, test_freq):
             for step in range(total_steps):
                 loss = model.train_step(next(loader))
                 if step % test_freq == 0:  # periodic
                     val_metrics = validate(model)
         """, """
         def train(model, loader, total_steps, test_freq):
             for step in range(total_steps):
                 loss = model.train_step(next(loader))
                 if step % test_freq == 0 or step == total_steps - 1:  # periodic
                     val_metrics = validate(model)
         """),
        ("""
         def train(model, epochs, eval_every):
             for epoch in range(epochs):
                 train_epoch(model)
                 if (epoch + 1) % eval_every == 0 and is_main_process():
                     evaluate(model)
         """, """
         def train(model, epochs, eval_every):
             for epoch in range(epochs):
                 train_epoch(model)
                 if ((epoch + 1) % eval_every == 0 or epoch == epochs - 1) and is_main_process():
                     evaluate(model)
         """),
        ("""
         class Trainer:
             def fit(self):
                 while self.global_step < self.config.trainer.total_training_steps:
                     self.train_step()
                     self.global_step += 1
                     if self.global_step % self.config.trainer.test_freq == 0:
                         self._validate()
         """, """
         class Trainer:
             def fit(self):
                 while self.global_step < self.config.trainer.total_training_steps:
                     self.train_step()
                     self.global_step += 1
                     if self.global_step % self.config.trainer.test_freq == 0 or self.global_step >= self.config.trainer.total_training_steps:
                         self._validate()
         """),
    ]

    def fix(self, finding, source):
        import libcst as cst

        from auditor.code.fix import CannotFix, Edit

        line, col = finding.location["line"], finding.location.get("col")
        node = next((n for n in source.at(line, cst.If, col) if source.code(n.test) == finding.evidence.get("condition")), None)
        if node is None:
            raise CannotFix("its condition is no longer there")
        periodic = _periodic_part(node.test)
        loop = source.enclosing(node, (cst.For, cst.While))
        last = _last_step_test(source, loop, node) if loop is not None and periodic is not None else None
        if last is None:
            raise CannotFix("no last-step test follows from the loop around it (`for i in range(n)`, "
                            "`enumerate(items)` or `while i < n`)")
        if source.code(last) in source.code(node.test):  # fixed before, and the rule still does not see it
            raise CannotFix(f"the schedule already includes `{source.code(last)}`")
        counter = last.left
        if not any(source.code(n) == source.code(counter) for n in _subnodes(periodic)):
            raise CannotFix("the schedule counts something other than the loop")
        either = cst.BooleanOperation(left=periodic, operator=cst.Or(), right=last)
        if periodic is node.test:
            return Edit(source.replace(node.test, either), safe=False)
        either = either.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return Edit(source.replace(node.test, node.test.deep_replace(periodic, either)), safe=False)


def _contains(node: cst.CSTNode, target: cst.CSTNode) -> bool:
    if node is target:
        return True
    if isinstance(node, cst.BaseSmallStatement) or isinstance(node, cst.BaseExpression):
        return False
    return any(_contains(c, target) for c in node.children)


def _periodic_part(test):
    """The `i % n == 0` (or `not i % n`) part of a libcst condition, through `and`/`or`."""
    import libcst as cst

    def modulo(node) -> bool:
        return isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo)

    if isinstance(test, cst.BooleanOperation):
        return _periodic_part(test.left) or _periodic_part(test.right)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and modulo(test.expression):
        return test
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and \
            isinstance(test.comparisons[0].operator, cst.Equal) and \
            any(modulo(side) for side in (test.left, test.comparisons[0].comparator)):
        return test
    return None


def _subnodes(node):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


def _last_step_test(source, loop, node):
    """`i == n - 1` for `for i in range(n)` (or `range(a, n)`, `enumerate(items)` with `len(items)`);
    `i >= n` for `while i < n` when `i` is counted up before the `if`, else `i >= n - 1`."""
    import libcst as cst

    def minus_one(code: str) -> str:
        bound = cst.parse_expression(code)
        if isinstance(bound, cst.BinaryOperation) and isinstance(bound.operator, cst.Add) and not bound.lpar \
                and isinstance(bound.right, cst.Integer) and bound.right.value == "1":
            return source.code(bound.left)  # range(1, n + 1): the last step is n
        arithmetic = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)
        simple = isinstance(bound, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer)) or (
            isinstance(bound, cst.BinaryOperation) and isinstance(bound.operator, arithmetic))
        return f"{code} - 1" if simple else f"({code}) - 1"

    if isinstance(loop, cst.For) and isinstance(loop.iter, cst.Call) and isinstance(loop.iter.func, cst.Name):
        args = [a for a in loop.iter.args if a.keyword is None and not a.star]
        target = loop.target
        if loop.iter.func.value == "range" and len(args) in (1, 2) and isinstance(target, cst.Name):
            counter, bound = target.value, source.code(args[-1].value)
        elif loop.iter.func.value == "enumerate" and len(args) == 1 and isinstance(target, cst.Tuple) \
                and isinstance(target.elements[0].value, cst.Name):
            counter, bound = target.elements[0].value.value, f"len({source.code(args[0].value)})"
        else:
            return None
        return cst.parse_expression(f"{counter} == {minus_one(bound)}")
    if isinstance(loop, cst.While) and isinstance(loop.test, cst.Comparison) and len(loop.test.comparisons) == 1 \
            and isinstance(loop.test.comparisons[0].operator, cst.LessThan):
        counter, bound = source.code(loop.test.left), source.code(loop.test.comparisons[0].comparator)
        counted_before = False
        for stmt in loop.body.body if isinstance(loop.body, cst.IndentedBlock) else ():
            if stmt is node or any(n is node for n in _subnodes(stmt)):
                break
            counted_before = counted_before or any(isinstance(n, cst.AugAssign) and source.code(n.target) == counter
                                                   for n in _subnodes(stmt))
        return cst.parse_expression(f"{counter} >= {bound if counted_before else minus_one(bound)}")
    return None

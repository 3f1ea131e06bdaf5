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
    incident = ("verl-skipped-validation-bf16-eval.md: test_freq=20 with 29 steps; the fix suggested there is "
                "`is_last_step or step % test_freq == 0`")
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


def _contains(node: cst.CSTNode, target: cst.CSTNode) -> bool:
    if node is target:
        return True
    if isinstance(node, cst.BaseSmallStatement) or isinstance(node, cst.BaseExpression):
        return False
    return any(_contains(c, target) for c in node.children)

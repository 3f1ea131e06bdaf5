"""RA102 final-validation-unscheduled: a periodic validation schedule can miss the last step.

The analysis is shared with RA101 in auditor/code/final_step.py; this rule reports the validations the last
iteration may or may not reach (a `step % freq == 0` schedule), when nothing validates after the loop.
"""

from auditor.code.final_step import FinalStepRule


class FinalValidationUnscheduled(FinalStepRule):
    id = "RA102"
    name = "final-validation-unscheduled"
    severity = "warning"
    summary = ("A periodic validation schedule (`step % test_freq == 0`) that can miss the last step, with no "
               "validation after the loop.")
    rationale = (
        "With 29 steps and test_freq=20, `if step % test_freq == 0` validates at step 20 and never at 29: the "
        "last logged score is nine steps old and gets reported as final. Add `or is_last_step` to the "
        "condition, or validate once after the loop. A condition around the optimizer step (gradient "
        "accumulation) is not a schedule; a condition that always excludes the last step is RA101. A schedule "
        "whose step count and period are constants (`num_epochs = 20`, `EVAL_EVERY = 2`) is worked out, not "
        "reported; an evaluation after the loop counts unless a constant switches it off (`if do_test:` with "
        "`do_test = False`)."
    )
    incident = ("verl-skipped-validation-bf16-eval.md: test_freq=20 with 29 steps; the fix suggested there is "
                "`is_last_step or step % test_freq == 0`")

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
        # nanoGPT: `while True` left once iter_num passes max_iters; estimate_loss evaluates (model.eval())
        '''
import torch

@torch.no_grad()
def estimate_loss():
    model.eval()
    out = {split: model(*get_batch(split))[1].item() for split in ["train", "val"]}
    model.train()
    return out

iter_num = 0
while True:
    if iter_num % eval_interval == 0 and master_process:  # expect: RA102
        losses = estimate_loss()
    logits, loss = model(X, Y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    iter_num += 1
    if iter_num > max_iters:
        break
''',
        # torchtune: the gradient-accumulation step encloses the real schedule, which is the one reported
        '''
class Recipe:
    def train(self):
        for curr_epoch in range(self.epochs_run, self.total_epochs):
            for idx, batch in enumerate(self._dataloader):
                loss = self._loss_step(batch)
                loss.backward()
                if (idx + 1) % self._gradient_accumulation_steps == 0:
                    self._optimizer.step()
                    self._optimizer.zero_grad(set_to_none=True)
                    self.global_step += 1
                    if (  # expect: RA102
                        self._run_val_every_n_steps is not None
                        and self.global_step % self._run_val_every_n_steps == 0
                    ):
                        self.validate()
            self.epochs_run += 1
        self.save_checkpoint(epoch=curr_epoch)
''',
        # a held-out loss computed without gradients is an evaluation, whatever the helper is called
        '''
import torch

@torch.no_grad()
def held_out_loss(model, batches):
    return sum(model.loss(b).item() for b in batches)

def fit(model, opt, steps, every, batches):
    for step in range(steps):
        model.loss(next(batches)).backward()
        opt.step()
        if step % every == 0:  # expect: RA102
            print(held_out_loss(model, batches))
''',
        # the evaluation after the loop sits behind a switch that is always off: it never runs
        '''
def main(model, opt, loader, test_loader, args):
    do_test = False
    for epoch in range(args.epochs):
        for batch in loader:
            model(batch).backward()
            opt.step()
        if epoch % args.eval_every == 0:  # expect: RA102
            evaluate(model)
    if do_test:
        evaluate(model, test_loader)
''',
    ]
    good = [
        # 20 epochs validated every other one: the last (epoch 19) is among them, names bound once to a literal
        '''
EVAL_EVERY = 2

def main(model, opt, loader):
    num_epochs = 20
    for epoch in range(num_epochs):
        for batch in loader:
            model(batch).backward()
            opt.step()
        if (epoch + 1) % EVAL_EVERY != 0:
            continue
        model.eval()
''',
        # the evaluation after the loop is switched by a parameter: the program can run it
        '''
def main(model, opt, loader, epochs, eval_every, do_test=False):
    for epoch in range(epochs):
        for batch in loader:
            model(batch).backward()
            opt.step()
        if epoch % eval_every == 0:
            evaluate(model)
    if do_test:
        evaluate(model)
''',
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
        # nanoGPT with the last step in the schedule
        '''
iter_num = 0
while True:
    if (iter_num % eval_interval == 0 or iter_num == max_iters) and master_process:
        losses = estimate_loss()
    logits, loss = model(X, Y)
    loss.backward()
    optimizer.step()
    iter_num += 1
    if iter_num > max_iters:
        break
''',
        # nanoGPT with a full evaluation after the loop
        '''
iter_num = 0
while True:
    if iter_num % eval_interval == 0:
        losses = estimate_loss()
    loss = model(X, Y)
    loss.backward()
    optimizer.step()
    iter_num += 1
    if iter_num > max_iters:
        break
final = estimate_loss()
''',
        # the function that trains is followed by an evaluation where it is called
        '''
def train(model, opt, loader, epochs, every):
    for epoch in range(epochs):
        for batch in loader:
            model(batch).backward()
            opt.step()
        if epoch % every == 0:
            evaluate(model)


def main():
    model, opt, loader = build()
    train(model, opt, loader, 10, 3)
    evaluate(model)
''',
        # a gradient-accumulation step around the optimizer is not a validation schedule
        '''
def train(model, optimizer, loader, epochs, accum):
    for epoch in range(epochs):
        for idx, batch in enumerate(loader):
            model(batch).backward()
            if (idx + 1) % accum == 0:
                optimizer.step()
                optimizer.zero_grad()
        validate(model)
''',
        # a periodic check inside an evaluation loop, no training in it
        '''
def evaluate_all(model, val_loader):
    for i, batch in enumerate(val_loader):
        if i % 10 == 0:
            test(model, batch)
''',
        # checking arguments is not validating the model
        '''
def fit(model, opt, steps, every):
    for step in range(steps):
        model.loss().backward()
        opt.step()
        if step % every == 0:
            validate_args(model)
''',
        # an EMA update under no_grad computes no loss or metric: not an evaluation
        '''
import torch

@torch.no_grad()
def update_ema(ema, model, decay):
    for e, p in zip(ema.parameters(), model.parameters()):
        e.mul_(decay).add_(p, alpha=1 - decay)

def fit(model, ema, opt, steps, every, batches):
    for step in range(steps):
        model.loss(next(batches)).backward()
        opt.step()
        if step % every == 0:
            update_ema(ema, model, 0.99)
''',
    ]

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

        line, col = finding.location.line, finding.location.col
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

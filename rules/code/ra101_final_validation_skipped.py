"""RA101 final-validation-skipped: the last step's validation is skipped, emptied or replaced.

The analysis (training loop, its counter and end, the conditions that reach each validation) is shared with
RA102 in auditor/code/final_step.py; this rule reports the validations the last iteration never reaches.
"""

from auditor.code.final_step import FinalStepRule


class FinalValidationSkipped(FinalStepRule):
    id = "RA101"
    name = "final-validation-skipped"
    severity = "error"
    summary = "The last step's validation is skipped, emptied or replaced under a last-step condition."
    rationale = (
        "The final checkpoint is the one people report. When the last step skips validation (or empties its "
        "metrics), the last number in the log is an intermediate one, and it gets reported as final: the "
        "run looks complete and nobody notices the missing step. The training loop is found by what it does "
        "(backward passes, optimizer steps), its last iteration from its `range`, its `while` condition or the "
        "test of its `break` (a flag like `is_last_step = step >= total` tested later leaves the loop where the "
        "`break` or `return` is: a validation before that still runs); a condition or a `continue` that "
        "excludes that iteration is reported whatever the variables are called. Emptied metrics count only in "
        "a loop that trains or validates. A name bound once to a number in the function or the module "
        "(`num_epochs = 20`) counts as that number, so a schedule that certainly skips the last epoch is "
        "reported here."
    )
    incident = ("verl-skipped-validation-bf16-eval.md, Bug #1: `if is_last_step: val_metrics = {}` in "
                "ray_trainer.py; six experiments (64 GPU-hours) reported step 20 of 29 as final")

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
        # the last epoch is skipped with `continue` before the evaluation
        '''
def main(args, model, optimizer, train_loader, val_loader):
    for epoch in range(args.epochs):
        for x, y in train_loader:
            loss = model(x, y)
            loss.backward()
            optimizer.step()
        if epoch == args.epochs - 1:
            continue  # expect: RA101
        acc = evaluate(model, val_loader)
        print(epoch, acc)
''',
        # the last step leaves through a flag set earlier (`is_last_step = ...`), before the validation
        '''
class Trainer:
    def fit(self):
        global_step = 0
        for batch in self.train_loader:
            global_step += 1
            self.train_step(batch)
            is_last_step = global_step >= self.total_steps
            if is_last_step:
                return  # expect: RA101
            if global_step % self.test_freq == 0:
                self.validate()
''',
        # the last epoch of `range(start, start + 200)`, excluded by its value
        '''
def run(model, optimizer, loader, start_epoch):
    for epoch in range(start_epoch, start_epoch + 200):
        train_one_epoch(model, optimizer, loader)
        if epoch != start_epoch + 199:  # expect: RA101
            test(epoch)
''',
        # nanoGPT-style: the loop breaks once iter_num passes max_iters, so the last evaluation point is
        # iter_num == max_iters, which the condition excludes
        '''
iter_num = 0
while True:
    if iter_num % eval_interval == 0 and iter_num != max_iters and master_process:  # expect: RA101
        losses = estimate_loss()
    for micro_step in range(gradient_accumulation_steps):
        logits, loss = model(X, Y)
        scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    iter_num += 1
    if iter_num > max_iters:
        break
''',
        # `step < max_steps` in a loop whose last step is max_steps always excludes it
        '''
def train(model, opt, batches, max_steps, eval_every):
    for step in range(1, max_steps + 1):
        loss = model.loss(next(batches))
        loss.backward()
        opt.step()
        if step % eval_every == 0 and step < max_steps:  # expect: RA101
            run_eval(model)
''',
        # timm's schedule turned around: the last epoch now takes the `continue`
        '''
def main(args, model, optimizer, loader_train, loader_eval, num_epochs):
    for epoch in range(num_epochs):
        train_one_epoch(epoch, model, loader_train, optimizer, args)
        epoch_p_1 = epoch + 1
        if epoch_p_1 % args.val_interval != 0 or epoch_p_1 == num_epochs:
            continue  # expect: RA101
        eval_metrics = validate(model, loader_eval, args)
''',
        # the skip takes several statements (reported at its `if`); a debug probe that switches to eval mode at
        # the first batch of each epoch is no validation of the last step
        '''
import torch

def debug_print_batch(model, batch):
    model.eval()
    print(model(batch).shape)
    model.train()

def main(args, model, optimizer, train_loader, eval_loader):
    for epoch in range(args.epochs):
        for step, batch in enumerate(train_loader):
            if step == 0:
                debug_print_batch(model, batch)
            model(batch).sum().backward()
            optimizer.step()
        if epoch + 1 == args.epochs:  # expect: RA101
            print("skipping the evaluation")
            continue
        model.eval()
        with torch.no_grad():
            for batch in eval_loader:
                print(model(batch).mean())
''',
        # the evaluation is a helper of the module with a neutral name; the counter is `it`
        '''
import torch

def score(net, loader):
    net.eval()
    with torch.no_grad():
        total = sum(net(x).argmax(-1).eq(y).sum().item() for x, y in loader)
    net.train()
    return total

def fit(net, opt, train_loader, holdout, n_iters):
    it = 0
    while it < n_iters:
        for x, y in train_loader:
            opt.zero_grad()
            net.loss(x, y).backward()
            opt.step()
        it += 1
        if it % 5 == 0 and it != n_iters:  # expect: RA101
            print(score(net, holdout))
''',
        # the loop is left as soon as the last step is trained, before the periodic validation that follows
        '''
def train(model, optimizer, loader, max_train_steps, validation_steps):
    global_step = 0
    for batch in infinite(loader):
        model(batch).loss.backward()
        optimizer.step()
        global_step += 1
        if global_step >= max_train_steps:
            break  # expect: RA101
        if global_step % validation_steps == 0:
            log_validation(model)
''',
        # `while step < max_steps and ...`: the last step validated is max_steps, which `<` excludes
        '''
def fit(model, opt, data, max_steps, every):
    step = 0
    while step < max_steps and not model.converged:
        model.loss(next(data)).backward()
        opt.step()
        step += 1
        if step % every == 0 and step < max_steps:  # expect: RA101
            validate(model)
''',
        # 20 epochs validated every third one: epoch 19 is not (the count is bound once, to a literal)
        '''
def main(model, opt, loader):
    num_epochs = 20
    for epoch in range(num_epochs):
        for batch in loader:
            model(batch).backward()
            opt.step()
        if (epoch + 1) % 3 != 0:
            continue  # expect: RA101
        model.eval()
''',
        # litgpt's tutorial loop with one step more: it breaks after iteration 601, which 300 does not divide
        '''
MAX_STEPS = 602

def train(fabric, model, optimizer, train_dataloader, val_dataloader):
    for iter_num, batch in enumerate(train_dataloader):
        fabric.backward(model(batch))
        optimizer.step()
        if iter_num % 300 == 0 or iter_num == 0:  # expect: RA101
            validate(model, val_dataloader)
        iter_num += 1
        if iter_num >= MAX_STEPS:
            break
''',
    ]
    good = [
        # verl's SFT trainer: the flag is set, the last step validates, and only then the loop is left
        '''
class Trainer:
    def fit(self):
        global_step = 0
        for epoch in range(self.epochs):
            for batch in self.train_loader:
                global_step += 1
                self.train_step(batch)
                is_last_step = global_step >= self.total_steps
                if is_last_step or global_step % self.test_freq == 0:
                    self.validate()
                if is_last_step:
                    return
''',
        # litgpt's tutorial loop: the enumerate counter is moved on before its break, so the last iteration is
        # 600, which the schedule validates
        '''
MAX_STEPS = 601

def train(fabric, model, optimizer, train_dataloader, val_dataloader):
    for iter_num, batch in enumerate(train_dataloader):
        fabric.backward(model(batch))
        optimizer.step()
        if iter_num % 300 == 0 or iter_num == 0:
            validate(model, val_dataloader)
        iter_num += 1
        if iter_num >= MAX_STEPS:
            break
''',
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
        # a loop that neither trains nor validates: `left_val` is a value, not a validation's result
        '''
def snap_outliers(result, is_normal, num_values):
    block_start = 0
    while block_start < num_values:
        if is_normal[block_start]:
            block_start += 1
            continue
        block_end = block_start
        while block_end < num_values and not is_normal[block_end]:
            block_end += 1
        if block_end - block_start <= 2:
            left_val = None
            for scan in range(block_start - 1, -1, -1):
                if is_normal[scan]:
                    left_val = result[scan]
                    break
            for pos in range(block_start, block_end):
                result[pos] = left_val
        block_start = block_end
    return result
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
        # timm's real schedule: the last epoch is never skipped (`epoch_p_1 != num_epochs`)
        '''
def main(args, model, optimizer, loader_train, loader_eval, num_epochs, start_epoch):
    for epoch in range(start_epoch, num_epochs):
        train_one_epoch(epoch, model, loader_train, optimizer, args)
        epoch_p_1 = epoch + 1
        if epoch_p_1 % args.val_interval != 0 and epoch_p_1 != num_epochs:
            continue
        eval_metrics = validate(model, loader_eval, args)
''',
        # a full evaluation after the loop: the in-loop one may leave the last step out
        '''
def train(model, opt, loader, epochs):
    for epoch in range(epochs):
        for batch in loader:
            model(batch).backward()
            opt.step()
        if epoch < epochs - 1:
            evaluate(model)
    evaluate(model)
''',
        # the loop is left at the end only after the last step was validated
        '''
def fit(model, opt, loader, max_steps):
    step = 0
    for batch in loader:
        model(batch).backward()
        opt.step()
        step += 1
        validate(model)
        if step >= max_steps:
            break
''',
        # a loop that does not train: its last iteration is not a training step
        '''
def evaluate_all(model, val_loader, n):
    for i, batch in enumerate(val_loader):
        if i != len(val_loader) - 1:
            test(model, batch)
''',
    ]

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

        line, col = finding.location.line, finding.location.col
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
            node = _the_if(source, list(source.ancestors(emptied[0])), None)
            return Edit(edits.remove_from_if(source, node, emptied[0]), safe=False)
        raise CannotFix("nothing on its line that the rule flags")


def _the_if(source, candidates, condition: str | None):
    """The `if` among these whose condition is the one the finding quotes; with no condition quoted (a `break`
    or an emptied result reported where it is), the innermost `if` around it."""
    import libcst as cst

    from auditor.code.fix import CannotFix

    for node in candidates:
        if isinstance(node, cst.If) and (condition is None or source.code(node.test) == condition):
            return node
    raise CannotFix("its condition is no longer there")

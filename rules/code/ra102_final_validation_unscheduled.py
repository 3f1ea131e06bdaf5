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
        "accumulation) is not a schedule; a condition that always excludes the last step is RA101."
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

from auditor.compare.groups import DEFAULT_IGNORE_KEYS
from auditor.compare.validity import config_differences, describe, is_treatment_key, set_on_one_side_only
from auditor.rule import CompareRule


def _runs(group, fs, bsz=16, steps=1000, seeds=(0, 1, 2), base=0.40, output_dir=None):
    runs = []
    for seed in seeds:
        config = {"seed": seed, "fs_layer_start": fs, "bsz": bsz, "max_steps": steps, "val_batches": 4}
        if output_dir:
            config["output_dir"] = f"{output_dir}/s{seed}"
        runs.append({"id": f"{group}-s{seed}", "group": group, "seed": seed, "config": config,
                     "metrics": {"val/acc": [[steps, base + 0.01 * seed]]}})
    return runs


class CompareProtocolMismatch(CompareRule):
    id = "RA304"
    name = "compare-protocol-mismatch"
    severity = "error"
    identity = ("keys", "unset_vs_value")  # which config keys differ, and which of its two findings
    summary = "The config differs outside the keys the comparison means to vary (batch size, steps, length...)."
    rationale = (
        "A comparison varies one thing. When batch size, step cap or eval batches change too, the effect "
        "belongs to the mix: the future-seed gain of +0.034 on three seeds became -0.020 on five seeds once "
        "batch size and step cap changed. Without --treatment-keys a single differing key is taken as the "
        "treatment; any further difference is reported. A key that one side does not record at all (a flag "
        "added after the older runs) is reported as \"unset vs value\" at `unset_severity` (default info): "
        "it often takes its default, which may equal the other side's value."
    )
    incident = ("Between two rounds of an experiment, the batch size, the number of steps and the validation batches all "
                "changed, and the sign of the gain flipped. The rounds were read as confirming each other.")
    params = {"ignore_keys": DEFAULT_IGNORE_KEYS, "unset_severity": "info"}
    bad = [
        {"baseline": _runs("r2-base", 6), "treatment": _runs("r5-fs", 10, bsz=48, steps=2000),
         "metric": "val/acc", "treatment_keys": ["fs_layer_start"]},
        # no treatment keys declared and two keys differ: which one is the treatment?
        {"baseline": _runs("base", 6), "treatment": _runs("fs10", 10, bsz=48), "metric": "val/acc"},
    ]
    bad += [
        # the batch size differs (an error) and a flag is unset on one side (info): two findings
        {"baseline": _runs("old2", 6), "treatment": [{**r, "config": {**r["config"], "grad_clip": 1.0}}
                                                     for r in _runs("new2", 10, bsz=48)],
         "metric": "val/acc", "treatment_keys": ["fs_layer_start"]},
        # a flag added after the baseline ran is unset there: reported at info, not an invalid comparison
        {"baseline": _runs("old", 6), "treatment": [{**r, "config": {**r["config"], "grad_clip": 1.0}}
                                                    for r in _runs("new", 10)],
         "metric": "val/acc", "treatment_keys": ["fs_layer_start"]},
    ]
    good = [
        {"baseline": _runs("base", 6), "treatment": _runs("fs10", 10), "metric": "val/acc",
         "treatment_keys": ["fs_layer_start"]},
        # a single differing key is the treatment; seeds and output folders do not count
        {"baseline": _runs("base", 6, output_dir="/out/base"), "treatment": _runs("fs10", 10, output_dir="/out/fs"),
         "metric": "val/acc"},
    ]

    def check(self, subject):
        diffs = config_differences(subject, list(self.options["ignore_keys"]))
        unset = {k: v for k, v in diffs.items() if set_on_one_side_only(*v)}
        real = {k: v for k, v in diffs.items() if k not in unset}
        if subject.treatment_keys is not None:
            real = {k: v for k, v in real.items() if not is_treatment_key(k, subject.treatment_keys)}
            unset = {k: v for k, v in unset.items() if not is_treatment_key(k, subject.treatment_keys)}
            why = f"outside the treatment keys ({', '.join(subject.treatment_keys) or 'none'})"
        elif len(real) + len(unset) <= 1:
            return  # the one differing key is the treatment
        else:
            if len(real) == 1:
                real = {}  # the one key with two real values is the treatment; the others are unset vs value
            why = "(no --treatment-keys: only one key may differ)"
        if real:
            yield self._finding(subject, real, f"config differs {why}", None)
        if unset:
            yield self._finding(subject, unset, f"config key set on one side only (unset vs value) {why}",
                                str(self.options["unset_severity"]))

    def _finding(self, subject, keys, head, severity):
        parts = [f"{key} = {describe(b, subject.baseline_label)} vs {describe(t, subject.treatment_label)}"
                 for key, (b, t) in keys.items()]
        return self.finding(
            f"{head}: " + "; ".join(parts), subject.location,
            {"keys": {key: {"baseline": b, "treatment": t} for key, (b, t) in keys.items()},
             "treatment_keys": subject.treatment_keys, "unset_vs_value": severity is not None}, severity=severity)

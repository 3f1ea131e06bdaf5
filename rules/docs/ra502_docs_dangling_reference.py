from auditor.findings import docs_location
from auditor.rule import Rule


class DocsDanglingReference(Rule):
    id = "RA502"
    name = "docs-dangling-reference"
    scope = "docs"
    subject = "reference"
    severity = "warning"
    summary = "The docs reference a results file or script that does not exist."
    rationale = (
        "A summary file or run script named in an experiment log is the evidence behind its numbers. When it "
        "is gone (never committed, renamed, written to another machine) the claim cannot be checked or "
        "reproduced. Paths are looked up next to the doc, in the repository and in the results directory."
    )
    incident = ("A project's docs named dozens of summary files and run scripts as the source of each number, and some of "
                "them no longer existed. The team ended up writing its own checker by hand.")
    bad = [
        {"doc": "- Summary: `results/_summary_arc_optionsfirst_stabilized_r5_s01234.txt`\n", "runs": [],
         "files": ["results/_summary_arc_qfirst_stabilized_r5_s01234.txt"]},
        {"doc": "See [the launcher](scripts/run_round20_serial_earlystop_s0.sh).\n", "runs": [], "files": []},
    ]
    good = [
        {"doc": "- Summary: `results/_summary_arc_qfirst_stabilized_r5_s01234.txt`\n", "runs": [],
         "files": ["results/_summary_arc_qfirst_stabilized_r5_s01234.txt"]},
        # flags, settings, URLs and bare names are not references
        {"doc": "Run with `--fs_alpha_schedule linear`, `alpha_init=-2`, `fs_norm`, `train.py`; "
                "see [docs](https://example.org/guide.md).\n", "runs": [], "files": []},
    ]

    def check(self, reference, context=None):
        if reference.exists:
            return
        yield self.finding(
            f"references {reference.target}, which does not exist (looked next to the doc, in the repository "
            f"and in the results directory)",
            docs_location(reference.path, reference.line),
            {"target": reference.target, "tried": reference.tried}, anchor=reference.target)

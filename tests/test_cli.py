"""The command line's promises: exit codes, one-line errors, no traceback, rules and explain."""

import json
import subprocess
import sys

from auditor.registry import all_rule_classes
from cli_helpers import run_cli

CONTRACT_RULES = {
    "RA101": "final-validation-skipped", "RA102": "final-validation-unscheduled", "RA110": "seed-unset",
    "RA111": "seed-partial", "RA112": "seed-after-use", "RA113": "dataloader-worker-seed",
    "RA120": "nondeterministic-backend", "RA130": "eval-without-quant-hooks", "RA140": "diagnostic-side-effect",
    "RA150": "swallowed-eval-failure", "RA160": "config-not-logged", "RA170": "unsafe-checkpoint-load",
    "RA201": "run-git-sha-missing", "RA202": "run-git-sha-unknown", "RA203": "run-dirty-tree",
    "RA210": "run-seed-unrecorded", "RA211": "run-config-empty", "RA220": "run-final-validation-missing",
    "RA230": "run-failed", "RA240": "run-metric-nonfinite", "RA301": "compare-code-drift",
    "RA302": "compare-eval-quant-mismatch", "RA303": "compare-eval-step-mismatch",
    "RA304": "compare-protocol-mismatch", "RA305": "compare-eval-set-mismatch", "RA310": "compare-single-seed",
    "RA311": "compare-sign-flip", "RA312": "compare-not-significant", "RA313": "compare-failed-seeds",
    "RA314": "compare-noop-treatment", "RA315": "compare-high-variance", "RA401": "replay-score-mismatch",
    "RA402": "replay-quant-noop", "RA403": "checkpoint-unsafe", "RA501": "docs-claim-mismatch",
    "RA502": "docs-dangling-reference",
}
SCOPE_OF_PREFIX = {"RA0": "meta", "RA1": "code", "RA2": "run", "RA3": "compare", "RA4": "replay", "RA5": "docs"}


def test_every_contract_rule_exists_with_its_contract_name():
    rules = all_rule_classes()
    missing = sorted(set(CONTRACT_RULES) - set(rules))
    assert not missing, f"rules of the contract not implemented: {missing}"
    for rule_id, name in CONTRACT_RULES.items():
        assert rules[rule_id].name == name


def test_every_rule_carries_its_docs_and_examples():
    for rule_id, cls in all_rule_classes().items():
        assert cls.scope == SCOPE_OF_PREFIX[rule_id[:3]], rule_id
        assert cls.severity in ("info", "warning", "error"), rule_id
        assert cls.summary and cls.rationale, f"{rule_id} lacks summary or rationale"
        if cls.scope != "meta":
            assert cls.incident, f"{rule_id} does not say which incident it comes from"
            assert cls.bad and cls.good, f"{rule_id} lacks bad/good examples"


def test_rules_lists_every_rule_as_json():
    proc = run_cli("rules", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    listed = {r["id"]: r for r in json.loads(proc.stdout)}
    assert set(listed) == set(all_rule_classes())


def test_explain_shows_docs_with_examples():
    proc = run_cli("explain", "RA101")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# RA101 final-validation-skipped")
    assert "## Example" in proc.stdout and "## Use instead" in proc.stdout and "```python" in proc.stdout


def test_explain_accepts_the_rule_name_too():
    assert run_cli("explain", "seed-unset").stdout.startswith("# RA110 seed-unset")


def test_unknown_rule_is_a_usage_error_without_traceback():
    proc = run_cli("explain", "RA999")
    assert proc.returncode == 2
    assert "unknown rule 'RA999'" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_command_and_option_exit_2():
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("rules", "--bogus").returncode == 2


def test_version_and_help_do_not_import_torch():
    code = "import sys; from auditor.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("False"), proc.stdout + proc.stderr

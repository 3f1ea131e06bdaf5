#!/usr/bin/env bash
# The auditor's pull-request check, as the GitHub Action (action.yml) runs it; it runs the same anywhere.
#   AUDIT_BASE     the base branch (default: $GITHUB_BASE_REF, else main); compared as origin/<base>
#   AUDIT_FAIL_ON  error | warning | info (default: the configuration's fail-on, else error)
#   AUDIT_RESULTS  a results folder for `audit docs` (default: `results` in [tool.auditor], else skipped)
#   AUDIT_COMPARE  "BASELINE TREATMENT METRIC" for `audit compare` (optional)
#   AUDIT_OUT      where the reports go (default: $RUNNER_TEMP/audit, else a temp folder)
# Writes audit.sarif and audit.md into AUDIT_OUT, prints ::error annotations, appends the Markdown report
# to $GITHUB_STEP_SUMMARY when set, and exits 1 when the change brings a finding at or above fail-on.
set -uo pipefail
audit_cmd=${AUDIT_CMD:-audit}
base=${AUDIT_BASE:-${GITHUB_BASE_REF:-main}}
out=${AUDIT_OUT:-${RUNNER_TEMP:-$(mktemp -d)}/audit}
mkdir -p "$out"
fail_on=()
[ -n "${AUDIT_FAIL_ON:-}" ] && fail_on=(--fail-on "$AUDIT_FAIL_ON")

# The base must be known locally with enough history for a merge-base (actions/checkout: fetch-depth: 0).
if ! git rev-parse --verify -q "origin/$base^{commit}" >/dev/null; then
    git fetch --no-tags origin "+refs/heads/$base:refs/remotes/origin/$base" || {
        echo "::error title=repro-auditor::cannot fetch the base branch origin/$base"; exit 2; }
fi

status=0
# 1. The code the change brings: annotations (the exit code decides), SARIF, Markdown.
$audit_cmd scan --diff "origin/$base" --format github "${fail_on[@]}" || status=$?
$audit_cmd scan --diff "origin/$base" --format sarif --output "$out/audit.sarif" "${fail_on[@]}" >/dev/null
$audit_cmd scan --diff "origin/$base" --format markdown --output "$out/audit.md" "${fail_on[@]}" >/dev/null
[ "$status" -gt 1 ] && exit "$status"

# 2. Docs claims and a declared comparison, where configured.
results=()
[ -n "${AUDIT_RESULTS:-}" ] && results=(--results "$AUDIT_RESULTS")
if [ -n "${AUDIT_RESULTS:-}" ] || grep -qs '^results *=' pyproject.toml; then
    $audit_cmd docs "${results[@]}" --format markdown "${fail_on[@]}" >"$out/docs.md"; docs_status=$?
    [ "$docs_status" -gt "$status" ] && status=$docs_status
    { echo; cat "$out/docs.md"; } >>"$out/audit.md"
fi
if [ -n "${AUDIT_COMPARE:-}" ]; then
    read -r baseline treatment metric <<<"$AUDIT_COMPARE"
    $audit_cmd compare "$baseline" "$treatment" --metric "$metric" "${results[@]}" --format markdown \
        "${fail_on[@]}" >"$out/compare.md"; compare_status=$?
    [ "$compare_status" -gt "$status" ] && status=$compare_status
    { echo; cat "$out/compare.md"; } >>"$out/audit.md"
fi

[ -n "${GITHUB_STEP_SUMMARY:-}" ] && cat "$out/audit.md" >>"$GITHUB_STEP_SUMMARY"
[ -n "${GITHUB_OUTPUT:-}" ] && echo "sarif=$out/audit.sarif" >>"$GITHUB_OUTPUT"
exit "$status"

from auditor.rule import Rule


class InputUnreadable(Rule):
    id = "RA001"
    name = "input-unreadable"
    scope = "meta"
    severity = "warning"
    summary = "A file among those scanned or discovered could not be read or parsed; it was skipped."
    rationale = (
        "One broken file must not stop the audit of thousands of others, but it must not vanish silently "
        "either: whatever it held (a trainer, a run record) was not audited."
    )
    incident = ("A file the auditor could not read is a file it did not check. It is reported, so that a hole in the evidence"
                " is visible instead of looking like a clean result.")

    def check(self, subject, context):  # emitted by the scanners and readers, not by a subject check
        return ()

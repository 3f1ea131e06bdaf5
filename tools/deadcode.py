"""The dead-code check of `make test`: vulture over the project, exit 1 on anything unused.

What only looks unused, because something outside Python's own references calls it, is listed here with
the reason; rule classes need no list: the registry finds them (`auditor.registry.all_rule_classes`).
"""

from __future__ import annotations

import sys

import vulture

PATHS = ["auditor", "rules", "tests", "benchmarks", "tools"]
IGNORE_DECORATORS = [
    "@click.command", "@click.group", "@*.command",  # click calls them
    "@pytest.fixture",  # pytest calls them (autouse ones are never named)
]
IGNORE_NAMES = [
    "findings_for_example",  # example adapters, named as strings in auditor/scopes.py
    "list_commands", "get_command",  # click.Group API (auditor/cli.py)
    "bootstrap_reps", "bootstrap_seed",  # [tool.auditor.compare] fields, read by key (dataclasses.asdict)
    "pytestmark",  # pytest reads it
    "plugin_name",  # protobuf fields set by the TensorBoard tests
    "visit_*", "leave_*",  # ast/libcst visitors dispatch by name
    "dont_write_bytecode",  # sys.dont_write_bytecode, read by the interpreter
]


def main() -> int:
    from auditor.registry import all_rule_classes

    rules = {cls.__name__ for cls in all_rule_classes().values()}
    scan = vulture.Vulture(ignore_names=IGNORE_NAMES, ignore_decorators=IGNORE_DECORATORS)
    scan.scavenge(PATHS)
    unused = [item for item in scan.get_unused_code(min_confidence=60)
              if not (item.typ == "class" and item.name in rules)]
    for item in unused:
        print(item.get_report())
    return 1 if unused else 0


if __name__ == "__main__":
    sys.exit(main())

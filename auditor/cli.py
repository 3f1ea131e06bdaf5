"""The `audit` command. Subcommands are imported only when called, so `audit scan` never pays for torch."""

from __future__ import annotations

import importlib
import os
import sys

import click

from auditor import __version__
from auditor.errors import InputError

# command name -> "module:attribute"; each concern owns its command module.
COMMANDS = {
    "scan": "auditor.code.command:scan",
    "rules": "auditor.rules_cli:rules",
    "explain": "auditor.rules_cli:explain",
    "run": "auditor.runs.command:run",
    "diff": "auditor.runs.command:diff",
    "compare": "auditor.compare.command:compare",
    "docs": "auditor.claims_command:docs",
    "replay": "auditor.replay.command:replay",
    "nightly": "auditor.nightly.command:nightly",
    "hook": "auditor.hooks:hook",
    "baseline": "auditor.baseline:baseline",
    "init": "auditor.init_command:init",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("auditor"):
                return None  # not built yet in this checkout
            raise
        return getattr(module, attr)

    def resolve_command(self, ctx, args):
        """An unknown command name gets the closest known one: `audit sacn` -> did you mean `scan`?"""
        name = click.utils.make_str(args[0]) if args else ""
        if args and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, sorted(COMMANDS), n=2, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint} (`audit --help` lists them)")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="audit")
def cli():
    """Reproducibility auditor and static checker for ML experiments."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: input errors become one line and exit 2; no traceback reaches the user."""
    try:
        cli.main(args=argv, prog_name="audit", standalone_mode=False)
    except SystemExit as exc:
        raise
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except InputError as exc:
        click.echo(f"audit: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug of ours: still one clear line, the traceback only on request
        if os.environ.get("AUDITOR_DEBUG"):
            raise
        click.echo(f"audit: internal error: {type(exc).__name__}: {exc} (set AUDITOR_DEBUG=1 for the traceback)", err=True)
        sys.exit(2)
    sys.exit(0)


if __name__ == "__main__":
    main()

"""The ``paracrine`` command: the one boundary where errors become one line and an exit code.

``paracrine DEPLOY.py ...`` runs a deploy; ``facts``, ``graph``, ``ops``,
``op``, ``run`` and ``lab`` are subcommands. Heavy imports (Mitogen,
jinja2) happen inside commands, so ``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from paracrine import __version__
from paracrine.commands import LAZY_COMMANDS
from paracrine.errors import ExitCode, ParacrineError

EXIT_CODES_HELP = """\b
Exit codes:
  0    success (with --check: in sync)
  1    one or more hosts failed (unreachable, a fact or a change failed)
  2    --check only: changes are pending
  3    bad input: deploy file, inventory, arguments, template; nothing ran
  4    a required tool or permission is missing on the controller
  130  interrupted (Ctrl-C)
"""


#: Commands that load the user's code (deploy files, facts, operations): they take ``--path DIR``.
SEARCH_PATH_COMMANDS = ("deploy", "graph", "facts", "ops", "op", "watch")


class DeployGroup(click.Group):
    """A group whose default command is ``deploy``: ``paracrine site.py`` means ``paracrine deploy site.py``.

    Subcommands are imported on first use (:data:`LAZY_COMMANDS`).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*LAZY_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            import importlib

            module, attr = LAZY_COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attr)
            if cmd_name in SEARCH_PATH_COMMANDS and not any(p.name == "search_path" for p in command.params):
                command.params.append(_path_parameter())
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = next((a for a in args if not a.startswith("-")), None)
        wants_group_help = not args or args[0] in ("--help", "-h", "--version")
        if first is not None and first not in LAZY_COMMANDS and first not in self.commands and not wants_group_help:
            args = ["deploy", *args]
        return super().parse_args(ctx, args)


@click.group(
    cls=DeployGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, "--version", prog_name="paracrine", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, expose_value=False, help="Show tracebacks of errors.")
def cli() -> None:
    """Make every host in the inventory match a deploy file written in plain Python.

    \b
      paracrine deploy.py                  plan, show, confirm and apply
      paracrine deploy.py --check          exit 2 when changes are pending
      paracrine facts web1 files.path_info path=/etc/hosts
      paracrine ops [files.template]       operations and their docs (also a package's)
      paracrine run web -- uptime          a command on every host of group web
      paracrine op web files.directory path=/srv/x mode=0755
      paracrine graph deploy.py --dot
      paracrine watch deploy.py -y         apply again whenever a project file changes
      paracrine agent start                keep hosts connected between runs
      paracrine disconnect                 close the ssh connections kept for later runs
      paracrine lab up 3                   throwaway Debian hosts for tests and demos
    """


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the CLI and exit with a documented code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("PARACRINE_DEBUG"))
    sys.exit(run(args, debug=debug))


def run(args: list[str], *, debug: bool = False) -> int:
    """Run the CLI with ``args`` and return the exit code (never raises)."""
    from paracrine import searchpath

    searchpath.set_extra([])  # --path of an earlier in-process run (tests) does not carry over
    try:
        result: Any = cli.main(args=args, prog_name="paracrine", standalone_mode=False)
    except ParacrineError as exc:
        if debug:
            traceback.print_exc()
        from paracrine import report

        report.error(exc)
        return int(exc.exit_code)
    except click.exceptions.Abort:  # click's form of KeyboardInterrupt (and of "no" at a prompt)
        click.echo("\ninterrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("\ninterrupted", err=True)
        return int(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        from paracrine import report

        command = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else "paracrine"
        report.error(f"{exc.format_message().rstrip('.')}; see `{command} --help`")
        return int(ExitCode.BAD_INPUT)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        from paracrine.secret import redact

        text = f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
        click.secho(redact(text), err=True, fg="red")
        return int(ExitCode.FAILED)
    return int(result or 0)


def relays_option(func: Any) -> Any:
    """``--relays N``: connect through N relay hosts picked from the inventory (:func:`paracrine.relays.assign`)."""
    return click.option(
        "--relays",
        type=click.IntRange(0, 4096),
        default=0,
        metavar="N",
        help="Connect through N relay hosts picked from the inventory, the others spread over them "
        "(default 0: as each host's `via` says).",
    )(func)


def debug_option(func: Any) -> Any:
    """``--debug`` on every command: show tracebacks (read by :func:`main` before parsing)."""
    return click.option("--debug", is_flag=True, expose_value=False, help="Show tracebacks of errors.")(func)


PATH_HELP = (
    "Also import the user's packages from DIR (repeatable); searched before the deploy file's "
    "directory and the project root."
)


def _set_search_path(ctx: click.Context, param: click.Parameter, value: tuple[Path, ...]) -> None:
    from paracrine import searchpath

    searchpath.set_extra(value)


def _path_settings() -> dict[str, Any]:
    return {
        "multiple": True,
        "metavar": "DIR",
        "type": click.Path(exists=True, file_okay=False, path_type=Path),
        "expose_value": False,
        "callback": _set_search_path,
        "help": PATH_HELP,
    }


def _path_parameter() -> click.Option:
    return click.Option(["--path", "search_path"], **_path_settings())


def path_option(func: Any) -> Any:
    """``--path DIR`` (repeatable): where else the user's packages are imported from (:mod:`paracrine.searchpath`).

    Commands that load deploy files, facts or operations take it; :class:`DeployGroup`
    adds it to those of :data:`SEARCH_PATH_COMMANDS` that do not declare it.
    """
    return click.option("--path", "search_path", **_path_settings())(func)

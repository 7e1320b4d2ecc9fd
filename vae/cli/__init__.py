"""Command line: ``python -m vae {train,sweep,eval,import,list}``, one module per command.

Results go to stdout; progress, notes and errors to stderr. An error is one line, never a traceback,
``vae COMMAND: error: …``, and the exit status says whose it is (``vae.cli.common``): 2 when the
command line cannot be carried out (a bad flag or value, no such file or run, a name taken), 1 when
it was carried out and failed (a file that is not a run, a training that diverged or was stopped).

The top floor of the core: imports any package below it, never ``vae.server`` (the CLI trains what its user asks).
"""

from __future__ import annotations

import os
import sys

from vae.cli.common import EXIT_FAILED, EXIT_USAGE, Failed, UsageError, flag_message
from vae.vocabulary import ConfigError


def _command(argv: list[str]) -> str:
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    from vae.cli.evaluate import cmd_eval
    from vae.cli.importing import cmd_import
    from vae.cli.listing import cmd_list
    from vae.cli.parser import build_parser
    from vae.cli.sweep import cmd_sweep
    from vae.cli.train import cmd_train

    argv = sys.argv[1:] if argv is None else argv
    commands = {"train": cmd_train, "sweep": cmd_sweep, "eval": cmd_eval, "import": cmd_import, "list": cmd_list}
    command = _command(argv)
    prefix = f"vae {command}: error:" if command in commands else "vae: error:"
    try:
        args = build_parser().parse_args(argv)
        return commands[args.command](args)
    except (UsageError, ConfigError) as exc:
        print(f"{prefix} {flag_message(exc) if isinstance(exc, ConfigError) else exc}", file=sys.stderr)
        return EXIT_USAGE
    except Failed as exc:
        print(f"{prefix} {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # the reader has gone (``python -m vae list | head``): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that exit's flush cannot fail again
        return EXIT_FAILED
    except KeyboardInterrupt:  # a second Ctrl-C during training, or one outside it
        print(f"{prefix} interrupted; finished epochs are saved", file=sys.stderr)
        return EXIT_FAILED

"""What every command-line entry point shares: a problem the user can fix is one `error:` line on stderr and exit
status 2, never a traceback (research.main, research.tools.sweep, research.tools.report and the experiments' scripts)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from absl import flags

from research.errors import UserError

USER_ERROR_STATUS = 2


def one_line(e: BaseException) -> str:
  """The exception's message on one line (its type's name if it has none)."""
  return " ".join(str(e).split()) or type(e).__name__


def print_error(message: str) -> int:
  """Prints `error: message` to stderr; returns the exit status to leave with."""
  print(f"error: {message}", file=sys.stderr, flush=True)
  return USER_ERROR_STATUS


def parse_flags(argv: Sequence[str], flag_values: flags.FlagValues, doc: str) -> list[str] | int:
  """Parses `argv` into `flag_values`: the remaining arguments, or an exit status once --help has printed `doc` and
  the flags' help (0) or a bad flag its one error line (2)."""
  if any(a in ("--help", "-h", "--helpfull") for a in argv[1:]):
    print(f"{doc.strip()}\n\nFlags:\n{flag_values.get_help()}")
    return 0
  try:
    return flag_values(list(argv))
  except flags.Error as e:
    return print_error(one_line(e))


def run_main(main: Callable[[], object]) -> None:
  """Runs a script's `main()`; a UserError it raises becomes one error line and exit status 2."""
  try:
    main()
  except UserError as e:
    sys.exit(print_error(one_line(e)))

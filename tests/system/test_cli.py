"""research.cli: the one error line and exit status every entry point shares."""

from __future__ import annotations

import subprocess
import sys

import pytest
from absl import flags

from research import cli
from research.errors import UserError


def test_run_main_turns_a_user_error_into_one_line_and_status_2(capsys):
  def bad() -> None:
    raise UserError("first line\n  second line")
  with pytest.raises(SystemExit) as e:
    cli.run_main(bad)
  assert e.value.code == 2
  assert capsys.readouterr().err == "error: first line second line\n"
  cli.run_main(lambda: None)  # a main that returns: no exit, nothing printed
  assert capsys.readouterr().err == ""


def test_other_exceptions_are_not_swallowed():
  with pytest.raises(ZeroDivisionError):
    cli.run_main(lambda: 1 / 0)


def test_parse_flags_help_bad_flag_and_rest(capsys):
  fv = flags.FlagValues()
  flags.DEFINE_integer("n", 1, "how many", flag_values=fv)
  assert cli.parse_flags(["prog", "--help"], fv, "The tool.\n") == 0
  out = capsys.readouterr().out
  assert out.startswith("The tool.\n\nFlags:\n") and "--n" in out
  assert cli.parse_flags(["prog", "--n=x"], fv, "") == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and err.count("\n") == 1 and "--n" in err
  assert cli.parse_flags(["prog", "--n=3", "rest"], fv, "") == ["prog", "rest"] and fv.n == 3


def test_an_experiment_script_fails_with_one_error_line():
  r = subprocess.run([sys.executable, "-m", "experiments.attention.reversal", "--models", "gru"],
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 2, r.stderr
  assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr

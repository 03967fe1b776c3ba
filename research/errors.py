"""Errors the user can fix. `research.main` prints them as one line and exits non-zero."""


class UserError(Exception):
  """A problem with the config, the data or the workdir; the message says what and how to fix it."""


class NonFiniteError(UserError):
  """Training produced a NaN/Inf; raised before any checkpoint with bad values is written."""

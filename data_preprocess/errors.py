"""The errors of bad user input, at the bottom of ``data_preprocess``'s imports (``validate`` and ``common`` raise
them; ``common`` re-exports them, where ``verl_med_plugin`` imports them from)."""

from __future__ import annotations

USER_ERROR_EXIT = 2  # argparse's status for a bad command line: one status for every user error
ERROR_PREFIX = "verl-med: error:"


class UserError(ValueError):
    """A problem with what the user gave (a file, a flag, a config key): every verl-med command reports it as one
    ``verl-med: error: <message>`` line on stderr and exits with ``USER_ERROR_EXIT``, never with a traceback."""


class ConversionError(UserError):
    """Bad input; the message names the file and the field at fault."""

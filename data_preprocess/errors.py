"""The errors of bad user input, at the bottom of ``data_preprocess``'s imports (``validate`` and ``common`` raise
them; ``common`` re-exports them, where ``verl_med_plugin`` imports them from)."""

from __future__ import annotations

import reprlib

USER_ERROR_EXIT = 2  # argparse's status for a bad command line: one status for every user error
ERROR_PREFIX = "verl-med: error:"


class UserError(ValueError):
    """A problem with what the user gave (a file, a flag, a config key): every verl-med command reports it as one
    ``verl-med: error: <message>`` line on stderr and exits with ``USER_ERROR_EXIT``, never with a traceback."""


class ConversionError(UserError):
    """Bad input; the message names the file and the field at fault."""


class DroppedRow(ConversionError):
    """One record that cannot become a usable row (it could never be graded, or the model could never see it).
    Converters that stream many records count it and go on (a summary line per reason at the end and in the
    output's ``manifest.json``); the others report it as any ``ConversionError``."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason

    def __reduce__(self):  # raised in a worker process (``--num_proc``), re-raised intact in the converter
        return DroppedRow, (self.where, self.reason)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 2, 60, 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 4
EXCERPT_CHARS = 80


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, nesting and lengths bounded before it is built, so an error
    quoting a value from a file stays one short line whatever the file holds (a 9^9-leaf structure, a 16 MB field,
    200,000 nested lists).

    >>> excerpt("liver"), excerpt("x" * 500)[-8:], len(excerpt([[[[1]]]] * 1000)) < 90
    ("'liver'", "xxx...x'", True)
    """
    text = _REPR.repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"

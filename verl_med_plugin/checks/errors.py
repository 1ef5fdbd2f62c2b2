"""The error every check raises: a config problem found before training, one line naming the key or file."""

from __future__ import annotations

from data_preprocess.common import UserError


class ConfigError(UserError):
    """A config problem found before training; the message names the key or file."""

"""verl entry point (group ``verl.plugins``): ``import verl`` imports this module in every verl process.

verl swallows entry-point errors at DEBUG level, so a broken install would otherwise only show up later as
an obscure failure inside a Ray reward worker. This module checks that verl-med's pieces import in this
process and says so loudly, with the cause, when they do not. It imports no verl module (verl is still
initialising when it runs) and nothing heavy.
"""

from __future__ import annotations

import importlib
import logging

logger = logging.getLogger("verl_med_plugin")

# Modules verl loads by pkg:// path inside its workers (reward loop, dataset).
CHECKED_MODULES = ("reward_fns",)


def _check_imports() -> None:
    for name in CHECKED_MODULES:
        importlib.import_module(name)


try:
    _check_imports()
    LOADED = True
except Exception as exc:  # noqa: BLE001 - any failure must be reported, not swallowed by verl
    LOADED = False
    logger.warning(
        "verl-med plugin failed to load in this process: %s: %s. verl will go on without it, and rewards or "
        "datasets configured with pkg://reward_fns or pkg://verl_med_plugin will fail. Reinstall with "
        "`pip install -e .` and check `python -c 'import reward_fns'`.",
        type(exc).__name__,
        exc,
        exc_info=True,
    )

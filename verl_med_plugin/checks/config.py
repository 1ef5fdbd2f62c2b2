"""Checks of the composed config as a whole, run first by the entry point (before Ray, before any other check):
every interpolation resolves, and every value has the type of its default.

Hydra accepts any override of a key that exists (``data.train_batch_size=abc``, ``med.dry_run_rows=abc``) and any
interpolation (``${oc.env:UNSET}``); without these checks the first reader of the value fails with a raw verl or
OmegaConf traceback, possibly after Ray started. One layer here instead of one check per key: the defaults
(``configs/med_grpo.yaml`` over verl's ``ppo_trainer``) say what each value must be.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

CONFIG_MODULE, CONFIG_NAME = "verl_med_plugin.configs", "med_grpo"


def composed_config_problems(config: DictConfig) -> list[str]:
    """Unresolvable interpolations, then values whose type differs from their default's; each names the key."""
    try:
        OmegaConf.to_container(config, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        reason = str(getattr(err, "msg", err)).splitlines()[0]
        return [f"{key}={_raw_value(config, key)!r}: cannot resolve the interpolation ({reason})"]
    try:
        defaults = default_leaves()
    except (HydraException, OmegaConfBaseException, ValueError, OSError):  # another config tree (--config-path)
        return []
    return type_problems(config, defaults)


def _raw_value(config: DictConfig, key: str) -> Any:
    """The unresolved text of ``key`` (``${oc.env:UNSET}``), for the message."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(config, parent_key, throw_on_resolution_failure=False) if parent_key else config
    node = parent._get_node(leaf) if isinstance(parent, DictConfig) and leaf in parent else None
    return node._value() if node is not None else None


@functools.cache
def default_leaves() -> dict[str, Any]:
    """Every literal bool/int/float default of the entry point's config, by dotted key (composed once)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside @hydra.main or a test's initialize_config_module
        defaults = compose(CONFIG_NAME)
    else:
        with initialize_config_module(CONFIG_MODULE, version_base=None):
            defaults = compose(CONFIG_NAME)
    leaves: dict[str, Any] = {}
    _collect(OmegaConf.to_container(defaults, resolve=False), "", leaves)
    return leaves


def _collect(node: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _collect(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(node, (bool, int, float)):  # strings (incl. interpolations), lists and nulls say too little
        out[prefix] = node


def _expected(default: Any) -> str:
    return "true or false" if isinstance(default, bool) else "a finite number"


def _fits(value: Any, default: Any) -> bool:
    """The value's kind matches its default's. Numbers are not split into int and float: verl's yaml writes some
    float settings as integers (``entropy_coeff: 0``, ``top_p: 1``); its own validation checks finer ranges."""
    if value is None:  # verl treats null as "not set" for many numeric keys
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def type_problems(config: DictConfig, defaults: dict[str, Any]) -> list[str]:
    """``key=value: expected <type> (default <d>)`` for each value whose type does not fit its default's."""
    problems = []
    for key, default in defaults.items():
        value = OmegaConf.select(config, key, default=_MISSING)
        if value is _MISSING or isinstance(value, (DictConfig, ListConfig)):
            continue
        if not _fits(value, default):
            problems.append(f"{key}={value!r}: expected {_expected(default)} (default {default!r})")
    return problems


_MISSING = object()

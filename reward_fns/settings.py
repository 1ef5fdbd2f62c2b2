"""Settings mappings parsed through OmegaConf structured configs, with errors that name the key.

The one helper behind the reward kwargs (``reward_fns.config``) and the ``med.*`` groups
(``verl_med_plugin.med_settings``). The schema is a dataclass: OmegaConf refuses unknown keys and values of the wrong
type, converting what Hydra converts (``"3"`` to 3 for an int, ``"yes"``/``"on"`` to true for a bool, a number to
text for a str; never a bool to a number). Ranges and cross-field rules stay with each schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

T = TypeVar("T")


_SCHEMAS: dict[type, DictConfig] = {}  # OmegaConf.structured() per schema (read-only if frozen; merge() copies it)


def merge_structured(
    cls: type[T],
    values: Any,
    key: str = "",
    *,
    expected: Mapping[str, str] | None = None,
    error: Callable[[str], Exception] = ValueError,
) -> T:
    """An instance of the dataclass ``cls`` from the defaults merged with ``values`` (a mapping, plain or OmegaConf).

    Args:
        cls: the schema; its ``__post_init__`` (range checks) runs on the typed values and raises its own errors.
        values: the user's settings.
        key: the full key of ``values`` (``med.sampler``), prefixed to every key the error names; ``""``: none.
        expected: per setting, what it must hold as told to the user (else OmegaConf's reason is given).
        error: the exception type raised, given the message.

    Raises:
        ``error("<key>.<name>=<value>: expected <expected>")`` for a value of the wrong type, and
        ``error("<key>: unknown key(s) [...]; known: ...")`` for keys the schema lacks.

    Example:
        >>> import dataclasses
        >>> @dataclasses.dataclass
        ... class Demo:
        ...     rate: float = 0.5
        >>> merge_structured(Demo, {"rate": "0.25"})
        Demo(rate=0.25)
        >>> merge_structured(Demo, {"rate": True}, "demo", expected={"rate": "a number"})
        Traceback (most recent call last):
        ValueError: demo.rate=True: expected a number
    """
    schema = _SCHEMAS.get(cls)
    if schema is None:
        schema = _SCHEMAS[cls] = OmegaConf.structured(cls)
    prefix = f"{key}." if key else ""
    if not isinstance(values, Mapping) and not OmegaConf.is_dict(values):
        raise error(f"{key or 'settings'}={values!r}: expected a mapping")
    try:
        return cast(T, OmegaConf.to_object(OmegaConf.merge(schema, values)))
    except ConfigKeyError as err:
        unknown = sorted(str(name) for name in values if name not in schema) or [str(err.key)]
        raise error(f"{key or 'settings'}: unknown key(s) {unknown}; known: {', '.join(map(str, schema))}") from None
    except OmegaConfBaseException as err:
        name = re.split(r"[.\[]", str(err.full_key or ""))[0] or _culprit(schema, values)
        reason = f"expected {expected[name]}" if expected and name in expected else str(err.msg).splitlines()[0]
        raise error(f"{prefix}{name}={values.get(name)!r}: {reason}") from None


def _culprit(schema: DictConfig, values: Any) -> str:
    """The setting OmegaConf refused when its error names none (a mapping given for a list merges at the root)."""
    for name, value in values.items():
        try:
            OmegaConf.merge(schema, {name: value})
        except OmegaConfBaseException:
            return str(name)
    return "?"

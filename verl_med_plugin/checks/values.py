"""Config values as the checks read them: one conversion each, shared by every check."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf


def plain(value: Any) -> Any:
    """An OmegaConf node as plain Python (interpolations resolved); anything else unchanged."""
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def as_list(value: Any) -> list[str]:
    """A file list as verl accepts it (one path, a list of paths or nothing) as a list of strings.

    >>> as_list(None), as_list("a.parquet"), as_list(["a", 1])
    ([], ['a.parquet'], ['a', '1'])
    """
    if value is None:
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]

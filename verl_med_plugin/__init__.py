"""verl-med: glue between verl 0.9.x and the medical rewards, data and sampler of VRFT-Aug."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__version__ = "0.1.0"


def _configs_of_this_checkout() -> None:
    """In a source checkout, ``verl_med_plugin.configs`` is the checkout's top-level ``configs/`` (pyproject.toml
    remaps it for the wheel). Bind it here, from the same checkout as this code: with another checkout installed
    editable, its finder would otherwise serve that checkout's configs under this checkout's code (Hydra: "Could
    not find med/experiment/..." for a preset only this checkout has). An installed wheel has no sibling
    ``configs/``."""
    configs = Path(__file__).resolve().parent.parent / "configs"
    name = f"{__name__}.configs"
    if name in sys.modules or not (configs / "__init__.py").is_file() or not (configs / "med_grpo.yaml").is_file():
        return
    spec = importlib.util.spec_from_file_location(
        name, configs / "__init__.py", submodule_search_locations=[str(configs)]
    )
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_configs_of_this_checkout()

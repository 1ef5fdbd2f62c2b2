"""The config and data checks' former home, kept importable: they live in ``verl_med_plugin.checks.config`` and
``verl_med_plugin.checks.data``."""

from verl_med_plugin.checks.config import (
    CONFIG_MODULE,
    CONFIG_NAME,
    composed_config_problems,
    default_leaves,
    type_problems,
)
from verl_med_plugin.checks.data import REQUIRED_COLUMNS, data_file_problems, exclusion_problems

__all__ = [
    "CONFIG_MODULE",
    "CONFIG_NAME",
    "REQUIRED_COLUMNS",
    "composed_config_problems",
    "data_file_problems",
    "default_leaves",
    "exclusion_problems",
    "type_problems",
]

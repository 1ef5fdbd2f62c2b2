"""Package discovery, which ``pyproject.toml`` alone cannot combine with ``configs/`` shipping as
``verl_med_plugin.configs``: every directory under the three code packages is found (so a new subpackage or data
folder cannot be forgotten), and so is every directory under ``configs/``. The rest is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

CODE = ("verl_med_plugin", "reward_fns", "data_preprocess")
CONFIGS = "verl_med_plugin.configs"  # [tool.setuptools.package-dir] maps it to configs/

packages = find_namespace_packages(include=[f"{name}*" for name in CODE], exclude=["*.__pycache__"])
packages += [CONFIGS] + [f"{CONFIGS}.{name}" for name in find_namespace_packages("configs")]
setup(packages=packages)

"""Every doctest in the three packages runs: the examples in the docstrings are part of the documentation, so a
wrong one is a bug. Modules are found by walking the packages, so a new doctest needs no registration here."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import data_preprocess
import reward_fns
import verl_med_plugin


def _modules_with_examples() -> list[str]:
    names = []
    for package in (reward_fns, data_preprocess, verl_med_plugin):
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            spec = importlib.util.find_spec(info.name)
            origin = getattr(spec, "origin", None)
            if origin and origin.endswith(".py") and ">>>" in open(origin, encoding="utf-8").read():
                names.append(info.name)
        init = package.__file__
        if init and ">>>" in open(init, encoding="utf-8").read():
            names.append(package.__name__)
    return sorted(names)


MODULES = _modules_with_examples()


def test_the_public_entry_points_have_examples():
    for name in ("reward_fns.composite", "reward_fns.parsing"):
        assert name in MODULES, f"{name}: its public function's docstring lost its example"


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"

"""Work a test process would otherwise repeat hundreds of times on files that do not change during the run, done
once per process (the suite's time went to loading the same fixture tokenizer ~70 times, ~1.2 s each,
and to parsing the same ~40 Hydra yaml files on every composition). conftest.py turns both on for the whole
session; ``VERL_MED_TEST_NO_MEMO=1`` turns them off (the suite must pass either way).

What the code under test gets is unchanged in kind: the first load is the library's own, later calls get a deep
copy of it, so changing one (a chat template, a pad token, a config key) never reaches another test."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

MEMO_OFF_ENV = "VERL_MED_TEST_NO_MEMO"

_PARSED_CONFIG_FILES: dict = {}
_LOADED: dict = {}


@contextlib.contextmanager
def parse_each_config_file_once() -> Iterator[None]:
    """Hydra reads and parses every yaml of the tree (verl's ``ppo_trainer`` and ours) on each compose, about half
    its time. Package files do not change during a test run: each is parsed once per process and Hydra gets a deep
    copy (it changes what it loads), so the composition itself is still Hydra's own."""
    from hydra._internal.core_plugins.importlib_resources_config_source import ImportlibResourcesConfigSource

    load = ImportlibResourcesConfigSource.load_config

    def load_once(self, config_path: str):
        key = (self.path, config_path)
        if key not in _PARSED_CONFIG_FILES:
            _PARSED_CONFIG_FILES[key] = load(self, config_path)
        parsed = _PARSED_CONFIG_FILES[key]
        return dataclasses.replace(parsed, config=copy.deepcopy(parsed.config), header=dict(parsed.header))

    ImportlibResourcesConfigSource.load_config = load_once
    try:
        yield
    finally:
        ImportlibResourcesConfigSource.load_config = load


def _folder_state(path) -> tuple | None:
    """Name, size and mtime of each file of a local model folder: a rebuilt or edited folder is loaded afresh."""
    folder = Path(os.fspath(path))
    if not folder.is_dir():
        return None
    return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()))


def _rust_backends(obj) -> dict:
    """``copy.deepcopy`` memo that keeps the Rust ``tokenizers.Tokenizer`` of a tokenizer (or of a processor's
    tokenizer) shared: it is immutable in how the code under test uses it (encode/decode; padding and truncation
    are set on each call), and copying it means re-parsing the 11 MB ``tokenizer.json``."""
    memo = {}
    for holder in (obj, getattr(obj, "tokenizer", None)):
        backend = getattr(holder, "_tokenizer", None)
        if backend is not None:
            memo[id(backend)] = backend
    return memo


def _load_once(original):
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        state = _folder_state(pretrained_model_name_or_path)
        if state is None:  # a hub id or a missing folder: the library's own behaviour, error included
            return original(cls, pretrained_model_name_or_path, *args, **kwargs)
        key = (cls, os.path.realpath(pretrained_model_name_or_path), state, repr(args), repr(sorted(kwargs.items())))
        if key not in _LOADED:
            _LOADED[key] = original(cls, pretrained_model_name_or_path, *args, **kwargs)
        loaded = _LOADED[key]
        return copy.deepcopy(loaded, _rust_backends(loaded))

    return from_pretrained


@contextlib.contextmanager
def load_each_tokenizer_once() -> Iterator[None]:
    """``from_pretrained`` of tokenizers and processors, from a local folder, once per process and arguments."""
    from transformers.processing_utils import ProcessorMixin
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

    saved = {owner: owner.__dict__["from_pretrained"] for owner in (PreTrainedTokenizerBase, ProcessorMixin)}
    for owner, method in saved.items():
        owner.from_pretrained = classmethod(_load_once(method.__func__))
    try:
        yield
    finally:
        for owner, method in saved.items():
            owner.from_pretrained = method


@contextlib.contextmanager
def memoized() -> Iterator[None]:
    """Both of the above, unless ``VERL_MED_TEST_NO_MEMO=1``."""
    if os.environ.get(MEMO_OFF_ENV) == "1":
        yield
        return
    with parse_each_config_file_once(), load_each_tokenizer_once():
        yield

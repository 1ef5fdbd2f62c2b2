"""Shared helpers of the knowledge / chat-template / sampler / trainer / entry-point tests.

Model directories come in both families (Qwen2.5-VL, Qwen3-VL) and load through verl's ``HFModelConfig`` (what the
trainer and the agent loop build), built once per pytest run. Composed configs are cached per test process (a
compose of ``med_grpo`` parses ~40 yaml files, about a second); the entry points run in-process with
``run_in_process``, as ``python -m`` runs them, without the ~15 s verl (or torch) import of a new process each time.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from fixtures_data import (
    VRFT_INSTRUCTION,
    png_bytes,
    preset_options,
    retina_row,
    synthetic_images,
)
from fixtures_model import shared_model_dir

GROUNDING_QUESTION = "Where is the lesion in this image?"
FAMILIES = ("qwen2_5_vl", "qwen3_vl")


@functools.cache
def model_dir(family: str) -> Path:
    """A weight-free model directory of ``family`` with the real Qwen BPE tokenizer and processor (built once per
    pytest run: ``fixtures_model.shared_model_dir``)."""
    return shared_model_dir(f"perception_{family}", family=family)


def classification_row(i: int, *, option_style: str = "none", prompt_text: str | None = None, size: int = 56):
    image = synthetic_images(1, size=size, seed=i)[0]
    return retina_row(i, image, option_style=option_style, prompt_text=prompt_text)


def grounding_row(i: int, size: int = 56):
    from data_preprocess.schema import make_extra_info, make_row

    info = make_extra_info(
        split="train",
        index=i,
        dataset="lesions",
        task_type="grounding",
        question=GROUNDING_QUESTION,
        knowledge="Lesions are bright round blobs.",
        template="vrft",
        image_size=[size, size],
    )
    image = synthetic_images(1, size=size, seed=100 + i)[0]
    return make_row(
        dataset="lesions",
        prompt_text="<image>" + GROUNDING_QUESTION + VRFT_INSTRUCTION,
        image_bytes=[png_bytes(image)],
        ground_truth=[[10, 10, 30, 30]],
        extra_info=info,
    )


def write_rows(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from data_preprocess.schema import arrow_schema

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), path)
    return path


@functools.cache
def _composed(overrides: tuple[str, ...]):
    from hydra import compose, initialize_config_module

    with initialize_config_module("verl_med_plugin.configs", version_base=None):
        return compose("med_grpo", overrides=list(overrides))


def compose_med_config(*overrides: str):
    """``configs/med_grpo.yaml`` composed as ``python -m verl_med_plugin.main`` does (a copy: free to change)."""
    import copy

    return copy.deepcopy(_composed(overrides))


def preset_overrides(experiment: str | None, model: str, hardware: str) -> tuple[str, ...]:
    """The command-line overrides that pick a preset combination (no experiment: the default run)."""
    return (f"med/model={model}", f"med/hardware={hardware}", *([f"med/experiment={experiment}"] if experiment else []))


def preset_combinations(experiments: bool | str = True) -> list[tuple[str | None, str, str]]:
    """Every (experiment, model, hardware) of ``configs/med``; ``experiments="and default"`` adds the run without an
    experiment preset (``None``), ``False`` leaves experiments out."""
    import itertools

    names: list[str | None] = preset_options("experiment") if experiments else [None]
    if experiments == "and default":
        names = [None, *names]
    return list(itertools.product(names, preset_options("model"), preset_options("hardware")))


@functools.cache
def composed_preset(experiment: str | None, model: str, hardware: str):
    """A preset combination composed once per test process and shared by every test that reads it (read-only:
    changing it raises; take ``compose_med_config(*preset_overrides(...))`` for a copy to change). The read-only
    flag is set on a copy: set on ``_composed``'s cached config it would reach every later ``compose_med_config``
    of the same combination in this process."""
    import copy

    from omegaconf import OmegaConf

    config = copy.deepcopy(_composed(preset_overrides(experiment, model, hardware)))
    OmegaConf.set_readonly(config, True)
    return config


def experiment_params(default: bool = False) -> list:
    """The experiment presets (and ``None``, the default run, if ``default``) as ``pytest.param``s, each in its own
    ``xdist_group``: under ``--dist loadgroup`` (scripts/test.sh) every test of one experiment runs in the process
    that composed its combinations, and the experiments spread over the processes."""
    import pytest

    names = ([None] if default else []) + preset_options("experiment")
    return [pytest.param(name, marks=pytest.mark.xdist_group(f"preset_{name or 'default'}")) for name in names]


def run_med_main(*args: str, env: dict[str, str] | None = None):
    """``python -m verl_med_plugin.main ARGS`` as a user runs it (a ``CompletedProcess`` with text output)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "verl_med_plugin.main", *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )


class ReachedTraining(AssertionError):
    """Raised in place of ``verl_med_plugin.trainer.run``: the in-process entry point got past its checks."""


def run_in_process(module: str, argv: list[str], cwd=None):
    """``python -m MODULE ARGV`` in this process, returning what the shell would see (a ``CompletedProcess``):
    the exit status (``SystemExit``; a message given to ``SystemExit`` goes to stderr with status 1, as Python
    does), stdout and stderr. Hydra entry points (``verl_med_plugin.main``, ``sft_preflight``) read ``sys.argv``;
    converters run through ``validate.run_guarded`` like their ``__main__``. ``verl_med_plugin.trainer.run`` is
    replaced by ``ReachedTraining``: a run that would start Ray fails the test instead."""
    import contextlib
    import importlib
    import io
    import os
    import subprocess
    import sys
    from types import SimpleNamespace

    from hydra.core.global_hydra import GlobalHydra

    def no_training(config):
        raise ReachedTraining(f"python -m {module} {' '.join(argv)}: got past the checks to training (Ray)")

    converter = module.startswith("data_preprocess.")
    trainer = SimpleNamespace(run=None) if converter else importlib.import_module("verl_med_plugin.trainer")
    entry = importlib.import_module(module)
    if hasattr(entry, "__path__"):  # a package (data_preprocess.vqa): python -m runs its __main__
        entry = importlib.import_module(f"{module}.__main__")
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, os.getcwd(), trainer.run
    code = 0
    try:
        sys.argv, trainer.run = [entry.__file__, *argv], no_training
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if converter:
                    from data_preprocess.validate import run_guarded

                    run_guarded(entry.main, list(argv))
                else:
                    entry.main()
            except SystemExit as stop:
                if isinstance(stop.code, str):
                    print(stop.code, file=sys.stderr)
                    code = 1
                else:
                    code = stop.code or 0
    finally:
        sys.argv, trainer.run = saved[0], saved[2]
        os.chdir(saved[1])
        GlobalHydra.instance().clear()  # hydra.main leaves it set; the next compose would refuse to start
    return subprocess.CompletedProcess([sys.executable, "-m", module, *argv], code, out.getvalue(), err.getvalue())


# Record and replay of example scripts: bash runs the script with a ``python`` that records the entry-point commands
# it issues (every other use of python runs for real), then the test runs those commands in order, in-process.
# The converters and the entry points; any other module (``data_preprocess.vqa.example_run``, whose output the VQA
# script reads) runs for real.
RECORDED_MODULES = (
    "verl_med_plugin.main",
    "verl_med_plugin.sft_preflight",
    "data_preprocess.medmnist",
    "data_preprocess.grounding",
    "data_preprocess.sft",
    "data_preprocess.vqa",
)


def recording_python(bin_dir: Path, log: Path) -> Path:
    """A ``python`` that appends ``[module, *args]`` of ``python -m <RECORDED_MODULES> ...`` to ``log`` (JSON lines)
    and exits 0; any other use (``python -c`` of ``preset_value``) runs the real interpreter."""
    import shlex
    import sys

    bin_dir.mkdir(parents=True, exist_ok=True)
    real, record = shlex.quote(sys.executable), shlex.quote(str(log))
    script = bin_dir / "python"
    script.write_text(f"""#!/usr/bin/env bash
if [ "${{1:-}}" = -m ]; then
  case "${{2:-}}" in
    {"|".join(RECORDED_MODULES)})
      exec {real} -c 'import json, sys; open(sys.argv[1], "a").write(json.dumps(sys.argv[2:]) + "\\n")' \\
        {record} "${{@:2}}";;
  esac
fi
exec {real} "$@"
""")
    script.chmod(0o755)
    return script


def record_script(script: Path, env: dict[str, str], folder: Path, timeout: float = 600, args: Sequence[str] = ()):
    """``bash SCRIPT ARGS`` with ``recording_python`` first on PATH (its files in ``folder``): the bash run (a
    ``CompletedProcess``) and the recorded commands, ``[module, *args]`` each, in the order the script issued them."""
    import json
    import os
    import subprocess

    log = folder / "commands.jsonl"
    recording_python(folder / "bin", log)
    env = dict(env, PATH=f"{folder / 'bin'}{os.pathsep}{env.get('PATH', os.environ['PATH'])}")
    proc = subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=timeout)
    commands = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc, commands


def replay(commands: list[list[str]]) -> str:
    """Runs recorded commands in order, in-process (``run_in_process``); each must exit 0, as the scripts run under
    ``set -e``. Returns their standard output, joined."""
    stdout = ""
    for module, *argv in commands:
        run = run_in_process(module, argv)
        assert run.returncode == 0, (module, argv, run.stdout[-2000:], run.stderr[-4000:])
        stdout += run.stdout
    return stdout

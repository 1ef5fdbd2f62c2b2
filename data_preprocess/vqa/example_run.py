"""``python -m data_preprocess.vqa.example_run NAME``: a benchmark's example-run facts as bash assignments.

``examples/vqa/run.sh`` evaluates this output, so the facts that differ per benchmark (download command, converter
flags, training overrides, evaluation split: ``registry.ExampleRun``) live with the benchmark's reader and a new
benchmark needs no preset or script of its own.

>>> print(bash_assignments("vqa_rad").splitlines()[0])
vqa_release_variable=VQA_RAD_DIR
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from ..cli import run_cli
from .registry import get_benchmark

RESPONSE_LENGTH_KEY = "data.max_response_length="


def release_variable(name: str) -> str:
    """The environment variable that holds a benchmark's downloaded release: ``vqa_rad`` -> ``VQA_RAD_DIR``."""
    return f"{name.upper()}_DIR"


def generate_args(train: Sequence[str]) -> list[str]:
    """``verl-med-generate`` answers as long as training's rollouts: ``--max_tokens`` from the run's
    ``data.max_response_length`` override, when it sets one (else the generator's default, the preset's)."""
    lengths = [item.removeprefix(RESPONSE_LENGTH_KEY) for item in train if item.startswith(RESPONSE_LENGTH_KEY)]
    return ["--max_tokens", lengths[-1]] if lengths else []


def bash_array(name: str, items: Sequence[str]) -> str:
    return f"{name}=({' '.join(shlex.quote(item) for item in items)})"


def bash_assignments(name: str) -> str:
    """The lines ``run.sh`` evaluates: every value shell-quoted, arrays for argument lists, every name prefixed
    ``vqa_`` (they land in the script's own shell)."""
    run = get_benchmark(name).run
    return "\n".join(
        [
            f"vqa_release_variable={release_variable(name)}",
            f"vqa_download={shlex.quote(run.download)}",
            bash_array("vqa_convert_args", run.convert),
            bash_array("vqa_train_args", run.train),
            f"vqa_evaluate_split={shlex.quote(run.evaluate_split)}",
            f"vqa_train_on={shlex.quote(run.train_on)}",
            bash_array("vqa_generate_args", generate_args(run.train)),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m data_preprocess.vqa.example_run", description=__doc__)
    parser.add_argument("benchmark", help="a registered benchmark name (python -m data_preprocess.vqa --help)")
    print(bash_assignments(parser.parse_args(argv).benchmark))


if __name__ == "__main__":
    run_cli(main)

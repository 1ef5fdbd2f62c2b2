"""The tiny Qwen-VL model directory of the tests: built by ``verl_med_plugin.tiny_model`` (the builder contributors
use for their dry runs), shared by the xdist workers of one pytest run."""

from __future__ import annotations

from pathlib import Path

from verl_med_plugin.tiny_model import (  # noqa: F401 - the tests import these from here
    QWEN25_VL_TEMPLATE,
    TINY_TEXT,
    TINY_VISION,
    build_tiny_qwen_vl_dir,
    qwen_tokenizer_files,
)

SHARED_ROOT_ENV = "VERL_MED_TEST_SHARED"  # set by conftest.py: a folder shared by the xdist workers of one run


def shared_model_dir(name: str, **build_kwargs) -> Path:
    """``build_tiny_qwen_vl_dir(<shared>/name, **build_kwargs)`` once per pytest run: the first process builds it
    under a file lock, the other xdist workers wait and reuse it. Outside pytest: a fresh temporary folder."""
    import os
    import tempfile

    from filelock import FileLock

    if not os.environ.get(SHARED_ROOT_ENV):
        return build_tiny_qwen_vl_dir(Path(tempfile.mkdtemp(prefix="verl_med_model_")) / name, **build_kwargs)
    root = Path(os.environ[SHARED_ROOT_ENV])
    root.mkdir(parents=True, exist_ok=True)
    path, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            build_tiny_qwen_vl_dir(path, **build_kwargs)
            done.write_text("built\n")
    return path

"""The conversion loop shared by every VQA benchmark: stream items split by split into ``<split>.parquet`` through
the MedMNIST converter's atomic writer (``common.atomic_outputs``): bounded memory, no partial output on any
error or interrupt, byte-identical files on rerun."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..cli import PromptOptions, option_keywords
from ..common import ConversionError, atomic_outputs
from ..release_paths import ZipLimits, using_zip_limits
from ..schema import arrow_schema
from .core import RowFactory, normalise_split
from .registry import get_benchmark, open_reader


@option_keywords
def convert(
    benchmark: str,
    input_path: Path | str,
    output_dir: Path | str,
    *,
    splits: Sequence[str] | None = None,
    prompt: PromptOptions = PromptOptions(),
    max_side: int = 448,
    progress: bool = True,
    zip_limits: ZipLimits | None = None,
    **options: Any,
) -> dict[str, Path]:
    """Convert one benchmark's public release to verl parquet (``python -m data_preprocess.vqa``).

    Args:
        benchmark (`str`):
            A registered name (``data_preprocess.vqa.benchmark_names()``).
        input_path (`Path` or `str`):
            The downloaded release (folder, file or zip; see docs/vqa.md per benchmark).
        output_dir (`Path` or `str`):
            Folder for ``<split>.parquet`` (created).
        splits (`Sequence[str]`, *optional*):
            The splits to write; defaults to every split the release has (``validation``/``dev`` = ``val``).
        prompt (`PromptOptions`, *optional*):
            Template and system prompt of the rows (options are always lettered: they are part of the question).
        max_side (`int`, *optional*, defaults to `448`):
            Longest stored image side (multiples of 28 px; 0 keeps the size).
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar per split.
        zip_limits (`ZipLimits`, *optional*):
            Uncompressed-size caps of the zip members read (``release_paths.ZipLimits``; defaults fit every
            release).
        **options:
            Benchmark-specific reader options (OmniMedVQA's study splits).

        The prompt's fields are taken as keywords too, as before ``prompt`` (``template=``, ``system_prompt=``;
        ``cli.option_keywords``).

    Returns:
        `dict[str, Path]`: The written parquet files by file name.

    Example:

    >>> import json, tempfile, pyarrow.parquet as pq
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as tmp:  # a SLAKE-shaped release: question files and imgs/
    ...     root = Path(tmp)
    ...     (root / "imgs" / "xmlab1").mkdir(parents=True)
    ...     Image.new("L", (64, 64)).save(root / "imgs" / "xmlab1" / "source.jpg")
    ...     question = {"img_name": "xmlab1/source.jpg", "question": "Is this a CT?", "answer": "Yes",
    ...                 "q_lang": "en", "modality": "CT", "location": "Lung", "content_type": "Modality"}
    ...     _ = (root / "train.json").write_text(json.dumps([question, dict(question, q_lang="zh")]))
    ...     _ = (root / "test.json").write_text(json.dumps([question]))
    ...     written = convert("slake", root, root / "out", progress=False)
    ...     {name: pq.ParquetFile(path).metadata.num_rows for name, path in written.items()}
    {'train.parquet': 1, 'test.parquet': 1}
    >>> convert("nosuch", "in", "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    data_preprocess.errors.ConversionError: --benchmark 'nosuch': unknown; choose from [...]
    """
    if prompt.option_style != "none":
        raise ConversionError(f"--option_style {prompt.option_style}: VQA options are always lettered")
    spec = get_benchmark(benchmark)
    factory = RowFactory(spec.name, template=prompt.template, max_side=max_side, system_prompt=prompt.system_prompt)
    output_dir = Path(output_dir).expanduser()
    with ExitStack() as stack:
        stack.enter_context(using_zip_limits(zip_limits))
        available = open_reader(spec, Path(input_path).expanduser(), stack, **options)
        wanted = [normalise_split(s) for s in splits] if splits else list(available)
        missing = [s for s in wanted if s not in available]
        if missing:
            raise ConversionError(
                f"--split {','.join(missing)}: {input_path} has no such split for {spec.name} "
                f"(it has: {', '.join(available) or 'none'})"
            )
        with atomic_outputs(output_dir) as outputs:
            for split in dict.fromkeys(wanted):
                sink = outputs.open(f"{split}.parquet", arrow_schema())
                with tqdm(desc=f"{spec.name} {split}", unit="q", disable=not progress) as bar:
                    for index, item in enumerate(available[split]()):
                        sink.write(factory.row(item, split, index))
                        bar.update()
    return {f"{s}.parquet": output_dir / f"{s}.parquet" for s in dict.fromkeys(wanted)}

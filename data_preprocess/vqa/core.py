"""What every medical-VQA converter shares: the source-independent item, the row contract (docs/vqa.md), image
look-up in folders and zips, and the streaming, atomic conversion loop (``common.atomic_outputs``).

A benchmark module only turns its released files into ``VQAItem`` objects; prompts, task types, ground truth,
knowledge and writing are decided here, once, for all benchmarks.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import string
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path, PurePosixPath
from typing import Any

from reward_fns import compute_score
from reward_fns.labels import normalize
from reward_fns.reference import option_reference_response, reference_response
from reward_fns.task_type import TaskType

from ..common import JPEG_QUALITY, QWEN_VL_FACTOR, ConversionError, Fitted, fit_encoded, split_indices
from ..errors import DroppedRow
from ..parallel import Workers, done
from ..prompts import _tidy, answer_formats, load_template, render_options
from ..release_paths import ReleaseRoot, ZipReader, clean_relative, is_zip, read_regular_file, safe_member_name
from ..schema import data_source_for, make_extra_info, make_row

YES_NO = ("yes", "no")
# HF split names -> the converters' split names (train / val / test, as MedMNIST writes them).
SPLIT_ALIASES = {"validation": "val", "validate": "val", "valid": "val", "dev": "val"}


@dataclass
class VQAItem:
    """One question of a benchmark, as released: the reader fills it, ``build_row`` turns it into a verl row."""

    where: str  # "<file>: <record>" named in every error about this item
    question: str
    answer: str  # the benchmark's answer exactly as released
    images: list[Callable[[], bytes]]  # loaders of the encoded image files (read only when the row is built)
    options: list[str] = field(default_factory=list)  # mcq option texts in order (A, B, ...)
    correct: int | None = None  # mcq: index of the correct option
    modality: str = ""
    organ: str = ""
    question_type: str = ""
    image_key: str = ""  # the released image path(s), when known: questions on one image share a split


def image_group(item: VQAItem) -> str:
    """The key of the image(s) a question is asked about (the released path, else a hash of the image bytes):
    splits made here keep every question on one image in one split. An image that cannot be read is its own
    group (its row fails, or is skipped, when it is built)."""
    return _group_and_bytes(item)[0]


def _group_and_bytes(item: VQAItem) -> tuple[str, int]:
    """``image_group`` of ``item`` and the image bytes it read to find it (0 for a released path)."""
    if item.image_key:
        return item.image_key, 0
    digest, size = hashlib.sha256(), 0
    try:
        for load in item.images:
            data = load()
            digest.update(hashlib.sha256(data).digest())
            size += len(data)
    except ConversionError:
        return f"unreadable: {item.where}", 0
    return digest.hexdigest(), size


# Questions read ahead to list each image's questions together (``grouped_by_image``), and the image bytes they may
# hold while doing so (releases that embed images in their rows, VQA-RAD and PathVQA, hold them in the items).
GROUP_WINDOW = 8192
GROUP_WINDOW_BYTES = 128 << 20


def grouped_by_image(
    items: Iterable[VQAItem], window: int = GROUP_WINDOW, max_bytes: int = GROUP_WINDOW_BYTES
) -> Iterator[VQAItem]:
    """``items`` with each image's questions listed together (``image_group``), within windows of ``window``
    questions or ``max_bytes`` of embedded image bytes: images in the order of their first question, each image's
    questions in release order. Rows of one image then share row groups, where the writer stores the image once
    (``common.DICTIONARY_PAGE_BYTES``), whatever order the release lists its questions in (VQA-RAD's files follow
    question ids, not images).

    >>> items = [VQAItem(f"f: {i}", "Is it?", "Yes", [], image_key=k) for i, k in enumerate("abab")]
    >>> [x.where for x in grouped_by_image(items)], [x.where for x in grouped_by_image(items, window=2)]
    (['f: 0', 'f: 2', 'f: 1', 'f: 3'], ['f: 0', 'f: 1', 'f: 2', 'f: 3'])
    """
    groups: dict[str, list[VQAItem]] = {}
    count = held = 0
    for item in items:
        key, size = _group_and_bytes(item)
        groups.setdefault(key, []).append(item)
        count, held = count + 1, held + size
        if count >= window or held >= max_bytes:
            yield from (x for group in groups.values() for x in group)
            groups, count, held = {}, 0, 0
    yield from (x for group in groups.values() for x in group)


def grouped_split(
    items: Sequence[VQAItem],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratum: Callable[[VQAItem], str] | None = None,
    min_val: int = 0,
) -> dict[str, list[VQAItem]]:
    """A seeded train/val/test split of ``items`` by image (``image_group``), stratified by ``stratum`` of each
    image's first question: no image is asked about in two splits. Items keep their order within a split.
    ``min_val``: at least this many images in val while train keeps one (rounding leaves a small release none)."""
    keys = [image_group(x) for x in items]
    first = dict(zip(reversed(keys), reversed(items), strict=True))  # each group's first item
    groups = list(dict.fromkeys(keys))
    strata = [stratum(first[g]) for g in groups] if stratum else None
    parts = split_indices(len(groups), val_fraction, test_fraction, seed, strata)
    split_of = {groups[int(i)]: split for split, indices in parts.items() for i in indices}
    train_groups = [groups[int(i)] for i in parts["train"]]
    for group in train_groups[: max(0, min(min_val - len(parts["val"]), len(train_groups) - 1))]:
        split_of[group] = "val"
    return {s: [x for x, k in zip(items, keys, strict=True) if split_of[k] == s] for s in ("train", "val", "test")}


def item_or_drop(build: Callable[[], VQAItem]) -> VQAItem | Drop:
    """``build()``, or the ``Drop`` it raised: a reader yields it and goes on with the next record."""
    try:
        return build()
    except DroppedRow as drop:
        return Drop(drop.where, drop.reason)


def normalise_split(name: str) -> str:
    """``validation``/``validate``/``dev`` -> ``val``; other names unchanged (lower case).

    >>> normalise_split("validation"), normalise_split("test_clean")
    ('val', 'test_clean')
    """
    name = name.strip().lower()
    return SPLIT_ALIASES.get(name, name)


def yes_no(answer: str) -> str | None:
    """ "yes"/"no" when a released answer is one (any case, trailing full stop), else None.

    >>> yes_no(" Yes."), yes_no("liver")
    ('yes', None)
    """
    text = answer.strip().rstrip(".").strip().casefold()
    return text if text in YES_NO else None


def require(record: Mapping[str, Any], key: str, where: str, *, allow_empty: bool = False) -> str:
    """A record's text field, or one ``ConversionError`` naming the file, the record and the field."""
    if not isinstance(record, Mapping):
        raise ConversionError(f"{where}: expected an object with field '{key}', got {type(record).__name__}")
    if key not in record or record[key] is None:
        raise ConversionError(f"{where}: field '{key}' is missing")
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConversionError(f"{where}: field '{key}': expected text, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):  # JSON NaN/Infinity: str() would make "nan" an answer
        raise DroppedRow(where, f"field '{key}' is {value} (not a value)")
    text = str(value).strip()
    if not text and not allow_empty:
        raise ConversionError(f"{where}: field '{key}' is empty")
    return text


def letter_index(letter: str, n_options: int, where: str, key: str) -> int:
    """Index of an answer letter ("B" -> 1) among ``n_options``; a bad letter names the field."""
    text = letter.strip().upper()
    if len(text) != 1 or not "A" <= text < chr(ord("A") + n_options):
        raise ConversionError(
            f"{where}: field '{key}': {letter!r} is not one of the option letters A-{chr(ord('A') + n_options - 1)}"
        )
    return ord(text) - ord("A")


# --- images ----------------------------------------------------------------------------------------------------


class MissingImage(ConversionError):
    """A record's image is not in the release: the row is refused (or counted and skipped with
    ``--skip_missing_images``), never paired with another record's image of the same file name."""


def _raise_missing(message: str) -> bytes:
    raise MissingImage(message)


class ImageStore:
    """Finds a benchmark's image by its released relative path in an unpacked folder or in the released zip,
    whatever folder the archive or the user put above it (``imgs/x/source.jpg`` is found as ``Slake/imgs/x/...``
    and ``x/source.jpg``). Zip members are read one at a time: the archive is never unpacked. Every name goes
    through ``release_paths``: inside ``release`` (default: the folder holding all ``roots``) or refused, zip
    members under the size caps.

    A path with folders is never matched by its bare file name: every SLAKE image is ``xmlab<N>/source.jpg``, so a
    missing ``xmlab5/source.jpg`` must not become ``xmlab1/source.jpg``. A path suffix shared by several zip members
    is ambiguous and matches none of them."""

    def __init__(self, roots: Sequence[Path], release: Path | None = None):
        given = [Path(r) for r in roots]
        self.release = ReleaseRoot(release or Path(os.path.commonpath([str(r.absolute()) for r in given])))
        self.roots = [r for r in given if r.exists()]
        self._zips: list[tuple[ZipReader, dict[str, str | None]]] = []
        for root in self.roots:
            if is_zip(root) and self.release.inside(root):
                archive = ZipReader(root)
                index: dict[str, str | None] = {}
                for name in sorted(archive.names()):
                    clean = safe_member_name(name)
                    if name.endswith("/") or clean is None:
                        continue
                    parts = clean.parts
                    for k in range(len(parts)):  # every path suffix -> member; None when two members share it
                        key = "/".join(parts[k:])
                        index[key] = name if index.get(key, name) == name else None
                self._zips.append((archive, index))

    def loader(self, relative: str, where: str) -> Callable[[], bytes]:
        """A function reading the image's bytes. A missing image gives a loader raising ``MissingImage`` naming the
        record and the path, so the row fails (or is skipped) when it is built; a path leaving the release fails
        now, the same way whether or not its target exists."""
        suffixes = suffixes_of(str(clean_relative(relative, where)))
        for root in self.roots:
            if root.is_dir():
                for suffix in suffixes:
                    path = self.release.resolve(root, PurePosixPath(suffix), where)
                    if path.is_file():
                        return partial(read_regular_file, path, f"{where}: image {relative!r}")
        for archive, index in self._zips:
            for suffix in suffixes:
                member = index.get(suffix)
                if member is not None:
                    return partial(archive.read, member, where)
        looked = ", ".join(str(r) for r in self.roots) or "no image folder or zip found"
        return partial(_raise_missing, f"{where}: image {relative!r} not found (looked in: {looked})")

    def close(self) -> None:
        for archive, _ in self._zips:
            archive.close()


def suffixes_of(relative: str) -> list[str]:
    """The path and its shorter suffixes down to one folder and the file name, never the bare name of a path
    with folders (the ambiguous fallback).

    >>> suffixes_of("imgs/xmlab5/source.jpg"), suffixes_of("a.png")
    (['imgs/xmlab5/source.jpg', 'xmlab5/source.jpg'], ['a.png'])
    """
    parts = PurePosixPath(relative).parts
    return ["/".join(parts[k:]) for k in range(max(1, len(parts) - 1))]


def fitted_image(job: Future[Fitted], where: str) -> Fitted:
    """The result of ``job`` (``common.fit_encoded`` of one image, maybe run in a worker), its errors naming the
    record."""
    try:
        return job.result()
    except MissingImage:  # names the record already; --skip_missing_images counts it
        raise
    except DroppedRow as drop:
        raise DroppedRow(where, f"image: {drop.reason}") from None
    except ConversionError as err:
        raise ConversionError(f"{where}: image: {str(err).split('image: ', 1)[-1]}") from None


class ImageCache:
    """Each distinct image (by content and stored side) fitted and encoded once per conversion, on the workers:
    SLAKE asks ~20 questions per image. The futures of the last ``max_bytes`` of source images are kept (an image
    asked about again later is fitted again, to the same bytes)."""

    def __init__(self, workers: Workers, jpeg_quality: int = JPEG_QUALITY, max_bytes: int = 64 << 20):
        self.workers, self.jpeg_quality, self.max_bytes = workers, jpeg_quality, max_bytes
        self._futures: OrderedDict[tuple[bytes, int], tuple[Future[Fitted], int]] = OrderedDict()
        self._bytes = 0
        self.submitted = 0  # distinct fits started (the benchmark and tests read it)

    def fitted(self, data: bytes, side: int) -> Future[Fitted]:
        key = (hashlib.sha256(data).digest(), side)
        if key in self._futures:
            self._futures.move_to_end(key)
            return self._futures[key][0]
        future = self.workers.submit(fit_encoded, data, side, self.jpeg_quality)
        self.submitted += 1
        self._futures[key] = (future, len(data))
        self._bytes += len(data)
        while self._bytes > self.max_bytes and len(self._futures) > 1:
            self._bytes -= self._futures.popitem(last=False)[1][1]
        return future


# --- rows ------------------------------------------------------------------------------------------------------


def task_of(item: VQAItem) -> tuple[TaskType, str, list[str]]:
    """Task type, ground truth and ``labels`` of an item (the row contract, docs/vqa.md).

    >>> task_of(VQAItem("f: 1", "Is it?", "Yes", []))[:2]
    (<TaskType.CLOSED: 'closed'>, 'yes')
    """
    if item.options:
        if item.correct is None or not 0 <= item.correct < len(item.options):
            raise ConversionError(f"{item.where}: no correct option among {len(item.options)}")
        return TaskType.MCQ, item.options[item.correct], list(item.options)
    answer = yes_no(item.answer)
    if answer is not None:
        return TaskType.CLOSED, answer, list(YES_NO)
    return TaskType.OPEN, item.answer.strip(), []


@cache
def _formats(task_type: str) -> dict[str, str]:
    return answer_formats()[task_type]


def letter_texts(options: Sequence[str]) -> bool:
    """Whether an option's text is itself one of the option letters, so an answer "C" could mean the letter or
    the text (MedXpertQA-MM has 87 such questions of 2,000). The reward reads the letter; the prompt says so.

    >>> letter_texts(["A", "C", "D", "E", "B"]), letter_texts(["CT", "MRI"]), letter_texts(["x", "E"])
    (True, False, False)
    """
    letters = {string.ascii_lowercase[i] for i in range(min(len(options), 26))}
    return any(normalize(text) in letters for text in options)


def prompt_text(
    template: str, question: str, options: Sequence[str], task_type: str, knowledge: str, n_images: int
) -> str:
    """The user turn: the template (``data_preprocess/templates``) with the question, the lettered options
    (always shown: they are part of the question), the VQA answer format, one ``<image>`` per image. Options
    whose texts are letters get the instruction that answers are read as letters (``letter_texts``)."""
    formats = _formats(task_type)
    shown = question
    if options:
        lines = [question, formats.get("options_intro", "Options:"), *render_options(options, "letter")]
        shown = "\n".join(lines) + "\n"  # the instruction after the list starts its own line
    fields = {
        "question": shown,
        "options": "",
        "knowledge": knowledge,
        "task_instruction": formats.get(
            "task_instruction_letter_texts" if letter_texts(options) else "task_instruction", ""
        ),
        "answer_format": formats["answer_format"],
    }
    text = _tidy(load_template(template).user.format(**fields))
    return text.replace("<image>", "<image>" * n_images, 1)


# A question about the imaging modality itself, by its wording (Med-R1's OmniMedVQA "What imaging technique is
# employed for obtaining this image?", SLAKE's "What modality is used to take this image?", VQA-RAD's "what imaging
# modality was used?") or its released category (OmniMedVQA "Modality Recognition", SLAKE "Modality").
_MODALITY_QUESTION = re.compile(
    r"\bmodalit|\bimaging (?:technique|method|type|modality)|\b(?:type|kind|form) of (?:image|imaging|scan)"
    r"|\bhow (?:was|is) (?:this|the) image (?:taken|acquired|obtained|captured)",
    re.IGNORECASE,
)


def asks_modality(item: VQAItem) -> bool:
    """Whether the question asks for the imaging modality: its row gets no modality card, which would name the
    answer in the prompt.

    >>> asks_modality(VQAItem("f: 1", "What imaging technique was utilized for obtaining this image?", "CT", []))
    True
    >>> asks_modality(VQAItem("f: 1", "Which organ is abnormal?", "Lung", [], question_type="Abnormality"))
    False
    """
    return "modality" in item.question_type.casefold() or bool(_MODALITY_QUESTION.search(item.question[:2048]))


def _knowledge(modality: str) -> str:
    from ..modality_knowledge import modality_knowledge

    return modality_knowledge(modality)[1] if modality else ""


class RowFactory:
    """Builds the rows of one benchmark run; knowledge is looked up once per modality, each distinct image fitted
    once (``ImageCache``, on ``workers``)."""

    def __init__(
        self,
        benchmark: str,
        template: str = "vrft",
        max_side: int = 448,
        system_prompt: str | None = None,
        jpeg_quality: int = JPEG_QUALITY,
        workers: Workers | None = None,
    ):
        self.benchmark, self.template, self.max_side = benchmark, template, max_side
        self.system_prompt = system_prompt if system_prompt is not None else load_template(template).system
        self._knowledge: dict[str, str] = {}
        self.images = ImageCache(workers or Workers(1), jpeg_quality)

    def side(self, n_images: int) -> int:
        """Longest side per image: ``max_side`` shrunk by sqrt(n) for a question with n images, so every row
        spends about the visual tokens of one ``max_side`` image and stays within the prompt length limit."""
        if self.max_side <= 0 or n_images <= 1:
            return self.max_side
        return max(QWEN_VL_FACTOR, int(self.max_side / math.sqrt(n_images)))

    def knowledge(self, modality: str) -> str:
        if modality not in self._knowledge:
            self._knowledge[modality] = _knowledge(modality)
        return self._knowledge[modality]

    def image_jobs(self, item: VQAItem) -> list[Future[Fitted]]:
        """Start fitting the item's images (``ImageCache``): per image, the future of its stored bytes and size. An
        image that cannot be read (``MissingImage``) gives a future holding that error, raised at the row's turn."""
        side = self.side(len(item.images))
        jobs: list[Future[Fitted]] = []
        for load in item.images:
            data = done(load)
            error = data.exception()
            if error is None:
                jobs.append(self.images.fitted(data.result(), side))
            else:
                jobs.append(Future())
                jobs[-1].set_exception(error)
        return jobs

    def row(
        self, item: VQAItem, split: str, index: int, images: Sequence[Future[Fitted]] | None = None
    ) -> dict[str, Any]:
        """The verl row of ``item``; a ``DroppedRow`` when it could never be graded (``check_gradable``).
        ``images``: the item's ``image_jobs`` when already started (default: started now)."""
        check_no_placeholder(item)
        check_options(item)
        task_type, ground_truth, labels = task_of(item)
        if len(item.options) > len(string.ascii_uppercase):
            raise ConversionError(f"{item.where}: {len(item.options)} options, at most 26 can be lettered")
        fitted = [fitted_image(job, item.where) for job in (self.image_jobs(item) if images is None else images)]
        knowledge = "" if asks_modality(item) else self.knowledge(item.modality)
        text = prompt_text(self.template, item.question, item.options, task_type.value, knowledge, len(fitted))
        extra_info = make_extra_info(
            split=split,
            index=int(index),
            dataset=self.benchmark,
            task_type=task_type.value,
            labels=labels,
            option_style="letter" if item.options else "none",
            question=item.question,
            knowledge=knowledge,
            template=load_template(self.template).name,
            image_size=[int(fitted[0][1][0]), int(fitted[0][1][1])] if fitted else [],
            options=list(item.options),
            modality=item.modality,
            organ=item.organ,
            question_type=item.question_type,
            answer=item.answer,
        )
        check_gradable(item.where, data_source_for(self.benchmark), ground_truth, extra_info)
        return make_row(
            dataset=self.benchmark,
            prompt_text=text,
            image_bytes=[data for data, _ in fitted],
            ground_truth=ground_truth,
            extra_info=extra_info,
            system_prompt=self.system_prompt,
        )


def check_no_placeholder(item: VQAItem) -> None:
    """Refuse a question or option holding ``<image>``: verl would count it as one more image than the row has."""
    for field_name, text in (("question", item.question), *((f"options[{i}]", o) for i, o in enumerate(item.options))):
        if "<image>" in text:
            raise ConversionError(
                f"{item.where}: field '{field_name}': contains the image placeholder '<image>' (verl would look for "
                "one more image than the question has)"
            )


@dataclass(frozen=True)
class Drop:
    """A record a reader skips, with the reason: the conversion counts it per reason and reports it."""

    where: str
    reason: str


def check_options(item: VQAItem) -> None:
    """An option list the reward can tell apart: no empty option, no two options of the same text (the answer
    "liver" would name both, so every rollout on the row scores 0)."""
    seen: dict[str, int] = {}
    for i, text in enumerate(item.options):
        key = " ".join(text.split()).casefold()
        if not key:
            raise DroppedRow(item.where, f"option {string.ascii_uppercase[i % 26]} is empty")
        if key in seen:
            first = string.ascii_uppercase[seen[key] % 26]
            raise DroppedRow(item.where, f"options {first} and {string.ascii_uppercase[i % 26]} have the same text")
        seen[key] = i


def check_gradable(where: str, data_source: str, ground_truth: str, extra_info: dict[str, Any]) -> None:
    """Refuse a row the reward could never grade, judged by the reward itself: its reference answer
    (``reward_fns.reference.reference_response``, what a perfect model says) must score acc = 1 under
    ``reward_fns.compute_score`` (an open answer of "-" or over 256 tokens, an answer "nan" never can). A
    multiple-choice row whose option texts are letters is graded by the letter its prompt asks for, so its
    reference by option letter (``option_reference_response``) counts too."""
    responses = [reference_response(ground_truth, extra_info), option_reference_response(ground_truth, extra_info)]
    for response in filter(None, responses):
        if float(compute_score(data_source, response, ground_truth, extra_info).get("acc", 0.0)) >= 1.0:
            return
    raise DroppedRow(where, "the reward cannot grade its reference answer (acc < 1)")


# --- small helpers the readers share -------------------------------------------------------------------------------

_CHOICE_PREFIX = re.compile(r"^\s*\(?[A-Za-z]\)?\s*[:.)]\s*")


def strip_choice_prefix(text: str, letter: str) -> str:
    """``"A:Diffuse uptake"`` / ``" B: Focal"`` -> the option text (PMC-VQA repeats the letter in the choice).

    >>> strip_choice_prefix(" B:Focal uptake pattern", "B")
    'Focal uptake pattern'
    """
    match = _CHOICE_PREFIX.match(text)
    if match and match.group(0).strip().strip("(").upper().startswith(letter.upper()):
        return text[match.end() :].strip()
    return text.strip()


def split_files(
    folder: Path,
    names: Mapping[str, Sequence[str]],
    items: Callable[[Path, ImageStore], Iterable[VQAItem | Drop]],
    image_roots: Sequence[Path],
    stack: ExitStack,
    missing: str,
) -> dict[str, Callable[[], Iterable[VQAItem | Drop]]]:
    """A reader's result for a release of one file per split: per split of ``names`` (split -> the file names
    the releases have used for it, current name first), the items of the one file present in ``folder``, their
    images looked up under ``image_roots`` (closed with ``stack``). ``missing``: the error when no file is there;
    two names of one split both present is an error (which one is the release?)."""
    files: dict[str, Path] = {}
    for split, candidates in names.items():
        present = [folder / n for n in candidates if (folder / n).is_file()]
        if len(present) > 1:
            raise ConversionError(
                f"{folder}: both {' and '.join(p.name for p in present)} hold the {split} split; keep the one "
                "of the release you mean"
            )
        if present:
            files[split] = present[0]
    if not files:
        raise ConversionError(missing)
    images = ImageStore(image_roots)
    stack.callback(images.close)
    return {split: partial(items, path, images) for split, path in files.items()}


def files_by_split(paths: Iterable[Path], split_of: Callable[[Path], str | None]) -> dict[str, list[Path]]:
    """Group source files by split name (sorted, so reruns read them in the same order)."""
    out: dict[str, list[Path]] = {}
    for path in sorted(paths):
        split = split_of(path)
        if split:
            out.setdefault(normalise_split(split), []).append(path)
    return out

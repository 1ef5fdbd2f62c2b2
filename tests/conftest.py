"""Shared offline fixtures: a weight-free Qwen-VL model directory (real tokenizer and processor, built once per
pytest run and shared by the xdist workers), synthetic images and fake MedMNIST files. Module-specific fixtures
live in the test modules; constants and helpers in fixtures_data.py (paths, presets, the RetinaMNIST fixture),
fixtures_model.py (model folders), fixtures_memo.py (loads done once per process) and fixtures_perception.py
(rows, composed configs, in-process entry points)."""

from __future__ import annotations

import gc
import importlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Reward scorers re-raise internal errors instead of scoring 0 (reward_fns.composite.strict_mode): a crash the
# training catch-all would swallow fails the test that caused it.
os.environ.setdefault("VERL_MED_REWARD_STRICT", "1")

from fixtures_data import synthetic_images, write_fake_medmnist_npz  # noqa: E402
from fixtures_memo import memoized  # noqa: E402
from fixtures_model import SHARED_ROOT_ENV, shared_model_dir  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def load_and_parse_once():
    """Fixture tokenizers/processors loaded and Hydra yaml files parsed once per process (``fixtures_memo``)."""
    with memoized():
        yield


def pytest_configure(config: pytest.Config) -> None:
    """Refuse ``--dist loadgroup`` where it would silently ignore the ``xdist_group`` marks (pytest 9.2 stores
    structured node ids; pytest-xdist 3.8 still groups by rewriting ``item._nodeid``, pytest-dev/pytest-xdist#1386):
    shared fixtures (Ray, preset compositions, reports) would be built in every process."""
    if config.getoption("dist", "no") != "loadgroup":
        return
    import inspect

    import xdist.remote
    from packaging.version import Version

    if Version(pytest.__version__) >= Version("9.2") and "item._nodeid =" in inspect.getsource(xdist.remote):
        raise pytest.UsageError(
            f"--dist loadgroup has no effect with pytest {pytest.__version__} and this pytest-xdist "
            "(pytest-dev/pytest-xdist#1386): install the pinned test tools, pip install -e '.[test]' (pytest<9.2)"
        )


# Set by scripts/mutation.sh. mutmut's fork server collects the tests once, then forks one pytest run per mutant;
# each run ends in pytest's gc_collect_harder, which walks every object the imports left (~1 s of a ~1.2 s run of
# one fast test, benchmarks/results/mutation.md). Frozen after that collection, the heap is skipped by every fork's
# collections; what runs, and so what a mutant is killed by, is unchanged.
MUTATION_RUN_ENV = "VERL_MED_MUTATION_RUN"


# Imported inside functions by the session fixtures (fixtures_memo) and the code under test (verl's collate for the
# sampler's loader, statsmodels for the statistics): imported in the warm-up, every fork inherits them instead of
# importing them again (~4.5 s for verl's rl_dataset, ~3.5 s for hydra and transformers, per mutant).
MUTATION_WARM_IMPORTS = (
    "hydra._internal.core_plugins.importlib_resources_config_source",
    "transformers.processing_utils",
    "transformers.tokenization_utils_base",
    "verl.utils.dataset.rl_dataset",
    "statsmodels.stats.contingency_tables",
    "statsmodels.stats.multitest",
    "medmnist.evaluator",
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Warm up and freeze the heap of a mutation run's fork server (a collect-only session)."""
    if os.environ.get(MUTATION_RUN_ENV) == "1" and session.config.option.collectonly:
        for module in MUTATION_WARM_IMPORTS:
            importlib.import_module(module)
        gc.collect()
        gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def shared_build_root(tmp_path_factory) -> Path:
    """A folder of this pytest run shared by its xdist workers (the parent of their own temporary folders): fixture
    model folders are built there once per run (``fixtures_model.shared_model_dir``), not once per worker."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    os.environ[SHARED_ROOT_ENV] = str(root / "shared")
    return root / "shared"


@pytest.fixture(scope="session")
def tiny_model_dir(shared_build_root) -> Path:
    """A Qwen2.5-VL model directory without weights, loadable by verl's ``hf_tokenizer``/``hf_processor``."""
    return shared_model_dir("tiny_qwen25vl")


@pytest.fixture(scope="session")
def qwen_tokenizer(tiny_model_dir):
    from verl.utils import hf_tokenizer

    return hf_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="session")
def qwen_processor(tiny_model_dir):
    from verl.utils import hf_processor

    return hf_processor(str(tiny_model_dir))


@pytest.fixture
def images():
    """Factory: ``images(n, size=28, channels=3, seed=0)`` -> uint8 array (N, H, W, C)."""
    return synthetic_images


@pytest.fixture(scope="session")
def fake_medmnist_dir(tmp_path_factory) -> Path:
    """Fake MedMNIST ``.npz`` files in the official layout and names (``{flag}.npz``, ``{flag}_{size}.npz``)."""
    root = tmp_path_factory.mktemp("medmnist")
    write_fake_medmnist_npz(root / "retinamnist_224.npz", n_classes=5, size=224, seed=1)
    write_fake_medmnist_npz(root / "retinamnist.npz", n_classes=5, size=28, seed=2)
    write_fake_medmnist_npz(root / "breastmnist.npz", n_classes=2, size=28, channels=1, seed=3)
    write_fake_medmnist_npz(root / "bloodmnist_64.npz", n_classes=8, size=64, seed=4)
    write_fake_medmnist_npz(root / "chestmnist.npz", n_classes=14, size=28, channels=1, multilabel=True, seed=5)
    return root


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray instance for every test that needs one (verl's task runner actor, TransferQueue): starting
    Ray takes seconds. Its tests share a test process (``xdist_group("local_ray")``, ``--dist loadgroup``).
    Logical CPUs: verl's run starts TransferQueue's controller and storage actors, which reserve one each (with too
    few, ``run()`` waits forever); they idle, so the real load stays that of one process."""
    ray = pytest.importorskip("ray")
    # address="local": a cluster of our own even while another Ray runs on this machine (plain ray.init() joins the
    # one /tmp/ray/ray_current_cluster names, then refuses num_cpus: "When connecting to an existing cluster ...")
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()

"""Hostile input, entry point: careless overrides end with one ``verl-med: error:`` line naming the key, exit 2, before
Ray starts (with and without ``med.dry_run``); the ``med:`` group refuses unknown keys, also ones added with ``+``."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures_data import MED_CONFIGS, RETINA_LABELS, preset_options, write_fixture_parquet
from fixtures_perception import (
    compose_med_config,
    composed_preset,
    experiment_params,
    preset_combinations,
    run_in_process,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from verl_med_plugin.config_checks import (
    composed_config_problems,
    data_file_problems,
    default_leaves,
    type_problems,
)
from verl_med_plugin.med_settings import (
    MED_KEYS,
    MedGroup,
    SamplerSettings,
    SettingsError,
    check_med_config,
)
from verl_med_plugin.preflight import ConfigError, check_config

GROUNDING_FIRST = "med.sampler.schedule=[{task:grounding,until_step:5},{task:all}]"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Classification rows only (no grounding), plus a parquet of the wrong schema."""
    root = tmp_path_factory.mktemp("verl_med_data")
    for split in ("train", "val"):
        write_fixture_parquet(root / "retinamnist" / f"{split}.parquet", n=6)
    (root / "wrong").mkdir()
    for split in ("train", "val"):
        pq.write_table(pa.table({"text": ["a", "b"], "label": [0, 1]}), root / "wrong" / f"{split}.parquet")
    (root / "empty").mkdir()
    empty = pq.read_table(root / "retinamnist" / "train.parquet").slice(0, 0)
    for split in ("train", "val"):
        pq.write_table(empty, root / "empty" / f"{split}.parquet")
    return root


# (override, text the single error line must contain) -- the examples.
EXAMPLES = [
    ("med.dry_run_rows=0", "med.dry_run_rows=0: expected an integer in [1, 100000]"),
    ("med.dry_run_rows=abc", "med.dry_run_rows='abc': expected a finite number"),
    ("med.dry_run=maybe", "med.dry_run='maybe': expected true or false"),
    ("med.sampler.ema_decay=abc", "med.sampler.ema_decay='abc': expected a finite number"),
    ("med.sampler.ema_decay=1.5", "med.sampler.ema_decay=1.5 (expected a number in [0, 1))"),
    ("med.sampler.max_copies_per_batch=0", "med.sampler.max_copies_per_batch=0"),
    ("data.train_batch_size=abc", "data.train_batch_size='abc': expected a finite number (default 32)"),
    ("trainer.n_gpus_per_node=two", "trainer.n_gpus_per_node='two': expected a finite number"),
    ("actor_rollout_ref.rollout.n=inf", "actor_rollout_ref.rollout.n=inf: expected a finite number"),
    ("actor_rollout_ref.actor.use_kl_loss=1", "actor_rollout_ref.actor.use_kl_loss=1: expected true or false"),
    (
        "data.train_files=${oc.env:VERL_MED_SURELY_UNSET}",
        "data.train_files='${oc.env:VERL_MED_SURELY_UNSET}': cannot resolve the interpolation",
    ),
    ("+med.knowlege.mode=system", "med.knowlege: unknown key; did you mean med.knowledge?"),
    ("+med.dryrun=true", "med.dryrun: unknown key; did you mean med.dry_run?"),
    ("+med.knowledge.moed=user", "med.knowledge: unknown key(s) ['moed']"),
    ("+med.sampler.ema=0.3", "med.sampler: unknown key(s) ['ema']"),
    ("med.knowledge=abc", "med.knowledge='abc': expected a mapping"),
    (GROUNDING_FIRST, "med.sampler.schedule draws grounding samples, but data.train_files has none"),
    ("med.dataset=wrong", "no column(s) ['prompt', 'data_source', 'reward_model', 'extra_info']"),
    ("med.dataset=empty", "the file has no rows"),
]


@pytest.mark.parametrize(("override", "expected"), EXAMPLES, ids=[o for o, _ in EXAMPLES])
def test_careless_override_is_a_config_error_naming_the_key(data_dir, override, expected):
    with pytest.raises(ConfigError) as err:
        check_config(compose_med_config(f"med.data_dir={data_dir}", override))
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("override", "expected", "dry_run"),
    [
        ("+med.dryrun=true", "med.dryrun: unknown key", False),  # would have started a real training run
        ("data.train_batch_size=abc", "data.train_batch_size='abc'", True),
        ("med.dry_run_rows=0", "med.dry_run_rows=0", True),
        (GROUNDING_FIRST, "med.sampler.schedule draws grounding samples", False),  # failed after Ray started
        ("data.val_files=${oc.env:VERL_MED_SURELY_UNSET}", "data.val_files=", True),
    ],
)
def test_entry_point_prints_one_error_line_and_exits_2_before_ray(data_dir, tmp_path, override, expected, dry_run):
    """``python -m verl_med_plugin.main`` run in-process (its own process is started by the example scripts' smoke
    test, tests/test_examples_dry_run.py); getting to training (Ray) raises ``ReachedTraining``."""
    proc = run_in_process(
        "verl_med_plugin.main",
        [f"med.dry_run={str(dry_run).lower()}", f"med.data_dir={data_dir}", override],
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("verl-med: error:") == 1 and expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "ray init kwargs" not in proc.stdout and "Started a local Ray instance" not in proc.stderr


def test_float_settings_written_as_integers_by_verl_are_not_refused():
    """verl's yaml writes entropy_coeff 0 and top_p 1: a float there is a number like any other."""
    cfg = compose_med_config(
        "actor_rollout_ref.actor.entropy_coeff=0.001",
        "actor_rollout_ref.rollout.top_p=0.9",
        "actor_rollout_ref.rollout.val_kwargs.temperature=0.7",
    )
    assert composed_config_problems(cfg) == []


def test_entry_point_presets_are_the_known_groups():
    """A new preset group must join the checks below, and every preset file is composed by them (the medical-VQA
    benchmarks have no preset group: ``med.dataset=<benchmark>`` over ``med/experiment=vqa``, their overrides
    registered with their reader; ``test_vqa_runs_pass_the_new_checks``).
    Mutation checked: ``preset_combinations`` fixing the hardware to its first preset fails here (the count-only
    check it replaces, ``>= 24``, passed)."""
    assert sorted(p.name for p in MED_CONFIGS.iterdir() if p.is_dir() and any(p.glob("*.yaml"))) == [
        "experiment",
        "hardware",
        "model",
    ]
    # every shipped preset file is in a combination the checks below compose
    combinations = preset_combinations()
    covered = {
        (g, n) for combo in combinations for g, n in zip(("experiment", "model", "hardware"), combo, strict=True)
    }
    assert covered == {(p.parent.name, p.stem) for p in MED_CONFIGS.glob("*/*.yaml")}
    assert (
        len(set(combinations))
        == len(combinations)
        == math.prod(len(preset_options(g)) for g in ("experiment", "model", "hardware"))
    )


def _vqa_benchmarks() -> list[str]:
    from data_preprocess.vqa import benchmark_names

    return benchmark_names()


@pytest.mark.parametrize("benchmark", _vqa_benchmarks())
def test_vqa_runs_pass_the_new_checks(benchmark):
    """The vqa experiment with a benchmark's registered overrides, as examples/vqa/run.sh composes it."""
    from data_preprocess.vqa.registry import get_benchmark

    cfg = compose_med_config("med/experiment=vqa", f"med.dataset={benchmark}", *get_benchmark(benchmark).run.train)
    assert composed_config_problems(cfg) == [], benchmark
    assert check_med_config(cfg) == [], benchmark


@pytest.mark.parametrize("experiment", experiment_params())  # shares the compositions of the other preset tests
def test_entry_point_presets_pass_the_new_checks(experiment):
    """No false alarms: every preset the project ships composes into a config with no type or med-key problem."""
    for combination in [c for c in preset_combinations() if c[0] == experiment]:
        cfg = composed_preset(*combination)
        assert composed_config_problems(cfg) == [], combination
        assert check_med_config(cfg) == [], combination


def test_grounding_stage_passes_when_the_train_files_hold_grounding_rows(data_dir, tmp_path):
    from fixtures_perception import grounding_row, write_rows

    grounding = write_rows(tmp_path / "grounding.parquet", [grounding_row(i) for i in range(3)])
    train = f"data.train_files=[{grounding},{data_dir}/retinamnist/train.parquet]"
    assert data_file_problems(compose_med_config(f"med.data_dir={data_dir}", GROUNDING_FIRST, train)) == []


@pytest.fixture(scope="module")
def base_config():
    return compose_med_config("med.data_dir=/nonexistent")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(default_leaves())), st.sampled_from(["abc", "1.5x", "[1]", "true?", ""]))
def test_any_typed_key_given_text_is_named(base_config, key, text):
    """Property over every bool/int/float default of the composed config: a text value is reported by key."""
    cfg = OmegaConf.create(OmegaConf.to_container(base_config, resolve=False))
    OmegaConf.update(cfg, key, text, force_add=True)
    assert any(p.startswith(f"{key}=") for p in type_problems(cfg, default_leaves()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True).filter(lambda k: k not in MED_KEYS))
def test_any_unknown_med_key_is_refused(base_config, key):
    cfg = OmegaConf.create(OmegaConf.to_container(base_config, resolve=False))
    OmegaConf.update(cfg, f"med.{key}", True, force_add=True)
    assert any(p.startswith(f"med.{key}: unknown key") for p in check_med_config(cfg))


def test_med_keys_bound_every_key_of_the_med_group_schema():
    import dataclasses

    assert list(MED_KEYS) == [f.name for f in dataclasses.fields(MedGroup)]


def _train_files(cfg) -> list[str]:
    return list(OmegaConf.to_container(cfg, resolve=True)["data"]["train_files"])


def test_grounding_dataset_names_the_localization_data():
    cfg = compose_med_config("med/experiment=localization", "med.data_dir=/d", "med.grounding_dataset=kvasir")
    assert _train_files(cfg)[0].startswith("/d/kvasir_")
    assert check_med_config(cfg) == []


def test_localization_dataset_is_a_deprecated_alias_of_grounding_dataset():
    new = compose_med_config("med/experiment=localization", "med.data_dir=/d", "med.grounding_dataset=kvasir")
    old = compose_med_config("med/experiment=localization", "med.data_dir=/d", "+med.localization_dataset=kvasir")
    assert _train_files(old) == _train_files(new)
    with pytest.warns(
        DeprecationWarning,
        match=r"med\.localization_dataset='kvasir' is deprecated: use "
        r"med\.grounding_dataset=kvasir",
    ):
        assert check_med_config(old) == []


def test_localization_dataset_conflicting_with_grounding_dataset_is_refused():
    cfg = compose_med_config(
        "med/experiment=localization", "med.grounding_dataset=kvasir", "+med.localization_dataset=busi"
    )
    with pytest.warns(DeprecationWarning):
        problems = check_med_config(cfg)
    assert any(p.startswith("med.localization_dataset='busi' and med.grounding_dataset='kvasir'") for p in problems)


# (med.sampler key, bad value) -- type and range errors both name the key, no TypeError escapes.
SAMPLER_TABLE = [
    ("ema_decay", "abc"),
    ("ema_decay", float("nan")),
    ("ema_decay", 1),
    ("ema_decay", True),
    ("class_ema_decay", -0.1),
    ("class_weight", 2),
    ("floor", 0),
    ("floor", None),
    ("unseen_accuracy", True),
    ("seed", -1),
    ("seed", 1.5),
    ("max_copies_per_batch", "abc"),
    ("max_copies_per_batch", False),
    ("enable", "maybe"),
    ("signal_key", ""),
    ("signal_key", [1]),
]


@pytest.mark.parametrize(("name", "value"), SAMPLER_TABLE)
def test_sampler_settings_name_the_key(name, value):
    with pytest.raises(SettingsError, match=rf"med\.sampler\.{name}="):
        SamplerSettings.from_config({name: value})


@pytest.mark.parametrize(
    ("name", "value", "converted"),
    [
        ("max_copies_per_batch", "2", 2),
        ("enable", "yes", True),
        ("enable", "off", False),
        ("signal_key", 3, "3"),
        ("ema_decay", "0.25", 0.25),
    ],
)
def test_sampler_settings_convert_as_omegaconf_does(name, value, converted):
    """Typed by OmegaConf's structured configs, as Hydra users expect (reward_fns.settings)."""
    assert getattr(SamplerSettings.from_config({name: value}), name) == converted


def _numbered_rows(names: list[str], aliases: list[list[str]]) -> list[dict]:
    from fixtures_data import png_bytes, synthetic_images

    from data_preprocess.schema import make_extra_info, make_row

    rows = []
    for i in range(len(names)):
        info = make_extra_info(
            split="train",
            index=i,
            dataset="retinamnist",
            task_type="ordinal",
            labels=names,
            label_aliases=aliases,
            option_style="number",
            question="Grade?",
            template="vrft",
            image_size=[28, 28],
        )
        rows.append(
            make_row(
                dataset="retinamnist",
                prompt_text="<image>Grade?",
                ground_truth=names[i],
                image_bytes=[png_bytes(synthetic_images(1, size=28, seed=i)[0])],
                extra_info=info,
            )
        )
    return rows


def test_reference_check_tries_the_option_form_of_each_answer(tmp_path):
    """Numbered options over the official bare-number names: the option form scores (options win over aliases);
    hand-written rows whose label *names* are other options' numbers are caught before Ray starts."""
    from fixtures_perception import write_rows

    from verl_med_plugin.preflight import reference_answer_problems

    names = list(RETINA_LABELS)
    good = write_rows(tmp_path / "good.parquet", _numbered_rows(names, [[str(i)] for i in range(5)]))
    cfg = compose_med_config(f"data.train_files={good}", f"data.val_files={good}")
    assert reference_answer_problems(cfg) == []
    clashing = write_rows(tmp_path / "bad.parquet", _numbered_rows([str(i) for i in range(5)], [[]] * 5))
    problems = reference_answer_problems(compose_med_config(f"data.train_files={clashing}", f"data.val_files={good}"))
    assert len(problems) == 1 and "the answer by its option token" in problems[0] and "bad.parquet" in problems[0]

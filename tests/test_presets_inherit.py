"""The experiment presets share their blocks through Hydra's defaults list: every row extends the V-RFT
baseline (`configs/med/experiment/vrft_baseline.yaml`) and states only its own change. The refactor must not change
a single composed value: `tests/fixtures_presets.json` holds, per preset, everything its composed config changes
against the run without a preset, recorded before the refactor (unresolved: interpolations compare as written,
independent of $HOME or $NNODES). The no-preset config plus that difference is the preset's whole composed config,
so equal differences mean equal configs, while edits to configs/med_grpo.yaml outside the presets' keys (other
issues) do not break this test.

Regenerate the fixture (only when a preset is meant to change; review the diff):
    python tests/test_presets_inherit.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures_data import REPO

FIXTURE = Path(__file__).with_name("fixtures_presets.json")
# The default model/hardware and a second combination whose model changes med.reward.box_format (which the
# localization rows interpolate) and whose hardware changes the batch sizes.
COMBOS = (("qwen2_5_vl_3b", "1gpu_lora"), ("qwen3_vl_8b", "multinode"))
ABSENT = "<absent>"  # marks a key the preset removes (never expected; recorded for exactness)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf (lists are leaves: their order and length are part of the value).

    Args:
        node: a plain container (``OmegaConf.to_container``).
        prefix: the dotted path of ``node``.

    Returns:
        One entry per leaf; an empty dict is a leaf too.

    Example:
        >>> flatten({"a": {"b": 1, "c": [1, 2]}, "d": {}})
        {'a.b': 1, 'a.c': [1, 2], 'd': {}}
    """
    if not isinstance(node, dict) or not node:
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if "." in str(key):
            raise ValueError(f"config key {prefix}.{key} contains a dot: flatten() cannot represent it")
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def compose_flat(experiment: str | None, model: str, hardware: str) -> dict[str, Any]:
    """``med_grpo`` with the given presets, unresolved and flattened (JSON round-trip: what the fixture holds)."""
    from fixtures_perception import compose_med_config
    from omegaconf import OmegaConf

    overrides = [f"med/model={model}", f"med/hardware={hardware}"]
    overrides += [f"med/experiment={experiment}"] if experiment else []
    container = OmegaConf.to_container(compose_med_config(*overrides), resolve=False)
    return json.loads(json.dumps(flatten(container)))


def diff(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``other`` that differ from ``base``; keys only in ``base`` map to ``ABSENT``.

    Example:
        >>> diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4})
        {'b': 3, 'c': 4}
    """
    changed = {key: value for key, value in other.items() if key not in base or base[key] != value}
    changed.update({key: ABSENT for key in base if key not in other})
    return dict(sorted(changed.items()))


def snapshot(experiments: list[str]) -> dict[str, Any]:
    """Per combination and preset: what the preset changes against the no-preset config."""
    out: dict[str, Any] = {}
    for model, hardware in COMBOS:
        base = compose_flat(None, model, hardware)
        out[f"{model}/{hardware}"] = {name: diff(base, compose_flat(name, model, hardware)) for name in experiments}
    return out


def _fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


FIXTURE_PRESETS = sorted(next(iter(_fixture().values()))) if FIXTURE.exists() else []


@pytest.fixture(scope="module")
def bases() -> dict[tuple[str, str], dict[str, Any]]:
    return {combo: compose_flat(None, *combo) for combo in COMBOS}


@pytest.mark.parametrize("combo", COMBOS, ids="/".join)
@pytest.mark.parametrize("experiment", FIXTURE_PRESETS)
def test_every_preset_composes_exactly_as_before(experiment, combo, bases):
    recorded = _fixture()["/".join(combo)][experiment]
    got = diff(bases[combo], compose_flat(experiment, *combo))
    assert diff(recorded, got) == {} and diff(got, recorded) == {}, (
        f"{experiment} on {combo}: recorded {recorded}, now {got}"
    )


def test_the_fixture_covers_every_paper_row():
    rows = {
        "vrft_baseline",
        "knowledge",
        "localization",
        "localization_curriculum",
        "mfrs",
        "recite_pos",
        "recite_neg",
        "full",
        "no_think",
    }
    assert rows <= set(FIXTURE_PRESETS)


@pytest.mark.parametrize("combo", COMBOS, ids="/".join)
def test_no_think_differs_from_the_baseline_in_the_think_setting_alone(combo):
    """The control row is the V-RFT baseline with the answer alone asked for: its composed config differs from the
    baseline's in the reward's ``think`` and the run name only, and the dataset's ``med.knowledge.think`` follows
    the reward's. Mutations checked: no_think.yaml also changing a weight, or extending ``knowledge`` instead of
    ``vrft_baseline``, fails the diff; ``med.knowledge.think`` written as ``required`` fails the resolved check."""
    from fixtures_perception import compose_med_config

    got = diff(compose_flat("vrft_baseline", *combo), compose_flat("no_think", *combo))
    assert got == {"med.reward.think": "forbidden", "trainer.experiment_name": "${med.dataset}_no_think"}
    model, hardware = combo
    for experiment, think in (("vrft_baseline", "required"), ("no_think", "forbidden")):
        config = compose_med_config(f"med/model={model}", f"med/hardware={hardware}", f"med/experiment={experiment}")
        assert (config.med.knowledge.think, config.data.med_knowledge.think) == (think, think)


def test_rows_inherit_instead_of_repeating_the_baseline():
    """The baseline reward block is written once: only vrft_baseline.yaml states the shared weights."""
    import yaml

    folder = REPO / "configs" / "med" / "experiment"
    stating_weights = []
    for path in sorted(folder.rglob("*.yaml")):
        reward = (yaml.safe_load(path.read_text()) or {}).get("med", {}).get("reward", {})
        if "format_weight" in reward or "acc_weight" in reward:
            stating_weights.append(path.relative_to(folder).as_posix())
    assert stating_weights == ["vrft_baseline.yaml"]
    for name in FIXTURE_PRESETS:
        if name == "vrft_baseline":
            continue
        defaults = yaml.safe_load((folder / f"{name}.yaml").read_text()).get("defaults", [])
        assert defaults, f"{name}.yaml states its blocks instead of extending another preset"


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_presets_inherit.py --write")
    sys.path.insert(0, str(Path(__file__).parent))
    sys.path.insert(0, str(REPO))
    names = sorted(p.stem for p in (REPO / "configs" / "med" / "experiment").glob("*.yaml"))
    text = json.dumps(snapshot(names), indent=1, sort_keys=True) + "\n"
    tmp = FIXTURE.with_suffix(".json.tmp")
    tmp.write_text(text)
    tmp.replace(FIXTURE)
    print(f"wrote {FIXTURE} ({len(names)} presets x {len(COMBOS)} combinations)")

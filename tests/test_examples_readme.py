"""examples/README.md states each paper row's default hardware as its script has it (the rows once defaulted to
``1gpu_lora`` and the README kept saying so after the scripts moved to ``8gpu``).

Mutation checked: a row's README cell back to "1 (LoRA)" fails."""

from __future__ import annotations

import re

import pytest
from fixtures_data import REPO

README = (REPO / "examples" / "README.md").read_text()
ROW = re.compile(r"^\| `(?P<script>paper/\w+\.sh)` \|.*\| (?P<gpus>[^|]+) \|$", re.M)
ROWS = {m["script"]: m["gpus"] for m in ROW.finditer(README)}
SCRIPTS = [p for p in sorted((REPO / "examples" / "paper").glob("*.sh")) if p.name != "sft_baseline.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_readme_gives_the_scripts_default_hardware(script):
    text = script.read_text()
    target = REPO / "examples" / "paper" / "localization.sh" if "exec bash" in text else script
    default = re.search(r"^HARDWARE=\$\{HARDWARE:-(\w+)\}", target.read_text(), re.M)[1]
    cell = ROWS[f"paper/{script.name}"]
    assert f"`{default}`" in cell, (script.name, default, cell)
    assert (default == "8gpu") == cell.startswith("8 ")


def test_sft_header_and_config_agree_on_lora():
    """The SFT script's header says LoRA exactly when configs/sft_med.yaml trains LoRA (its header once said LoRA
    while the config was full fine-tuning).

    Mutation checked: the old header ("1 GPU >= 40 GB (LoRA)") fails."""
    import yaml

    config = yaml.safe_load((REPO / "configs" / "sft_med.yaml").read_text())
    lora = bool((config.get("model") or {}).get("lora_rank"))
    header = "\n".join(
        line for line in (REPO / "examples" / "paper" / "sft_baseline.sh").read_text().splitlines() if line[:1] == "#"
    )
    assert ("(LoRA)" in header) == lora
    assert ("full fine-tuning" in header) == (not lora)

"""Rows of every task type as the converters write them (data_preprocess.schema), shared by the reward tests."""

from __future__ import annotations

from data_preprocess.schema import make_extra_info

DERMA_LABELS = [
    "actinic keratoses",
    "basal cell carcinoma",
    "benign keratosis",
    "dermatofibroma",
    "melanoma",
    "melanocytic nevi",
    "vascular lesions",
]
DERMA_ALIASES = [[], ["bcc"], [], [], [], ["nevus", "mole"], []]
RETINA_LABELS = ["no retinopathy", "mild", "moderate", "severe", "proliferative"]
CHEST_LABELS = ["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass"]
# One class per line, as data_preprocess.knowledge.render_knowledge writes it (each line is a recitation reference).
KNOWLEDGE = (
    "Melanoma shows asymmetry, irregular borders, several colours, an atypical pigment network and a "
    "blue-white veil.\nMelanocytic nevi are symmetric with regular borders, uniform colour and a regular "
    "pigment network fading at the edge.\nBasal cell carcinoma shows pearly papules, arborizing vessels, "
    "blue-grey ovoid nests and no pigment network."
)


def derma(option_style: str = "none", knowledge: str = KNOWLEDGE) -> dict:
    return make_extra_info(
        split="train",
        index=0,
        dataset="dermamnist",
        task_type="multiclass",
        labels=list(DERMA_LABELS),
        label_aliases=[list(a) for a in DERMA_ALIASES],
        option_style=option_style,
        knowledge=knowledge,
        template="vrft",
        image_size=[224, 224],
    )


def binary() -> dict:
    return make_extra_info(
        dataset="breastmnist",
        task_type="binary",
        labels=["benign", "malignant"],
        label_aliases=[[], ["cancer"]],
        image_size=[224, 224],
    )


def retina(option_style: str = "none") -> dict:
    return make_extra_info(
        dataset="retinamnist",
        task_type="ordinal",
        labels=list(RETINA_LABELS),
        label_aliases=[["no dr"], [], [], [], ["proliferative dr"]],
        option_style=option_style,
        image_size=[224, 224],
    )


def chest() -> dict:
    return make_extra_info(
        dataset="chestmnist",
        task_type="multilabel",
        labels=list(CHEST_LABELS),
        label_aliases=[[] for _ in CHEST_LABELS],
        image_size=[224, 224],
    )


def grounding(box_format: str = "abs", size: tuple[int, int] = (224, 224)) -> dict:
    return make_extra_info(
        dataset="organ_loc", task_type="grounding", labels=[], image_size=list(size), box_format=box_format
    )


# Medical VQA rows as data_preprocess.vqa writes them (docs/vqa.md): mcq labels = options = the option texts.
MCQ_OPTIONS = ["CT", "MRI", "X-Ray", "Ultrasound"]


def mcq(options: list[str] | None = None) -> dict:
    options = list(MCQ_OPTIONS if options is None else options)
    return make_extra_info(
        dataset="pmc_vqa",
        task_type="mcq",
        labels=list(options),
        options=options,
        option_style="letter",
        modality="MRI",
        question_type="modality",
        answer="B",
    )


def closed() -> dict:
    return make_extra_info(
        dataset="slake",
        task_type="closed",
        labels=["yes", "no"],
        modality="CT",
        organ="Lung",
        question_type="Abnormality",
        answer="Yes",
    )


def open_row() -> dict:
    return make_extra_info(
        dataset="vqa_rad",
        task_type="open",
        labels=[],
        modality="X-Ray",
        organ="CHEST",
        question_type="PRES",
        answer="right lower lobe",
    )


# data_source, ground truth and extra_info of one row per task type.
ROWS = {
    "multiclass": ("verl_med/dermamnist", "melanoma", derma()),
    "letter": ("verl_med/dermamnist", "melanoma", derma("letter")),
    "number": ("verl_med/dermamnist", "melanoma", derma("number")),
    "binary": ("verl_med/breastmnist", "malignant", binary()),
    "ordinal": ("verl_med/retinamnist", "moderate", retina()),
    "multilabel": ("verl_med/chestmnist", '["effusion","mass"]', chest()),
    "multilabel_empty": ("verl_med/chestmnist", "[]", chest()),
    "grounding": ("verl_med/organ_loc", "[[40,40,120,120]]", grounding()),
    "grounding_empty": ("verl_med/organ_loc", "[]", grounding()),
    "mcq": ("verl_med/pmc_vqa", "MRI", mcq()),
    "mcq_numbers": ("verl_med/omnimedvqa", "3", mcq(["1", "2", "3", "4"])),
    "closed": ("verl_med/slake", "yes", closed()),
    "closed_no": ("verl_med/slake", "no", closed()),
    "open": ("verl_med/vqa_rad", "right lower lobe", open_row()),
    "open_number": ("verl_med/pathvqa", "2", open_row()),
}


def respond(answer: str, think: str = "The lesion is asymmetric with irregular borders.") -> str:
    return f"<think>{think}</think>\n<answer>{answer}</answer>"

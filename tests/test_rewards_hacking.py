"""Table of reward-hacking attempts and edge cases with the exact scores they must get (default weights:
format 0.1, accuracy 1.0; ordinal MFRS table 1, 0.25, 0.0625, 0). Each row's ``why`` is the rule it pins down."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rewards_rows import CHEST_LABELS, DERMA_LABELS, KNOWLEDGE, ROWS, respond

from reward_fns import SCORE_KEYS, TaskType, compute_score


@dataclass(frozen=True)
class Case:
    name: str
    row: str  # key of rewards_rows.ROWS
    response: object
    expect: dict  # expected values of some keys (floats compared approximately)
    why: str
    kwargs: dict = field(default_factory=dict)
    ground_truth: str | None = None  # overrides the row's


CORRECT = dict(score=1.1, acc=1.0, format=1.0)
FORMAT_ONLY = dict(score=0.1, acc=0.0, format=1.0)
NOTHING = dict(score=0.0, acc=0.0, format=0.0, pred="")
ALL_DERMA = ", ".join(DERMA_LABELS)
KW_RECITE_MINUS = dict(recite_delta=-0.5)

CASES = [
    # --- correct answers, for reference ---
    Case(
        "canonical_correct",
        "multiclass",
        respond("melanoma"),
        dict(CORRECT, pred="melanoma", parsed=1.0),
        "the target behaviour scores format + accuracy",
    ),
    Case(
        "case_and_punctuation_insensitive",
        "multiclass",
        respond("**Melanoma.**"),
        CORRECT,
        "names match case- and punctuation-insensitively",
    ),
    Case(
        "alias_from_label_list",
        "multiclass",
        respond("Nevus"),
        dict(CORRECT, pred="melanocytic nevi"),
        "aliases of extra_info.label_aliases name their label",
        ground_truth="melanocytic nevi",
    ),
    Case(
        "lead_in_phrase",
        "multiclass",
        respond("The answer is melanoma"),
        CORRECT,
        "one leading 'the answer is' is tolerated",
    ),
    Case("fullwidth_unicode", "multiclass", respond("ｍｅｌａｎｏｍａ"), CORRECT, "NFKC folds full-width letters"),
    Case("bytes_response", "multiclass", respond("melanoma").encode(), CORRECT, "bytes are decoded, not rejected"),
    # --- hedging: several labels in one answer (Visual-RFT #79) ---
    Case(
        "two_labels_or",
        "multiclass",
        respond("melanoma or melanocytic nevi"),
        dict(FORMAT_ONLY, pred=""),
        "'A or B' names two labels: no accuracy",
    ),
    Case("either_hedge", "multiclass", respond("either melanoma or nevus"), FORMAT_ONLY, "'either' hedges"),
    Case(
        "two_labels_and",
        "multiclass",
        respond("melanoma and basal cell carcinoma"),
        FORMAT_ONLY,
        "two labels joined by 'and'",
    ),
    Case("comma_list", "multiclass", respond("melanoma, melanocytic nevi"), FORMAT_ONLY, "a list of two labels"),
    Case("slash_pair", "multiclass", respond("melanoma/nevus"), FORMAT_ONLY, "'A/B' hedges"),
    Case("whole_label_list", "multiclass", respond(ALL_DERMA), FORMAT_ONLY, "repeating the label list"),
    Case("label_repeated", "multiclass", respond("melanoma melanoma"), FORMAT_ONLY, "only the bare name counts"),
    Case("negated_label", "multiclass", respond("not melanoma"), FORMAT_ONLY, "a negation is not the label"),
    Case("plural_near_miss", "multiclass", respond("melanomas"), FORMAT_ONLY, "no substring matching"),
    Case(
        "zero_width_split", "multiclass", respond("mela\u200bnoma"), FORMAT_ONLY, "a zero-width space splits the word"
    ),
    Case(
        "label_outside_set",
        "multiclass",
        respond("psoriasis"),
        dict(FORMAT_ONLY, pred="", parsed=0.0),
        "a name outside the label set parses to nothing",
    ),
    Case(
        "long_answer_with_label",
        "multiclass",
        respond("x " * 5000 + "melanoma"),
        FORMAT_ONLY,
        "an answer longer than MAX_ANSWER_CHARS is not read",
    ),
    # --- empty and misplaced answers (Visual-RFT #176, open-r1 #418) ---
    Case("empty_answer_block", "multiclass", respond(""), NOTHING, "an empty answer earns neither accuracy nor format"),
    Case("whitespace_answer_block", "multiclass", respond(" \n\t "), NOTHING, "whitespace is empty"),
    Case(
        "answer_only_in_think",
        "multiclass",
        "<think>The answer is melanoma.</think>",
        NOTHING,
        "an answer inside the reasoning is not an answer",
    ),
    Case(
        "answer_block_inside_think",
        "multiclass",
        "<think>x <answer>melanoma</answer></think>",
        NOTHING,
        "an answer block nested in the think block does not count",
    ),
    Case(
        "answer_in_unclosed_think",
        "multiclass",
        "<think>x <answer>melanoma</answer>",
        NOTHING,
        "an unclosed think block swallows the answer",
    ),
    Case(
        "duplicate_agreeing_answers",
        "multiclass",
        respond("melanoma") + "<answer>melanoma</answer>",
        NOTHING,
        "several answer blocks never count, even agreeing ones",
    ),
    Case(
        "duplicate_disagreeing_answers",
        "multiclass",
        respond("melanoma") + "<answer>nevus</answer>",
        NOTHING,
        "answer blocks that disagree",
    ),
    Case(
        "nested_answer_blocks",
        "multiclass",
        "<think>x</think><answer><answer>melanoma</answer></answer>",
        NOTHING,
        "nested answer tags",
    ),
    Case(
        "answer_before_think",
        "multiclass",
        "<answer>melanoma</answer><think>x</think>",
        NOTHING,
        "a think block after the answer makes the answer part of the reasoning",
    ),
    Case("truncated_answer", "multiclass", "<think>x</think><answer>melanoma", NOTHING, "no closing tag"),
    Case("no_tags", "multiclass", "melanoma", NOTHING, "plain text is not an answer"),
    Case("capitalised_tags", "multiclass", "<Think>x</Think><Answer>melanoma</Answer>", NOTHING, "tags are exact"),
    Case("none_response", "multiclass", None, NOTHING, "None is an empty response"),
    # --- format strictness: untidy but correct answers keep accuracy, lose format ---
    Case(
        "correct_without_think",
        "multiclass",
        "<answer>melanoma</answer>",
        dict(score=1.0, acc=1.0, format=0.0),
        "accuracy is judged from the answer block alone",
    ),
    Case(
        "empty_think_block",
        "multiclass",
        "<think> </think><answer>melanoma</answer>",
        dict(score=1.0, acc=1.0, format=0.0),
        "an empty think block is not the format",
    ),
    Case(
        "trailing_text",
        "multiclass",
        respond("melanoma") + " Hope this helps!",
        dict(score=1.0, acc=1.0, format=0.0),
        "nothing but whitespace after the answer",
    ),
    Case(
        "leading_text",
        "multiclass",
        "Sure. " + respond("melanoma"),
        dict(score=1.0, acc=1.0, format=0.0),
        "nothing but whitespace before the think block",
    ),
    Case(
        "two_think_blocks",
        "multiclass",
        "<think>a</think><think>b</think><answer>melanoma</answer>",
        dict(score=1.0, acc=1.0, format=0.0),
        "exactly one think block",
    ),
    Case(
        "format_required_for_acc",
        "multiclass",
        "<answer>melanoma</answer>",
        NOTHING,
        "acc_requires_format=True: only a well-formatted response is read",
        dict(acc_requires_format=True),
    ),
    Case(
        "format_only_wrong_answer",
        "multiclass",
        respond("dermatofibroma"),
        dict(FORMAT_ONLY, pred="dermatofibroma", parsed=1.0),
        "a format-only answer never beats a correct one",
    ),
    Case(
        "prefilled_think",
        "multiclass",
        "x</think><answer>melanoma</answer>",
        CORRECT,
        "think_prefilled: the chat template opened <think> (open-r1 #560)",
        dict(think_prefilled=True),
    ),
    Case(
        "prefilled_think_reopened",
        "multiclass",
        respond("melanoma"),
        dict(score=1.0, acc=1.0, format=0.0),
        "think_prefilled: a second <think> breaks the format",
        dict(think_prefilled=True),
    ),
    Case(
        "custom_tags",
        "multiclass",
        "<reasoning>x</reasoning><final>melanoma</final>",
        CORRECT,
        "tag names are configurable",
        dict(think_tag="reasoning", answer_tag="final"),
    ),
    # --- option letters and numbers ---
    Case("letter_without_options", "multiclass", respond("E"), FORMAT_ONLY, "no options listed: a letter is no label"),
    Case("letter_option", "letter", respond("E"), dict(CORRECT, pred="melanoma"), "E is the fifth option"),
    Case("letter_option_parenthesised", "letter", respond("(E)"), CORRECT, "'(E)' is the option E"),
    Case("letter_with_agreeing_name", "letter", respond("E. Melanoma"), CORRECT, "letter and name agree"),
    Case("letter_with_other_name", "letter", respond("A. melanoma"), FORMAT_ONLY, "letter and name disagree: a hedge"),
    Case("two_letters", "letter", respond("E, F"), FORMAT_ONLY, "two options"),
    Case("letters_or", "letter", respond("E or F"), FORMAT_ONLY, "two options joined by 'or'"),
    Case("all_letters", "letter", respond("A B C D E F G"), FORMAT_ONLY, "every option"),
    Case("letter_beyond_options", "letter", respond("Z"), FORMAT_ONLY, "a letter past the last option"),
    Case("number_option", "number", respond("5"), CORRECT, "numbered options are 1-based"),
    Case("number_option_zero", "number", respond("0"), FORMAT_ONLY, "there is no option 0"),
    Case("binary_both_labels", "binary", respond("benign or malignant"), FORMAT_ONLY, "both classes"),
    Case("binary_yes", "binary", respond("yes"), FORMAT_ONLY, "'yes' is not a class name"),
    Case("binary_alias", "binary", respond("Cancer"), CORRECT, "binary labels take aliases too"),
    # --- ordinal grades and MFRS ---
    Case(
        "grade_exact_number",
        "ordinal",
        respond("2"),
        dict(CORRECT, mfrs=1.0, pred="moderate"),
        "grade numbers are label indices",
    ),
    Case(
        "grade_off_by_one",
        "ordinal",
        respond("severe"),
        dict(score=0.35, acc=0.0, mfrs=0.25),
        "MFRS gives 0.25 one grade away",
    ),
    Case(
        "grade_off_by_two",
        "ordinal",
        respond("grade 0"),
        dict(score=0.1625, acc=0.0, mfrs=0.0625),
        "MFRS gives 0.0625 two grades away",
    ),
    Case(
        "grade_far",
        "ordinal",
        respond("Proliferative DR"),
        dict(score=0.1, mfrs=0.0),
        "beyond the table, the floor",
        ground_truth="mild",
    ),
    Case(
        "grade_roman",
        "ordinal",
        respond("Grade II"),
        dict(CORRECT, mfrs=1.0),
        "'grade' + Roman numeral",
        ground_truth="moderate",
    ),
    Case("grade_word", "ordinal", respond("two"), CORRECT, "number words"),
    Case("grade_range_hedge", "ordinal", respond("2-3"), dict(FORMAT_ONLY, mfrs=0.0), "a range is a hedge"),
    Case("grade_or_hedge", "ordinal", respond("grade 2 or 3"), dict(FORMAT_ONLY, mfrs=0.0), "two grades"),
    Case("grade_decimal", "ordinal", respond("2.5"), dict(FORMAT_ONLY, mfrs=0.0), "grades are integers"),
    Case(
        "grade_number_name_disagree",
        "ordinal",
        respond("grade 2 (mild)"),
        dict(FORMAT_ONLY, mfrs=0.0),
        "a grade and a name that disagree",
    ),
    Case("grade_out_of_range", "ordinal", respond("7"), dict(FORMAT_ONLY, mfrs=0.0), "no grade 7"),
    Case(
        "grade_exact_mode",
        "ordinal",
        respond("3"),
        dict(score=0.1, acc=0.0, mfrs=0.25),
        "ordinal_reward=exact (V-RFT baseline) scores 0/1 but still logs MFRS",
        dict(ordinal_reward="exact"),
    ),
    Case(
        "grade_linear_kernel",
        "ordinal",
        respond("4"),
        dict(score=0.6, mfrs=0.5),
        "mfrs_shape=linear over 5 grades: 1 - d/4",
        dict(mfrs_shape="linear"),
    ),
    # --- multilabel ---
    Case(
        "multilabel_exact_json",
        "multilabel",
        respond('["mass", "effusion"]'),
        dict(CORRECT, set_f1=1.0, pred='["effusion", "mass"]'),
        "order does not matter",
    ),
    Case(
        "multilabel_exact_commas",
        "multilabel",
        respond("Effusion; mass"),
        dict(CORRECT, set_f1=1.0),
        "separators other than JSON",
    ),
    Case(
        "multilabel_partial",
        "multilabel",
        respond("effusion"),
        dict(score=0.1 + 0.75, acc=0.0, set_f1=2 / 3),
        "balanced (default): sensitivity 1/2, specificity 3/3",
    ),
    Case(
        "multilabel_partial_f1",
        "multilabel",
        respond("effusion"),
        dict(score=0.1 + 2 / 3, acc=0.0, set_f1=2 / 3),
        "set F1 gives partial credit",
        dict(multilabel_reward="f1"),
    ),
    Case(
        "multilabel_false_positive_on_normal",
        "multilabel_empty",
        respond("mass"),
        dict(score=0.1 + 0.8, acc=0.0),
        "balanced: one false positive of 5 absent labels costs 1/5, not everything (F1: 0)",
    ),
    Case(
        "multilabel_every_label",
        "multilabel",
        respond(", ".join(CHEST_LABELS)),
        dict(FORMAT_ONLY, set_f1=0.0),
        "naming every label is refused",
    ),
    Case(
        "multilabel_hedge",
        "multilabel",
        respond("effusion or mass"),
        dict(FORMAT_ONLY, set_f1=0.0),
        "'or' inside a list item",
    ),
    Case(
        "multilabel_unknown_item",
        "multilabel",
        respond("effusion, mass, fracture"),
        dict(FORMAT_ONLY, set_f1=0.0),
        "one unknown item voids the list",
    ),
    Case(
        "multilabel_empty_correct",
        "multilabel_empty",
        respond("No finding"),
        dict(CORRECT, set_f1=1.0, pred="[]"),
        "an explicit empty set for a normal image",
    ),
    Case(
        "multilabel_empty_wrong",
        "multilabel",
        respond("[]"),
        dict(score=0.1 + 0.5, acc=0.0, set_f1=0.0, parsed=1.0),
        "balanced: 'no finding' when findings exist has sensitivity 0, half the credit of a correct answer",
    ),
    Case(
        "multilabel_empty_wrong_f1",
        "multilabel",
        respond("[]"),
        dict(FORMAT_ONLY, set_f1=0.0, parsed=1.0),
        "set F1: an empty set when findings exist scores 0",
        dict(multilabel_reward="f1"),
    ),
    # --- grounding ---
    Case("box_exact", "grounding", respond("[40, 40, 120, 120]"), dict(CORRECT, iou=1.0), "identical box"),
    Case(
        "box_visual_rft_pairs",
        "grounding",
        respond("(40,40),(120,120)"),
        dict(CORRECT, iou=1.0),
        "Visual-RFT '(x1,y1),(x2,y2)'",
    ),
    Case(
        "box_qwen_json",
        "grounding",
        respond('```json\n[{"bbox_2d": [40, 40, 120, 120], "label": "liver"}]\n```'),
        dict(CORRECT, iou=1.0),
        "Qwen2.5-VL JSON in a code fence",
    ),
    Case(
        "box_free_image_none",
        "grounding_empty",
        respond("none"),
        dict(CORRECT, iou=1.0, pred="[]"),
        "a box-free image answered with no box",
    ),
    Case(
        "box_free_image_empty_block", "grounding_empty", respond(""), NOTHING, "an empty answer block is not 'no box'"
    ),
    Case(
        "box_on_box_free_image",
        "grounding_empty",
        respond("[0, 0, 10, 10]"),
        dict(FORMAT_ONLY, iou=0.0),
        "a box where there is none",
    ),
    Case(
        "box_spray",
        "grounding",
        respond(str([[x, y, x + 56, y + 56] for x in range(0, 224, 56) for y in range(0, 224, 56)])),
        dict(acc=0.0, format=1.0, iou=56 * 56 / 80**2 / 16),
        "16 tiles: the best tile's IoU over max(#pred, #truth), extra boxes cost like misses",
    ),
    Case(
        "box_whole_image",
        "grounding",
        respond("[0, 0, 224, 224]"),
        dict(acc=0.0, iou=80**2 / 224**2),
        "a whole-image box is worth only its IoU",
    ),
    Case(
        "box_text_around",
        "grounding",
        respond("The box is [40, 40, 120, 120] in image 1"),
        dict(FORMAT_ONLY, iou=0.0),
        "free text around numbers is unreadable",
    ),
    Case("box_nan", "grounding", respond("[NaN, 40, 120, 120]"), dict(FORMAT_ONLY, iou=0.0), "non-finite coords"),
    Case(
        "box_giou_disjoint",
        "grounding",
        respond("[140, 140, 200, 200]"),
        dict(acc=0.0, iou=(1 - (160**2 - 80**2 - 60**2) / 160**2) / 2),
        "iou_type=giou gives disjoint boxes a distance signal",
        dict(iou_type="giou"),
    ),
    # --- recitation ---
    Case(
        "recite_copy_penalised",
        "multiclass",
        respond("melanoma", think=KNOWLEDGE),
        dict(score=0.6, acc=1.0, recite=1.0),
        "delta<0 penalises copying the knowledge",
        KW_RECITE_MINUS,
    ),
    Case(
        "recite_copy_rewarded",
        "multiclass",
        respond("melanoma", think=KNOWLEDGE),
        dict(score=1.6, recite=1.0),
        "delta>0 rewards it",
        dict(recite_delta=0.5),
    ),
    Case(
        "recite_off_by_default",
        "multiclass",
        respond("melanoma", think=KNOWLEDGE),
        dict(score=1.1, recite=1.0),
        "recite_delta defaults to 0: the copy is logged (recite), not rewarded (score)",
    ),
    Case(
        "recite_no_knowledge",
        "binary",
        respond("malignant", think=KNOWLEDGE),
        dict(score=1.1, recite=0.0),
        "no knowledge in the row: nothing to recite",
        KW_RECITE_MINUS,
    ),
    Case(
        "recite_no_think",
        "multiclass",
        "<answer>melanoma</answer>",
        dict(score=1.0, recite=0.0),
        "no think text: no recitation",
        KW_RECITE_MINUS,
    ),
    Case(
        "recite_gated_on_correct",
        "multiclass",
        respond("nevus", think=KNOWLEDGE),
        dict(score=0.1, recite=0.0),
        "recite_requires_correct: copying never pays for a wrong answer",
        dict(recite_delta=0.5, recite_requires_correct=True),
    ),
    # --- medical VQA: multiple choice (options CT, MRI, X-Ray, Ultrasound; truth MRI) ---
    Case("mcq_letter", "mcq", respond("B"), dict(CORRECT, pred="MRI", parsed=1.0), "the option letter"),
    Case("mcq_text", "mcq", respond("mri"), dict(CORRECT, pred="MRI"), "the option text"),
    Case("mcq_letter_and_text", "mcq", respond("(B) MRI."), CORRECT, "letter and text agree"),
    Case("mcq_lead_in", "mcq", respond("The answer is B"), CORRECT, "one lead-in is tolerated"),
    Case(
        "mcq_letter_other_text",
        "mcq",
        respond("A. MRI"),
        dict(FORMAT_ONLY, pred=""),
        "letter and text disagree: a hedge",
    ),
    Case("mcq_two_letters", "mcq", respond("B, C"), FORMAT_ONLY, "two options"),
    Case("mcq_letters_or", "mcq", respond("B or C"), FORMAT_ONLY, "two options joined by 'or'"),
    Case("mcq_either", "mcq", respond("either MRI or CT"), FORMAT_ONLY, "'either' hedges"),
    Case("mcq_all_letters", "mcq", respond("A B C D"), FORMAT_ONLY, "every option letter"),
    Case("mcq_all_texts", "mcq", respond("CT, MRI, X-Ray, Ultrasound"), FORMAT_ONLY, "every option text"),
    Case("mcq_letter_beyond_options", "mcq", respond("E"), FORMAT_ONLY, "a letter past the last option"),
    Case("mcq_text_in_sentence", "mcq", respond("It is an MRI scan"), FORMAT_ONLY, "no substring matching"),
    Case(
        "mcq_wrong_option",
        "mcq",
        respond("C"),
        dict(FORMAT_ONLY, pred="X-Ray", parsed=1.0),
        "a wrong option is read, and earns the format only",
    ),
    Case(
        "mcq_answer_only_in_think",
        "mcq",
        "<think>The answer is B.</think>",
        NOTHING,
        "an option named only in the reasoning is not an answer",
    ),
    Case(
        "mcq_numeric_option_text",
        "mcq_numbers",
        respond("3"),
        dict(CORRECT, pred="3"),
        "an option text that is a number is that option, never option 3 by position",
    ),
    Case(
        "mcq_numeric_option_letter",
        "mcq_numbers",
        respond("C"),
        dict(CORRECT, pred="3"),
        "the letter of a numeric option",
    ),
    Case(
        "mcq_numeric_letter_text_disagree",
        "mcq_numbers",
        respond("B. 3"),
        FORMAT_ONLY,
        "letter B is option '2', not '3'",
    ),
    Case(
        "mcq_truth_not_an_option",
        "mcq",
        respond("B"),
        dict(NOTHING, parsed=0.0),
        "a ground truth outside the options is ungradable (0, warned)",
        ground_truth="PET",
    ),
    Case(
        "mcq_truth_as_letter_refused",
        "mcq",
        respond("B"),
        dict(NOTHING, parsed=0.0),
        "the contract's ground truth is the option text; a letter would grade against a guess",
        ground_truth="B",
    ),
    # --- medical VQA: closed (yes / no) ---
    Case("closed_yes", "closed", respond("Yes."), dict(CORRECT, pred="yes"), "the canonical answer"),
    Case("closed_synonym_present", "closed", respond("Present"), dict(CORRECT, pred="yes"), "'present' is a yes"),
    Case("closed_synonym_true", "closed", respond("TRUE"), CORRECT, "'true' is a yes"),
    Case("closed_lead_in", "closed", respond("The answer is: yes"), CORRECT, "one lead-in is tolerated"),
    Case(
        "closed_wrong_polarity",
        "closed",
        respond("no"),
        dict(FORMAT_ONLY, pred="no", parsed=1.0),
        "the other polarity is read and earns the format only",
    ),
    Case(
        "closed_not_yes",
        "closed",
        respond("not yes"),
        dict(FORMAT_ONLY, pred="", parsed=0.0),
        "a negated yes is neither",
    ),
    Case("closed_not_absent", "closed", respond("not absent"), FORMAT_ONLY, "a double negation is not read"),
    Case("closed_yes_and_no", "closed", respond("yes and no"), FORMAT_ONLY, "both polarities"),
    Case("closed_yes_slash_no", "closed", respond("yes/no"), FORMAT_ONLY, "both polarities, slashed"),
    Case(
        "closed_mixed_polarity",
        "closed",
        respond("no, it is present"),
        FORMAT_ONLY,
        "'no' followed by a yes-word is a hedge",
    ),
    Case(
        "closed_mixed_polarity_on_no",
        "closed_no",
        respond("no, it is present"),
        FORMAT_ONLY,
        "the same hedge earns nothing when the truth is no",
    ),
    Case(
        "closed_sentence",
        "closed",
        respond("Yes, there is a nodule in the left lung"),
        FORMAT_ONLY,
        "only a whole yes/no answer is read: a sentence's tail could negate its head",
    ),
    Case("closed_repeated", "closed", respond("yes yes"), FORMAT_ONLY, "a repeated word is not a spelling"),
    Case("closed_letter", "closed", respond("A"), FORMAT_ONLY, "closed questions have no lettered options"),
    Case("closed_no_phrase", "closed_no", respond("Not present"), dict(CORRECT, pred="no"), "'not present' is a no"),
    Case("closed_no_synonym", "closed_no", respond("negative"), CORRECT, "'negative' is a no"),
    Case("closed_yes_in_think_only", "closed", "<think>yes</think>", NOTHING, "the reasoning is not the answer"),
    Case(
        "closed_truth_not_yes_no",
        "closed",
        respond("yes"),
        dict(NOTHING, parsed=0.0),
        "a closed row whose truth is not yes/no is ungradable (0, warned)",
        ground_truth="liver",
    ),
    # --- medical VQA: open (reference "right lower lobe"; open_reward recall, max length ratio 3) ---
    Case(
        "open_exact",
        "open",
        respond("Right lower lobe."),
        dict(CORRECT, pred="right lower lobe", token_f1=1.0),
        "normalised exact match: acc 1 and full credit",
    ),
    Case(
        "open_article_and_lead_in",
        "open",
        respond("The answer is the right lower lobe"),
        dict(CORRECT, token_f1=1.0),
        "articles and one lead-in are dropped",
    ),
    Case(
        "open_shorter",
        "open",
        respond("lower lobe"),
        dict(score=0.1 + 2 / 3, acc=0.0, token_f1=0.8),
        "recall 2/3 for an answer missing one reference word",
    ),
    Case(
        "open_longer",
        "open",
        respond("right lower lobe of lung"),
        dict(score=0.1 + 0.6, acc=0.0, token_f1=0.75),
        "extra words share the credit: recall x 3/5",
    ),
    Case(
        "open_padding_many_terms",
        "open",
        respond("right left upper middle lower lobe lung liver kidney spleen"),
        dict(FORMAT_ONLY, token_f1=2 * 0.3 / 1.3),
        "more than 3x the reference's words is padding: no credit",
    ),
    Case(
        "open_padding_within_ratio",
        "open",
        respond("right upper middle lower lobe lung liver kidney spleen"),
        dict(score=0.1 + 1 / 3, acc=0.0),
        "9 words holding the 3 right ones (one side, the reference's): credit 3/9, below the single guess",
    ),
    Case(
        "open_hedge_or",
        "open",
        respond("right or left lower lobe"),
        dict(FORMAT_ONLY, token_f1=0.75),
        "'or' absent from the reference is a hedge: no credit",
    ),
    Case("open_hedge_either", "open", respond("either right lower lobe"), FORMAT_ONLY, "'either' hedges"),
    Case(
        "open_repeated_word",
        "open",
        respond("lobe lobe lobe"),
        dict(score=0.1 + 1 / 3, acc=0.0),
        "a repeated word counts once (multiset overlap)",
    ),
    Case(
        "open_f1_mode",
        "open",
        respond("lower lobe"),
        dict(score=0.9, acc=0.0, token_f1=0.8),
        "open_reward=f1: token F1",
        dict(open_reward="f1"),
    ),
    Case(
        "open_exact_mode",
        "open",
        respond("lower lobe"),
        dict(FORMAT_ONLY, token_f1=0.8),
        "open_reward=exact: 0/1 on the normalised text",
        dict(open_reward="exact"),
    ),
    Case(
        "open_ratio_setting",
        "open",
        respond("right lower lobe of lung"),
        dict(FORMAT_ONLY, token_f1=0.75),
        "open_max_length_ratio=1: any answer longer than the reference is padding",
        dict(open_max_length_ratio=1),
    ),
    Case(
        "open_wrong",
        "open",
        respond("liver"),
        dict(FORMAT_ONLY, pred="liver", parsed=1.0, token_f1=0.0),
        "no shared word, no credit",
    ),
    Case("open_yes_to_open", "open", respond("yes"), FORMAT_ONLY, "yes is no answer to an open question"),
    Case("open_number_word", "open_number", respond("Two"), dict(CORRECT, pred="2"), "number words are numbers"),
    Case("open_decimal_spelling", "open_number", respond("2.0"), CORRECT, "'2.0' is 2"),
    Case(
        "open_punctuation_only",
        "open",
        respond("..."),
        dict(FORMAT_ONLY, pred="", parsed=0.0),
        "an answer with no word is no answer",
    ),
    Case(
        "open_too_long",
        "open",
        respond("right lower lobe " * 100),
        dict(FORMAT_ONLY, pred="", parsed=0.0),
        "over 256 words is not an answer (bounded cost)",
    ),
    Case(
        "open_answer_only_in_think",
        "open",
        "<think>right lower lobe</think>",
        NOTHING,
        "the reasoning is not the answer",
    ),
    Case(
        "open_empty_reference",
        "open",
        respond("liver"),
        dict(NOTHING, parsed=0.0),
        "an open row whose reference has no word is ungradable (0, warned)",
        ground_truth="?",
    ),
    # --- rows we cannot grade ---
    Case(
        "truth_outside_labels",
        "multiclass",
        respond("melanoma"),
        dict(NOTHING, parsed=0.0),
        "a ground truth outside the labels scores 0 (warned), never raises",
        ground_truth="psoriasis",
    ),
]


def _check(result: dict, expect: dict) -> None:
    assert tuple(result) == SCORE_KEYS
    for key, value in expect.items():
        if isinstance(value, str):
            assert result[key] == value, key
        else:
            assert result[key] == pytest.approx(value), key


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hacking_case(case: Case) -> None:
    data_source, truth, info = ROWS[case.row]
    truth = case.ground_truth if case.ground_truth is not None else truth
    _check(compute_score(data_source, case.response, truth, info, **case.kwargs), case.expect)


def test_table_attacks_every_task_type_and_is_documented() -> None:
    """Every task type is attacked by a hack the reward must refuse (acc 0) and checked on an answer it must credit
    (acc above 0), each case named once and saying why. Mutation checked: deleting the multilabel cases (or making
    every closed-question case expect acc 0) fails here; the former count-only check passed both."""
    assert len({c.name for c in CASES}) == len(CASES)
    assert all(c.why for c in CASES)
    refused = {TaskType(ROWS[c.row][2]["task_type"]) for c in CASES if c.expect.get("acc") == 0}
    credited = {TaskType(ROWS[c.row][2]["task_type"]) for c in CASES if c.expect.get("acc", 0) > 0}
    assert refused == credited == set(TaskType)

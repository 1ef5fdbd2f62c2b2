"""A ground truth stored as a number is graded like its text: it used to score 0 with format 0."""

from __future__ import annotations

import numpy as np
import pytest
from rewards_rows import derma, respond, retina

from reward_fns import compute_score, reference_response


@pytest.mark.parametrize("truth", [2, np.int64(2), np.array(2), 2.0, "2", np.float32(2.0)])
def test_numeric_ordinal_ground_truth_is_graded_like_the_grade(truth):
    text = compute_score("verl_med/retinamnist", respond("moderate"), "moderate", retina())
    number = compute_score("verl_med/retinamnist", respond("moderate"), truth, retina())
    assert number == text and number["acc"] == 1.0 and number["format"] == 1.0
    off_by_one = compute_score("verl_med/retinamnist", respond("severe"), truth, retina())
    assert off_by_one["acc"] == 0.0 and off_by_one["mfrs"] == pytest.approx(0.25)


def test_label_index_ground_truth_for_a_multiclass_row():
    assert compute_score("verl_med/dermamnist", respond("melanoma"), 4, derma())["acc"] == 1.0
    assert compute_score("verl_med/dermamnist", respond("nevus"), 4, derma())["acc"] == 0.0
    assert compute_score("verl_med/dermamnist", reference_response(4, derma()), 4, derma())["acc"] == 1.0


@pytest.mark.parametrize("truth", [True, -1, 7, 2.5, float("nan"), "99", None, [2], b"2"])
def test_numbers_that_name_no_label_stay_ungradable(truth):
    """Out of range, fractional, boolean or non-scalar: all zeros (and one warning), never an exception."""
    result = compute_score("verl_med/dermamnist", respond("melanoma"), truth, derma())
    assert result["score"] == 0.0 and result["acc"] == 0.0

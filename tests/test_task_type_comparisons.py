"""``reward_fns.TaskType`` is the one vocabulary of task types: product code compares a task type with a
``TaskType`` member or predicate, never with a string literal (a misspelt literal compares False silently, and a
new kind would have to be found in every hard-coded tuple)."""

from __future__ import annotations

import ast

from fixtures_data import REPO

from reward_fns import TaskType

PACKAGES = ("verl_med_plugin", "reward_fns", "data_preprocess")
NAMES = {t.value for t in TaskType}
COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _literals(node: ast.AST) -> set[str]:
    """String literals ``node`` is or holds (a tuple, list or set display of them)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_literals(element) for element in node.elts))
    return set()


def task_type_literal_lines(source: str) -> list[int]:
    """Lines of each comparison (``==``, ``!=``, ``in``, ``not in``) against a task-type string literal."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Compare)
        and any(isinstance(op, COMPARISONS) for op in node.ops)
        and set().union(*(_literals(side) for side in (node.left, *node.comparators))) & NAMES
    ]


def test_no_task_type_string_comparison_in_product_code():
    """Mutation checked: writing ``task == "multilabel"`` back into ``reward_fns/parsing.py`` fails here."""
    found = [
        f"{path.relative_to(REPO)}:{line}"
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        for line in task_type_literal_lines(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_detector_sees_literals_in_tuples_and_on_either_side():
    source = 'a = t == "ordinal"\nb = "mcq" != t\nc = t in ("binary", "x")\nd = t == TaskType.OPEN\ne = t == "other"\n'
    assert task_type_literal_lines(source) == [1, 2, 3]

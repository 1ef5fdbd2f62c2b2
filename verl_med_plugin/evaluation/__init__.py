"""Evaluation of verl-med runs, apart from the training glue: read verl's dumps (``dumps``), score them with the
reward's parser (``evaluate``), metrics (``metrics``), confidence intervals and paired tests (``statistics``),
the report (``report``), the paper's table across rows, datasets and seeds (``table``) and offline generation
(``generate``). Command lines: ``verl-med-eval`` and ``verl-med-generate``."""

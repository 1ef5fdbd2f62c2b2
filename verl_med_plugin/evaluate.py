"""Old path of ``verl-med-eval``, kept so ``python -m verl_med_plugin.evaluate`` and imports keep working; the code
is in ``verl_med_plugin.evaluation.evaluate``."""

import sys

from verl_med_plugin.evaluation.evaluate import *  # noqa: F403 - the old module path keeps its names
from verl_med_plugin.evaluation.evaluate import main

if __name__ == "__main__":
    sys.exit(main())

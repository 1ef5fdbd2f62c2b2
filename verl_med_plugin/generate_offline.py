"""Old path of ``verl-med-generate``, kept so ``python -m verl_med_plugin.generate_offline`` and installed console
scripts keep working; the code is in ``verl_med_plugin.evaluation.generate``."""

import sys

from verl_med_plugin.evaluation.generate import *  # noqa: F403 - the old module path keeps its names
from verl_med_plugin.evaluation.generate import main

if __name__ == "__main__":
    sys.exit(main())

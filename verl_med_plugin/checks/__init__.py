"""verl-med's checks of a run before Ray starts. Each is defined once:

- config: ``checks.config`` (every interpolation resolves, every value has its default's type) and
  ``verl_med_plugin.med_settings.check_med_config`` (the ``med:`` settings, parsed in settings only);
- data: ``checks.data`` (files exist and hold verl-med's columns and the task types a schedule draws from,
  exclusions proven, reference answers score acc 1 under the reward kwargs);
- trainer mode: ``checks.trainer_mode`` (the mode, the entry point verl's actors load, the class verl's registry
  builds, compared by qualified name);
- machine: ``checks.machine.training_blockers`` (GPU, rollout engine).

``values`` holds the two conversions every check needs (an OmegaConf node as plain Python, a file list) and
``errors`` the error they raise. ``preflight`` runs them (``check_config``, the dry run) and keeps their old import
paths.
"""

"""verl entry point (group ``verl.plugins``): ``import verl`` imports this module in every verl process.

It does five things, all without importing any verl module (verl is still initialising when it runs):

1. Checks that verl-med's pieces import in this process and says so loudly, with the cause, when they do not:
   verl swallows entry-point errors at DEBUG level, so a broken install would otherwise only show up later as an
   obscure failure inside a Ray reward worker.
2. Puts ``MedSyncTrainer`` into verl's trainer registry under ``MED_TRAINER_MODE`` as soon as verl's v1 trainer
   package is imported in this process (so verl's own ``TaskRunnerV1`` builds it for
   ``trainer.v1.trainer_mode=med_sync``). Not now: the trainer package costs about 10 s and 300 MB, and most verl
   processes (reward, agent-loop and FSDP workers) never train. ``docs/plugin.md`` explains the choice.
3. On the verl releases with upstream issue #7899, installs verl-med's fix for it
   (``verl_compat.install_verl_7899_fix``) once TransferQueue's client is imported in this process.
4. Warns once per process when the installed verl is not the version verl-med was tested with.
5. Stops a run whose trainer would silently ignore ``+med.sampler.enable=true`` (``guard_run_ppo``,
   ``guard_validate_config``), in the driver before Ray starts, whichever verl launcher started it.
6. Registers the OmegaConf resolvers ``configs/sft_med.yaml`` uses to pick verl-med's chat template
   (``med_settings.register_config_resolvers``), so verl's own SFT trainer renders tool traces with it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

# verl-med's trainer in verl's registry (``trainer.v1.trainer_mode=med_sync``) and the module that defines
# MedSyncTrainer (and registers it, as verl's trainer_sync.py registers "sync"); verl_compat imports no verl module.
from verl_med_plugin.verl_compat import MED_TRAINER_MODE
from verl_med_plugin.verl_compat import MED_TRAINER_MODULE as TRAINER_MODULE

logger = logging.getLogger("verl_med_plugin")

# This module's entry point (pyproject.toml: [project.entry-points."verl.plugins"]).
ENTRY_POINT_GROUP, ENTRY_POINT_VALUE = "verl.plugins", __name__

# Modules verl loads by pkg:// path inside its workers (reward loop, dataset).
CHECKED_MODULES = ("reward_fns",)


def _check_imports() -> None:
    for name in CHECKED_MODULES:
        importlib.import_module(name)


# ----------------------------------------------------------------------------------- registration, deferred
class _CallAfterExec(importlib.abc.Loader):
    """A module's own loader, then ``callback(module)`` once the module's code has run."""

    def __init__(self, loader: importlib.abc.Loader, callback: Callable[[ModuleType], None]) -> None:
        self._loader, self._callback = loader, callback

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._callback(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...: the real loader's
        return getattr(self._loader, name)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``callback(module)`` right after module ``name`` is first imported in this process (the standard
    library has no post-import hook). Acts once; every other import passes straight through."""

    verl_med_hook = True

    def __init__(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        self.name, self.callback, self.done = name, callback, False

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != self.name or self.done:
            return None
        self.done = True  # first, so that the lookup below skips this finder (sys.meta_path is being iterated)
        spec = importlib.util.find_spec(fullname)  # the other finders' spec (the parent is imported by now)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _CallAfterExec(spec.loader, self.callback)
        return spec


def call_after_import(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Run ``callback(module)`` once module ``name`` is imported: now if it already is, else right after its
    code has run, before anything else can use it.

    Args:
        name: Dotted module name.
        callback: Called with the module object.

    >>> seen = []
    >>> call_after_import("sys", lambda module: seen.append(module.__name__))
    >>> seen
    ['sys']
    """
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    sys.meta_path.insert(0, _AfterImport(name, callback))


def _import_trainer(_verl_trainers: ModuleType | None = None) -> None:
    """Import ``verl_med_plugin.trainer``, whose class decorator registers ``MedSyncTrainer``. Never raises:
    it runs inside verl's own import, and a failure must be reported, not break verl."""
    try:
        importlib.import_module(TRAINER_MODULE)
    except Exception as exc:  # noqa: BLE001 - reported loudly; verl's own trainers stay usable
        logger.warning(
            "verl-med could not register its trainer (trainer.v1.trainer_mode=%s) in this process: %s: %s. "
            "verl will report the mode as unknown.",
            MED_TRAINER_MODE,
            type(exc).__name__,
            exc,
            exc_info=True,
        )


def _installed_verl_version() -> str | None:
    from verl_med_plugin.verl_compat import installed_verl_version

    return installed_verl_version()


def _trainer_registry_module() -> str:
    from verl_med_plugin.verl_compat import TRAINER_REGISTRY_MODULE  # verl_compat imports verl lazily

    return TRAINER_REGISTRY_MODULE


def _call_after_import_once(name: str, callback: Callable[[ModuleType], None]) -> None:
    """``call_after_import`` unless a hook for ``name`` is already pending (this module executed again)."""
    # duck-typed: after importlib.reload a pending hook is an instance of the previous _AfterImport class
    for finder in sys.meta_path:
        pending = getattr(finder, "verl_med_hook", False) and not getattr(finder, "done", True)
        if pending and getattr(finder, "name", None) == name:
            return
    call_after_import(name, callback)


def _install_trainer_registration() -> None:
    _call_after_import_once(_trainer_registry_module(), _import_trainer)


# ----------------------------------------------------------------------------------- verl version
def _install_upstream_fixes(version: str | None) -> bool:
    """verl issue #7899's fix on the releases that have the bug (``verl_compat.VERL_7899_AFFECTED``), installed
    when TransferQueue's client is imported. Returns whether it was scheduled."""
    from verl_med_plugin import verl_compat

    if not verl_compat.verl_7899_affected(version):
        return False
    _call_after_import_once(verl_compat.VERL_7899_CLIENT_MODULE, verl_compat.install_verl_7899_fix)
    return True


def _stop_if_curriculum_dropped(config: Any, task_runner: str) -> None:
    """One ``verl-med: error:`` line and exit status 2 when the run ``task_runner`` starts would ignore
    ``+med.sampler.enable=true`` (``med_settings.dropped_curriculum_problem``)."""
    from data_preprocess.common import ERROR_PREFIX, USER_ERROR_EXIT
    from verl_med_plugin.med_settings import dropped_curriculum_problem

    problem = dropped_curriculum_problem(config, task_runner)
    if problem:
        print(f"{ERROR_PREFIX} {problem}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)


def _wrap(module: ModuleType, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``module.name`` by ``make(original)``, once (the wrapper carries ``verl_med_guard``)."""
    original = getattr(module, name)
    if getattr(original, "verl_med_guard", False):
        return
    wrapper = functools.wraps(original)(make(original))
    wrapper.verl_med_guard = True  # type: ignore[attr-defined]
    setattr(module, name, wrapper)


def guard_run_ppo(main_ppo: ModuleType) -> None:
    """Wrap verl's ``run_ppo`` (``verl.trainer.main_ppo``; the driver, before Ray starts): the recipes' mains,
    verl-med's entry point and any script importing it pass their task runner, which says who consumes the
    dataset."""
    from verl_med_plugin.verl_compat import RUN_PPO_NAME, task_runner_name

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def run_ppo(config, task_runner_class, *args: Any, **kwargs: Any) -> Any:
            _stop_if_curriculum_dropped(config, task_runner_name(task_runner_class))
            return original(config, task_runner_class, *args, **kwargs)

        return run_ppo

    _wrap(main_ppo, RUN_PPO_NAME, make)


def _main_module() -> str | None:
    """The module ``python -m`` is running (None for a script or an interactive interpreter)."""
    return getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)


def guard_validate_config(config_module: ModuleType) -> None:
    """Wrap ``verl.utils.config.validate_config`` for ``python -m verl.trainer.main_ppo``, whose ``main()``
    calls it in the driver before ``run_ppo`` (its own global, out of ``guard_run_ppo``'s reach) and then starts
    ``TaskRunnerV1`` (``trainer.use_v1``, the default) or main_ppo_v0's ``TaskRunner``. Anywhere else (Ray actors,
    verl-med's dry run) the wrapper only calls verl's function."""
    from omegaconf import OmegaConf

    from verl_med_plugin import verl_compat

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def validate_config(*args: Any, **kwargs: Any) -> Any:
            config = kwargs.get("config", args[0] if args else None)
            if config is not None and _main_module() == verl_compat.MAIN_PPO_MODULE:
                use_v1 = OmegaConf.select(config, verl_compat.USE_V1_KEY, default=True)
                runner = verl_compat.V1_TASK_RUNNER if use_v1 else verl_compat.V0_TASK_RUNNER
                _stop_if_curriculum_dropped(config, runner)
            return original(*args, **kwargs)

        return validate_config

    _wrap(config_module, verl_compat.VALIDATE_CONFIG_NAME, make)


def _install_curriculum_guard() -> None:
    from verl_med_plugin import verl_compat

    _call_after_import_once(verl_compat.MAIN_PPO_MODULE, guard_run_ppo)
    _call_after_import_once(verl_compat.VERL_CONFIG_MODULE, guard_validate_config)


_warned_untested: set[str] = set()


def warn_if_untested_verl(version: str | None) -> bool:
    """Log (WARNING, once per process and version) that verl ``version`` is not the tested one, naming
    ``verl_compat.py``. Returns whether it logged now."""
    from verl_med_plugin.verl_compat import untested_verl_warning

    message = untested_verl_warning(version)
    if message is None or version in _warned_untested:
        return False
    _warned_untested.add(str(version))
    logger.warning("%s", message)
    return True


# ----------------------------------------------------------------------------------- checks for the driver
def entry_point_problems(environ: Mapping[str, str] | None = None) -> list[str]:
    """Why verl's Ray actors would not load this entry point (so ``med_sync`` would be unknown there): not
    installed, or excluded by verl's ``VERL_USE_EXTERNAL_PLUGINS``. Empty when they will.

    Args:
        environ: The environment the actors inherit (default ``os.environ``).

    Returns:
        One line per problem.

    >>> entry_point_problems({"VERL_USE_EXTERNAL_PLUGINS": "none"})[0].split(":")[0]
    'VERL_USE_EXTERNAL_PLUGINS=none'
    """
    from verl_med_plugin.verl_compat import PLUGINS_ENV, plugin_policy_allows

    environ = os.environ if environ is None else environ
    names = [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.value == ENTRY_POINT_VALUE]
    if not names:
        return [
            f"verl-med's {ENTRY_POINT_GROUP} entry point is not installed, so verl's Ray actors never load "
            f"it and trainer.v1.trainer_mode={MED_TRAINER_MODE} is unknown there; run `pip install -e .`"
        ]
    policy = environ.get(PLUGINS_ENV, "auto")
    if not plugin_policy_allows(policy, names[0]):
        return [
            f"{PLUGINS_ENV}={policy}: verl will not load verl-med's entry point ({names[0]}), so "
            f"trainer.v1.trainer_mode={MED_TRAINER_MODE} is unknown in its Ray actors; unset it or add "
            f"{names[0]}"
        ]
    return []


try:
    _check_imports()
    LOADED = True
except Exception as exc:  # noqa: BLE001 - any failure must be reported, not swallowed by verl
    LOADED = False
    logger.warning(
        "verl-med plugin failed to load in this process: %s: %s. verl will go on without it, and rewards or "
        "datasets configured with pkg://reward_fns or pkg://verl_med_plugin will fail. Reinstall with "
        "`pip install -e .` and check `python -c 'import reward_fns'`.",
        type(exc).__name__,
        exc,
        exc_info=True,
    )


def _register_config_resolvers() -> None:
    """``med_settings.register_config_resolvers``; never raises (it runs inside verl's own import)."""
    try:
        from verl_med_plugin.med_settings import register_config_resolvers

        register_config_resolvers()
    except Exception as exc:  # noqa: BLE001 - reported loudly; only configs/sft_med.yaml needs the resolvers
        logger.warning("verl-med could not register its config resolvers: %s: %s", type(exc).__name__, exc)


_install_trainer_registration()
_install_curriculum_guard()
_register_config_resolvers()
VERL_VERSION = _installed_verl_version()
_install_upstream_fixes(VERL_VERSION)
warn_if_untested_verl(VERL_VERSION)

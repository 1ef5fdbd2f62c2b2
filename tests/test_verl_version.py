"""The installed verl is checked against ``verl_compat.VERL_TESTED``: an untested verl gets one warning per process
naming ``verl_compat.py`` (the pin admits every 0.9.x; the internal names were read in one release)."""

from __future__ import annotations

import logging
import subprocess
import sys

from verl_med_plugin import register, verl_compat


def test_untested_version_warns_once_naming_verl_compat(caplog, monkeypatch):
    """Mutation checked: dropping the ``_warned_untested`` guard logs twice and fails the count."""
    monkeypatch.setattr(register, "_warned_untested", set())
    with caplog.at_level(logging.WARNING, logger="verl_med_plugin"):
        assert register.warn_if_untested_verl("0.9.2") is True
        assert register.warn_if_untested_verl("0.9.2") is False
    records = [r for r in caplog.records if "verl_med_plugin/verl_compat.py" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert "0.9.2" in records[0].getMessage() and verl_compat.VERL_TESTED in records[0].getMessage()


def test_tested_version_is_silent(caplog, monkeypatch):
    """Mutation checked: comparing with ``!=`` inverted (warn on the tested version) fails this."""
    monkeypatch.setattr(register, "_warned_untested", set())
    with caplog.at_level(logging.WARNING, logger="verl_med_plugin"):
        assert register.warn_if_untested_verl(verl_compat.VERL_TESTED) is False
        assert register.warn_if_untested_verl(None) is False
    assert not caplog.records


def test_import_verl_warns_once_in_a_fresh_process():
    """Through verl's own entry-point loading: a process whose tested version differs from the installed verl
    sees the warning exactly once, however many verl modules it imports.
    Mutation checked: removing the ``warn_if_untested_verl(VERL_VERSION)`` call in register.py fails this."""
    code = (
        "import verl_med_plugin.verl_compat as c; c.VERL_TESTED = '0.0.1'\n"
        "import verl, verl.utils.tensordict_utils\n"
        "import verl_med_plugin.register\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "verl_med_plugin/verl_compat.py" in line]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "tested with verl 0.0.1" in lines[0]

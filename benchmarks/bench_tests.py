"""Time of the default test run (the non-e2e suite of scripts/test.sh): a baseline revision and the working tree,
measured in the same run, back to back.

    python benchmarks/bench_tests.py [--baseline 843a8ef] [--only both|baseline|current] [-k EXPR] [--workers 2]

The baseline is checked out with ``git worktree add`` into a temporary folder and its suite runs there with
``PYTHONPATH=<worktree>``, so its own packages (``verl_med_plugin``, ``reward_fns``, ``data_preprocess``, the
configs) and tests are imported, not the editable install of this checkout; a probe process checks that before
the run (installed packages, the CPU test bed among them, are the environment's for both). Each revision runs
with the flags of its own scripts/test.sh: ``pytest -q -m "not e2e" -n WORKERS -p no:cacheprovider tests``, plus
``--dist loadgroup`` where that script passes it. Reported per revision: wall time, pytest's own time, the counts
of its summary line, the exit status; and the ratio baseline / current. The machine is shared: the load average
before and after each run is recorded, and only the ratio of one run counts.
``-k EXPR`` (passed to both) is for a quick check of this script, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from results_io import machine_info  # noqa: E402

from data_preprocess.atomic import write_text_atomic  # noqa: E402

DEFAULT_BASELINE = "843a8ef"  # the last landed commit before the test-speed work (issue "A thinner plugin")
ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "RAY_USAGE_STATS_ENABLED": "0"}  # scripts/test.sh
PACKAGES = ("verl_med_plugin", "verl_med_plugin.configs", "reward_fns", "data_preprocess")
SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed|warnings?)\b")


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def pytest_command(test_sh: str, workers: int, k: str | None) -> list[str]:
    """The unit-test command of a revision's scripts/test.sh (``test_sh``: its text)."""
    command = [sys.executable, "-m", "pytest", "-q", "-m", "not e2e", "-n", str(workers), "-p", "no:cacheprovider"]
    if "--dist loadgroup" in test_sh:
        command += ["--dist", "loadgroup"]
    # Every phase's time (setup, call, teardown) of every test, to compare the tests both revisions have.
    command += ["--durations=0", "--durations-min=0"]
    return [*command, "tests", *(["-k", k] if k else [])]


# ``@group``: the suffix pytest-xdist adds to the node id of an ``xdist_group`` test under ``--dist loadgroup``.
DURATION = re.compile(r"^\s*([\d.]+)s (?:setup|call|teardown)\s+(tests/.+?)(?:@[\w.-]+)?\s*$", re.M)


def test_seconds(output: str) -> dict[str, float]:
    """Seconds per test (its setup, call and teardown summed) from pytest's ``--durations=0`` table."""
    seconds: dict[str, float] = {}
    for value, nodeid in DURATION.findall(output):
        seconds[nodeid] = seconds.get(nodeid, 0.0) + float(value)
    return seconds


def common_tests(runs: dict) -> dict | None:
    """Per-test seconds summed over the tests both revisions have (same node id): the speed-up at equal coverage,
    which the wall times alone hide when the current suite has more tests."""
    if "baseline" not in runs or "current" not in runs:
        return None
    base, cur = (test_seconds(Path(runs[name]["log"]).read_text(errors="replace")) for name in ("baseline", "current"))
    shared = sorted(set(base) & set(cur))
    base_s, cur_s = sum(base[n] for n in shared), sum(cur[n] for n in shared)
    return {
        "tests": len(shared),
        "baseline_only": len(set(base) - set(cur)),
        "current_only": len(set(cur) - set(base)),
        "baseline_test_seconds": round(base_s, 1),
        "current_test_seconds": round(cur_s, 1),
        "speedup": round(base_s / cur_s, 2) if cur_s else None,
        "all_baseline_test_seconds": round(sum(base.values()), 1),
        "all_current_test_seconds": round(sum(cur.values()), 1),
    }


def parse_summary(output: str) -> dict:
    """Counts and seconds of pytest's last summary line (``3 failed, 51 passed, 7 warnings in 15.57s``)."""
    for line in reversed(output.strip().splitlines()):
        line = line.strip().strip("=").strip()
        match = re.search(r" in ([\d.]+)s", line)
        if match and SUMMARY.search(line):
            counts = {}
            for n, kind in SUMMARY.findall(line):
                kind = {"error": "errors", "warning": "warnings"}.get(kind, kind)
                counts[kind] = int(n)
            return {"summary": line, "pytest_seconds": float(match.group(1)), **counts}
    return {"summary": None}


def probe_imports(cwd: Path, env: dict[str, str]) -> dict[str, str]:
    """Where ``PACKAGES`` are imported from, in a process started like the test run."""
    code = (
        "import importlib, json\n"
        f"print(json.dumps({{name: list(importlib.import_module(name).__path__)[0] for name in {PACKAGES!r}}}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_suite(name: str, root: Path, env: dict[str, str], command: list[str], log: Path, timeout: float) -> dict:
    """One timed run of ``command`` in ``root``; output to ``log``. A run over ``timeout`` is stopped (its whole
    process group) and reported as timed out."""
    print(f"[{name}] {root}: {shlex.join(command[1:])}", flush=True)
    load_before = round(os.getloadavg()[0], 2)
    start = time.monotonic()
    timed_out = False
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A shell that starts this in the background leaves SIGINT ignored; the interrupt tests need it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
    wall = time.monotonic() - start
    result = {
        "root": str(root),
        "command": command[1:],
        "wall_seconds": round(wall, 1),
        "exit_status": code,
        "timed_out": timed_out,
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "log": str(log),
        **parse_summary(log.read_text(errors="replace")),
    }
    print(f"[{name}] {result['wall_seconds']} s, exit {code}: {result.get('summary')}", flush=True)
    return result


def markdown(result: dict) -> str:
    runs = result["runs"]
    selection = (
        f"only `-k {result['k']}` (a check of this script, not a measurement)"
        if result["k"]
        else "the whole non-e2e suite"
    )
    lines = [
        "# Test-suite time (non-e2e, as scripts/test.sh runs it)",
        "",
        f"{result['date']}; {result['machine']['cpus']} CPUs, Python {result['machine']['python']}, "
        f"{result['workers']} pytest-xdist workers; {selection}.",
        "",
        "| run | revision | wall s | pytest s | passed | failed | errors | skipped | exit | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        lines.append(
            f"| {name} | `{run['revision']}` | {run['wall_seconds']} | {run.get('pytest_seconds', '-')} | "
            f"{run.get('passed', 0)} | {run.get('failed', 0)} | {run.get('errors', 0)} | "
            f"{run.get('skipped', 0)} | {run['exit_status']}{' (timed out)' if run['timed_out'] else ''} | "
            f"{run['load_avg_1m_before']} / {run['load_avg_1m_after']} |"
        )
    if result.get("speedup") is not None:
        lines += ["", f"**Speed-up: {result['speedup']}x** (baseline wall time / current wall time, same run)."]
    common = result.get("common")
    if common:
        lines += [
            "",
            f"Tests both revisions have ({common['tests']}; {common['baseline_only']} only in the baseline, "
            f"{common['current_only']} only in the current tree), summed per-test time (setup + call + teardown, "
            f"pytest `--durations=0`, over both workers): baseline {common['baseline_test_seconds']} s, current "
            f"{common['current_test_seconds']} s, **{common['speedup']}x** at equal coverage. All tests: "
            f"{common['all_baseline_test_seconds']} s vs {common['all_current_test_seconds']} s.",
        ]
    lines += ["", "Commands (each in its own checkout; the baseline with `PYTHONPATH=<worktree>`):", ""]
    lines += [f"- {name}: `python {shlex.join(run['command'])}`" for name, run in runs.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare with")
    parser.add_argument("--only", choices=["both", "baseline", "current"], default="both")
    parser.add_argument("-k", default=None, metavar="EXPR", help="pytest -k expression for both runs (a quick check)")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("PYTEST_WORKERS", 2)),
        help="pytest-xdist processes (default: PYTEST_WORKERS or 2, as scripts/test.sh)",
    )
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds before a run is stopped")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_tests", help="folder for the pytest logs"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results" / "tests.json",
        help="result JSON (the markdown summary goes beside it, .md)",
    )
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **ENV}
    # Warm the file cache of the shared environment once, so that neither run pays for it alone.
    subprocess.run(
        [sys.executable, "-c", "import torch, transformers, verl"],
        env=env,
        capture_output=True,
        timeout=900,
        check=False,
    )
    runs: dict[str, dict] = {}
    worktree = None
    try:
        # The working tree first: a failure there shows before the baseline has run.
        if args.only in ("both", "current"):
            head = git("rev-parse", "--short", "HEAD")
            changed = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
            command = pytest_command((REPO / "scripts" / "test.sh").read_text(), args.workers, args.k)
            runs["current"] = {
                "revision": f"{head} + working tree ({changed} changed files)",
                "imports": probe_imports(REPO, env),
                **run_suite("current", REPO, env, command, args.work / "current.log", args.timeout),
            }
        if args.only in ("both", "baseline"):
            revision = git("rev-parse", "--short", args.baseline)
            worktree = Path(tempfile.mkdtemp(prefix="bench_tests_baseline_")) / "repo"
            git("worktree", "add", "--detach", str(worktree), revision)
            # The editable install maps the package verl_med_plugin.configs onto this checkout's configs/ (pyproject
            # package-dir); a link inside the worktree's package makes Python find the worktree's configs first.
            (worktree / "verl_med_plugin" / "configs").symlink_to("../configs", target_is_directory=True)
            base_env = {
                **env,
                "PYTHONPATH": os.pathsep.join([str(worktree), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            }
            imported = probe_imports(worktree, base_env)
            outside = {name: path for name, path in imported.items() if not Path(path).is_relative_to(worktree)}
            if outside:
                raise SystemExit(f"the baseline run would import {outside}, not the worktree's code: stopping")
            command = pytest_command(git("show", f"{revision}:scripts/test.sh"), args.workers, args.k)
            runs["baseline"] = {
                "revision": revision,
                "imports": imported,
                **run_suite("baseline", worktree, base_env, command, args.work / "baseline.log", args.timeout),
            }
    finally:
        if worktree is not None:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=False, capture_output=True
            )
            shutil.rmtree(worktree.parent, ignore_errors=True)
            subprocess.run(["git", "worktree", "prune"], cwd=REPO, check=False, capture_output=True)

    speedup = None
    if "baseline" in runs and "current" in runs and runs["current"]["wall_seconds"] > 0:
        speedup = round(runs["baseline"]["wall_seconds"] / runs["current"]["wall_seconds"], 2)
    result = {
        "benchmark": "tests",
        "machine": machine_info(),
        "workers": args.workers,
        "k": args.k,
        "baseline": args.baseline,
        "runs": runs,
        "speedup": speedup,
        "common": common_tests(runs),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    write_text_atomic(args.out.with_suffix(".md"), markdown(result))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()

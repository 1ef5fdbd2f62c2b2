"""CPU time of the unit tier (the non-e2e tests): a baseline revision and the working tree, test by test over the
tests both have, run alternately in the same invocation.

    python benchmarks/bench_tests.py [--baseline 3b3451f] [--files tests/test_a.py ...] [--touched] [--groups 8]
        [--repeats 1] [--workers 0] [--baseline-tree PATH] [-k EXPR]

The test files (all that either revision has, ``--touched`` for those that differ between the two, or ``--files``)
are split into ``--groups`` runs of consecutive files; each group runs in the baseline and then in the working tree,
or the other way round, the order swapping from one group to the next (and one repeat to the next), so a change of
the machine's load falls on both sides alike. Each run is one pytest process (``-n 0``: one worker, no xdist
processes; ``-m "not e2e"``) at ``nice -n 19``, with the plugin ``pytest_cpu_time`` recording every test's CPU time
(its process's user + system time plus that of the children it waited for) and wall time. The machine is shared:
wall time follows the other jobs' load, CPU time far less, so the CPU ratio at equal coverage (the tests both
revisions have, by node id) is the figure; wall times are reported beside it. Never a timed assertion.

The baseline is checked out with ``git worktree add`` (``--baseline-tree`` reuses one) and its tests run there with
``PYTHONPATH=<worktree>``, so its own packages (``verl_med_plugin``, ``reward_fns``, ``data_preprocess``, the
configs) and tests are imported, not the editable install of this checkout; a probe process started like the runs
checks where each side's packages come from and stops the benchmark otherwise (installed packages, the CPU test bed
among them, are the environment's for both). ``-k EXPR`` (passed to every run) is for a quick check of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from results_io import machine_info  # noqa: E402

from data_preprocess.atomic import write_text_atomic  # noqa: E402

# The mainline just before the house work ("a house a contributor can live in": the checks package, evaluation
# free of verl, one registration point per contribution) was merged.
DEFAULT_BASELINE = "3b3451f"
ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "RAY_USAGE_STATS_ENABLED": "0"}  # scripts/test.sh
PACKAGES = ("verl_med_plugin", "verl_med_plugin.configs", "reward_fns", "data_preprocess")
PLUGIN = Path(__file__).with_name("pytest_cpu_time.py")
SIDES = ("baseline", "current")

Times = dict[str, dict[str, float]]  # node id -> {"cpu": s, "wall": s}


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_files(root: Path) -> set[str]:
    """The test modules of a checkout, as paths relative to it."""
    return {path.relative_to(root).as_posix() for path in (root / "tests").glob("test_*.py")}


def split(files: list[str], groups: int) -> list[list[str]]:
    """``files`` in ``groups`` runs of consecutive files (as even as the count allows; none empty)."""
    groups = max(1, min(groups, len(files)))
    size, extra = divmod(len(files), groups)
    out, start = [], 0
    for index in range(groups):
        end = start + size + (index < extra)
        out.append(files[start:end])
        start = end
    return out


def pytest_command(files: list[str], workers: int, k: str | None) -> list[str]:
    """One run of the unit tier over ``files``, niced, with the CPU-time plugin."""
    command = ["nice", "-n", "19", sys.executable, "-m", "pytest", "-q", "-m", "not e2e", "-n", str(workers)]
    command += ["-p", "no:cacheprovider", "-p", PLUGIN.stem]
    return [*command, *files, *(["-k", k] if k else [])]


def summary_line(output: str) -> str | None:
    """pytest's last summary line (``3 failed, 51 passed, 7 warnings in 15.57s``)."""
    for line in reversed(output.strip().splitlines()):
        line = line.strip().strip("=").strip()
        if " in " in line and any(word in line for word in ("passed", "failed", "error", "skipped", "deselected")):
            return line
    return None


def probe_imports(cwd: Path, env: dict[str, str]) -> dict[str, str]:
    """Where ``PACKAGES`` are imported from, in a process started like the test runs."""
    code = (
        "import importlib, json\n"
        f"print(json.dumps({{name: list(importlib.import_module(name).__path__)[0] for name in {PACKAGES!r}}}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def children_cpu() -> float:
    """User + system seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_times(path: Path) -> Times:
    """The plugin's per-test times, merged over the files it wrote (one per xdist worker)."""
    times: Times = {}
    for part in sorted(path.parent.glob(path.name + "*")):
        times.update(json.loads(part.read_text()))
    return times


def run_pytest(root: Path, env: dict[str, str], command: list[str], log: Path, timeout: float) -> dict[str, Any]:
    """One run of ``command`` in ``root`` (output to ``log``): its wall and CPU time (the pytest process and every
    child it waited for), exit status, summary line and per-test times. A run over ``timeout`` is stopped (its
    process group) and reported as timed out."""
    times_path = log.with_suffix(".times.json")
    for old in log.parent.glob(times_path.name + "*"):
        old.unlink()
    load_before = round(os.getloadavg()[0], 2)
    cpu, start = children_cpu(), time.monotonic()
    timed_out = False
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env={**env, "BENCH_TESTS_OUT": str(times_path)},
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
    return {
        "wall_seconds": round(time.monotonic() - start, 1),
        "cpu_seconds": round(children_cpu() - cpu, 1),
        "exit_status": code,
        "timed_out": timed_out,
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "log": str(log),
        "summary": summary_line(log.read_text(errors="replace")),
        "tests": read_times(times_path),
    }


def test_file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def sums(times: Times, nodeids: set[str]) -> dict[str, float]:
    return {kind: round(sum(times[n][kind] for n in nodeids), 1) for kind in ("cpu", "wall")}


def ratio(base: float, cur: float) -> float | None:
    """baseline / current: above 1, the current tree is faster."""
    return round(base / cur, 3) if cur else None


def compare(base: Times, cur: Times, files: set[str] | None = None) -> dict[str, Any]:
    """Per-test seconds summed over the tests both revisions have (same node id), optionally within ``files``: the
    speed-up at equal coverage, which whole-run times hide when one side has more tests."""
    if files is not None:
        base = {n: t for n, t in base.items() if test_file(n) in files}
        cur = {n: t for n, t in cur.items() if test_file(n) in files}
    shared = set(base) & set(cur)
    b, c = sums(base, shared), sums(cur, shared)
    return {
        "tests": len(shared),
        "baseline_only": len(set(base) - shared),
        "current_only": len(set(cur) - shared),
        "baseline": b,
        "current": c,
        "cpu_speedup": ratio(b["cpu"], c["cpu"]),
        "wall_speedup": ratio(b["wall"], c["wall"]),
        "all_baseline": sums(base, set(base)),
        "all_current": sums(cur, set(cur)),
    }


def per_file(base: Times, cur: Times) -> dict[str, dict[str, Any]]:
    """``compare`` for each test file either side has."""
    files = sorted({test_file(n) for n in base} | {test_file(n) for n in cur})
    return {name: compare(base, cur, {name}) for name in files}


def mean_times(runs: list[dict[str, Any]], side: str) -> Times:
    """Each test's times averaged over the repeats that ran it on ``side``."""
    seen: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        if run["side"] == side:
            for nodeid, t in run["tests"].items():
                seen.setdefault(nodeid, []).append(t)
    return {n: {k: sum(t[k] for t in ts) / len(ts) for k in ("cpu", "wall")} for n, ts in seen.items()}


def whole_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Whole-process CPU (start-up, imports, collection and fixtures included) of the groups both sides ran, less
    the CPU of the tests only one side has: the equal-coverage figure per-test times miss when one side imports a
    module at collection and the other inside a test (or a test only one side has pays a shared fixture's cost)."""
    pairs: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for run in runs:
        pairs.setdefault((run["repeat"], run["group"]), {})[run["side"]] = run
    out = {side: {"cpu": 0.0, "wall": 0.0} for side in SIDES}
    both = [pair for pair in pairs.values() if len(pair) == 2]
    for pair in both:
        for side, other in zip(SIDES, SIDES[::-1], strict=True):
            only = set(pair[side]["tests"]) - set(pair[other]["tests"])
            for kind in ("cpu", "wall"):
                out[side][kind] += pair[side][f"{kind}_seconds"] - sum(pair[side]["tests"][n][kind] for n in only)
    totals = {side: {kind: round(value, 1) for kind, value in out[side].items()} for side in SIDES}
    return {
        "group_runs": len(both),
        **totals,
        "cpu_speedup": ratio(totals["baseline"]["cpu"], totals["current"]["cpu"]),
        "wall_speedup": ratio(totals["baseline"]["wall"], totals["current"]["wall"]),
    }


def done_groups(result: dict[str, Any]) -> int:
    """Group runs both sides finished (a stopped benchmark reports the groups it completed)."""
    sides: dict[tuple[int, int], set[str]] = {}
    for run in result["runs"]:
        sides.setdefault((run["repeat"], run["group"]), set()).add(run["side"])
    return sum(len(s) == 2 for s in sides.values())


def row(name: str, c: dict[str, Any]) -> str:
    return (
        f"| {name} | {c['tests']} | {c['baseline']['cpu']} | {c['current']['cpu']} | **{c['cpu_speedup']}** | "
        f"{c['baseline']['wall']} | {c['current']['wall']} | {c['wall_speedup']} | {c['current_only']} | "
        f"{c['all_current']['cpu']} |"
    )


def markdown(result: dict[str, Any]) -> str:
    head = "| | tests both have | baseline CPU s | current CPU s | CPU speed-up | baseline wall s | current wall s |"
    head += " wall speed-up | tests only current | current CPU s, all its tests |"
    table = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    selection = f"`-k {result['k']}` only (a check of this script, not a measurement)" if result["k"] else ""
    lines = [
        "# Unit-tier CPU time: baseline vs working tree, test by test (`bench_tests.py`)",
        "",
        f"{result['date']}; {result['machine']['cpus']} CPUs (shared with other jobs), Python "
        f"{result['machine']['python']}; baseline `{result['baseline']}`, current `{result['current']}`; "
        f"{len(result['files'])} test files in {result['groups']} groups, {result['repeats']} repeat(s) "
        f"({done_groups(result)} of {result['groups'] * result['repeats']} group runs done on both sides), one pytest "
        f"process per group and side (`-n {result['workers']}`), at `nice -n 19`, the two sides alternating. "
        f"{selection}",
        "",
        "CPU time per test: the pytest process's user + system time plus that of the children it waited for "
        "(`resource.getrusage`), setup + call + teardown; summed over the tests both revisions have (same node id). "
        "Speed-up = baseline / current (above 1: the current tree is faster). Wall time is shown beside it but the "
        "machine was loaded by other jobs throughout.",
        "",
        *table,
        row("all files", result["common"]),
    ]
    if result.get("touched"):
        lines.append(row(f"files the two differ in ({len(result['touched_files'])})", result["touched"]))
    lines += ["", "Per file (the 15 with the largest CPU difference at equal coverage):", "", *table]
    files = sorted(result["per_file"].items(), key=lambda kv: -abs(kv[1]["current"]["cpu"] - kv[1]["baseline"]["cpu"]))
    lines += [row(f"`{name}`", c) for name, c in files[:15]]
    lines += ["", "Runs (whole pytest processes, start-up and collection included):", ""]
    lines += [
        "| group | repeat | side | wall s | CPU s | exit | summary | load before/after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        lines.append(
            f"| {run['group']} | {run['repeat']} | {run['side']} | {run['wall_seconds']} | {run['cpu_seconds']} | "
            f"{run['exit_status']}{' (timed out)' if run['timed_out'] else ''} | {run['summary']} | "
            f"{run['load_avg_1m_before']} / {run['load_avg_1m_after']} |"
        )
    totals, whole = result["totals"], result["whole_runs"]
    lines += [
        "",
        f"Whole runs summed: baseline {totals['baseline']['cpu']} CPU s / {totals['baseline']['wall']} wall s, "
        f"current {totals['current']['cpu']} CPU s / {totals['current']['wall']} wall s (every test of each side, "
        "not equal coverage).",
        "",
        f"Whole runs at equal coverage ({whole['group_runs']} groups both sides ran; each run's CPU less that of the "
        f"tests only its side has, start-up and collection kept): baseline {whole['baseline']['cpu']} CPU s, current "
        f"{whole['current']['cpu']} CPU s, **{whole['cpu_speedup']}x** (wall: {whole['wall_speedup']}x).",
        "",
        "Command of one run (the baseline's in its worktree with `PYTHONPATH=<worktree>`): "
        f"`{shlex.join(result['command'])}`",
    ]
    return "\n".join(lines) + "\n"


def baseline_checkout(revision: str, given: Path | None) -> tuple[Path, bool]:
    """The baseline's checkout (``given``, or a new worktree in a temporary folder) and whether this run made it.
    The editable install maps the package ``verl_med_plugin.configs`` onto this checkout's ``configs/``
    (pyproject package-dir); a link inside the baseline's package makes Python find the baseline's configs first."""
    made = given is None
    root = given or Path(tempfile.mkdtemp(prefix="bench_tests_baseline_")) / "repo"
    if made:
        git("worktree", "add", "--detach", str(root), revision)
    elif git("rev-parse", "HEAD", cwd=root) != git("rev-parse", revision):
        raise SystemExit(f"{root} is not at {revision}: stopping")
    link = root / "verl_med_plugin" / "configs"
    if not link.exists():
        link.symlink_to("../configs", target_is_directory=True)
    return root, made


def side_env(env: dict[str, str], plugin_dir: Path, root: Path) -> dict[str, str]:
    """The environment of one side's runs: the plugin importable, and the side's checkout first on the path (the
    editable install may be another checkout's, e.g. when this script runs from a second worktree)."""
    paths = [str(plugin_dir), str(root), env.get("PYTHONPATH", "")]
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def check_imports(root: Path, env: dict[str, str]) -> dict[str, str]:
    imported = probe_imports(root, env)
    outside = {name: path for name, path in imported.items() if not Path(path).is_relative_to(root)}
    if outside:
        raise SystemExit(f"the run in {root} would import {outside}, not that checkout's code: stopping")
    return imported


def merge(result: dict[str, Any], other: dict[str, Any]) -> None:
    """``other``'s runs (same baseline) into ``result``, its groups numbered after ``result``'s. The working trees
    are both named when they differ: the caller vouches that the code the tests import is the same."""
    if other["baseline"] != result["baseline"]:
        raise SystemExit(f"cannot merge a result against {other['baseline']} into one against {result['baseline']}")
    if other["current"] != result["current"]:
        result["current"] += f"; then {other['current']}"
    offset = result["groups"]
    result["runs"] += [{**run, "group": run["group"] + offset} for run in other["runs"]]
    result["groups"] += other["groups"]
    result["files"] = sorted(set(result["files"]) | set(other["files"]))
    result["touched_files"] = sorted(set(result["touched_files"]) | set(other["touched_files"]))


def render(out: Path, others: list[Path]) -> None:
    """Rewrite ``out`` (and its markdown) from its runs and those of ``others``."""
    result = json.loads(out.read_text())
    for other in others:
        merge(result, json.loads(other.read_text()))
    save(out, result)


def save(out: Path, result: dict[str, Any]) -> None:
    """Write the comparison so far (a stopped benchmark keeps the runs it finished)."""
    base, cur = mean_times(result["runs"], "baseline"), mean_times(result["runs"], "current")
    result["common"] = compare(base, cur)
    result["touched"] = compare(base, cur, set(result["touched_files"])) if result["touched_files"] else None
    result["per_file"] = per_file(base, cur)
    result["whole_runs"] = whole_runs(result["runs"])
    result["totals"] = {
        side: {
            kind: round(sum(r[f"{kind}_seconds"] for r in result["runs"] if r["side"] == side), 1)
            for kind in ("cpu", "wall")
        }
        for side in SIDES
    }
    result["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    write_text_atomic(out, json.dumps(result, indent=2) + "\n")
    write_text_atomic(out.with_suffix(".md"), markdown(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare with")
    parser.add_argument("--baseline-tree", type=Path, default=None, help="an existing checkout of the baseline")
    parser.add_argument("--files", nargs="+", default=None, help="test files (default: all either side has)")
    parser.add_argument("--touched", action="store_true", help="only the test files the two revisions differ in")
    parser.add_argument("--groups", type=int, default=8, help="pytest runs per side and repeat")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="pytest-xdist -n (0: tests in the pytest process)")
    parser.add_argument("-k", default=None, metavar="EXPR", help="pytest -k expression for every run (a quick check)")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite --out and its markdown from the runs --out holds"
    )
    parser.add_argument(
        "--add",
        type=Path,
        nargs="*",
        default=[],
        help="with --render: results of other invocations (other files, same revisions) whose runs join --out's",
    )
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds before one run is stopped")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_tests", help="logs")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "benchmarks" / "results" / "tests.json",
        help="result JSON (the markdown summary goes beside it, .md); rewritten after every run",
    )
    args = parser.parse_args()
    if args.render:  # e.g. after a benchmark stopped by hand, two invocations run side by side, a new summary
        render(args.out, args.add)
        return

    args.work.mkdir(parents=True, exist_ok=True)
    plugin_dir = args.work / "plugin"  # the plugin alone on the path: nothing else of benchmarks/ shadows a module
    plugin_dir.mkdir(exist_ok=True)
    shutil.copy(PLUGIN, plugin_dir / PLUGIN.name)
    revision = git("rev-parse", "--short", args.baseline)
    root, made = baseline_checkout(revision, args.baseline_tree)
    try:
        env = {**os.environ, **ENV}
        roots = {"baseline": root, "current": REPO}
        envs = {side: side_env(env, plugin_dir, roots[side]) for side in SIDES}
        imports = {side: check_imports(roots[side], envs[side]) for side in SIDES}
        have = {side: test_files(roots[side]) for side in SIDES}
        changed = {
            line
            for line in git("diff", "--name-only", revision, "--", "tests").splitlines()
            if line.startswith("tests/test_")
        }
        files = sorted(args.files or (changed if args.touched else have["baseline"] | have["current"]))
        groups = split(files, args.groups)
        head = git("rev-parse", "--short", "HEAD")
        dirty = len(git("status", "--porcelain", "--untracked-files=no").splitlines())
        result: dict[str, Any] = {
            "benchmark": "tests",
            "machine": machine_info(),
            "baseline": revision,
            "current": f"{head} + working tree ({dirty} changed files)",
            "imports": imports,
            "workers": args.workers,
            "k": args.k,
            "files": files,
            "touched_files": sorted(changed & set(files)),
            "groups": len(groups),
            "repeats": args.repeats,
            "command": pytest_command(["FILES"], args.workers, args.k),
            "runs": [],
        }
        for repeat in range(args.repeats):
            for index, group in enumerate(groups):
                order = SIDES if (repeat * len(groups) + index) % 2 == 0 else SIDES[::-1]
                for side in order:
                    mine = [f for f in group if f in have[side]]
                    if not mine:
                        continue
                    log = args.work / f"{side}.r{repeat}.g{index}.log"
                    print(f"[{side} group {index} repeat {repeat}] {len(mine)} files", flush=True)
                    run = run_pytest(
                        roots[side], envs[side], pytest_command(mine, args.workers, args.k), log, args.timeout
                    )
                    run.update(side=side, group=index, repeat=repeat, files=mine)
                    print(f"  {run['wall_seconds']} s wall, {run['cpu_seconds']} s CPU: {run['summary']}", flush=True)
                    result["runs"].append(run)
                    save(args.out, result)
    finally:
        if made:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(root)], cwd=REPO, check=False, capture_output=True
            )
            shutil.rmtree(root.parent, ignore_errors=True)
            subprocess.run(["git", "worktree", "prune"], cwd=REPO, check=False, capture_output=True)
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs", "per_file")}, indent=2))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()

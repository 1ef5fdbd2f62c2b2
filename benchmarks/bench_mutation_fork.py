"""Cost of one mutant's test run in mutmut's fork server, with and without the heap frozen after the warm-up
(tests/conftest.py's ``pytest_collection_finish`` under ``VERL_MED_MUTATION_RUN=1``, scripts/mutation.sh).

mutmut 3.8.1's ``forkserver`` isolation imports pytest, runs ``pytest --collect-only`` over the test selection
once, then forks one ``pytest.main`` per mutant. This script does the same in one process: the warm-up collection
of the reward tests, then forked runs of fixed test lists, alternating an unfrozen and a frozen heap
(``gc.unfreeze``/``gc.freeze`` between forks), so both sides see the same load. The tests run unmutated: what is
measured is the cost around them, the same for every mutant.

    python benchmarks/bench_mutation_fork.py [--rounds 5]

Writes benchmarks/results/mutation_fork.json and .md (median seconds per forked run, and the ratio).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from results_io import machine_info, save  # noqa: E402

SELECTION = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_rewards_*.py")) + [
    "tests/test_hostile_rewards.py"
]
# Fixed test lists, as mutmut hands them to a mutant's run (-x, fastest first): one fast test (a mutant killed at
# once), a module of fast example tests (a survivor of a parsing function), and a Hydra-composing test.
CASES = {
    "one fast test": ["tests/test_rewards_ground_truth.py::test_label_index_ground_truth_for_a_multiclass_row"],
    "test_rewards_parsing.py (all)": ["tests/test_rewards_parsing.py"],
    "one Hydra composition": [
        "tests/test_rewards_box_format.py::test_localization_presets_read_data_prepared_in_the_models_convention"
    ],
}
ARGS = ["--rootdir=.", "--tb=native", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]


def forked_run(test_ids: list[str]) -> float:
    """Seconds of one forked ``pytest.main`` (mutmut's per-mutant call), measured in the child."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        import pytest

        os.close(read)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        start = time.perf_counter()
        code = pytest.main([*ARGS, "-x", "-p", "no:randomly", *test_ids])
        os.write(write, f"{time.perf_counter() - start} {int(code)}".encode())
        os._exit(0)
    os.close(write)
    seconds, status = os.read(read, 64).decode().split()
    os.waitpid(pid, 0)
    if status != "0":
        raise SystemExit(f"verl-med: error: forked run of {test_ids} exited {status}")
    return float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "mutation_fork.json")
    args = parser.parse_args()
    os.chdir(REPO)
    os.environ.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", VERL_MED_REWARD_STRICT="1")
    import pytest

    load_before = os.getloadavg()[0]
    pytest.main([*ARGS, "--collect-only", "-qqq", *SELECTION])  # the fork server's warm-up
    gc.collect()
    times: dict[str, dict[str, list[float]]] = {case: {"unfrozen": [], "frozen": []} for case in CASES}
    for _ in range(args.rounds):
        for case, ids in CASES.items():
            for side in ("unfrozen", "frozen"):
                gc.freeze() if side == "frozen" else gc.unfreeze()
                times[case][side].append(forked_run(ids))
    rows = {
        case: {
            "unfrozen_median_s": round(statistics.median(t["unfrozen"]), 3),
            "frozen_median_s": round(statistics.median(t["frozen"]), 3),
            "ratio": round(statistics.median(t["unfrozen"]) / statistics.median(t["frozen"]), 2),
            "runs": t,
        }
        for case, t in times.items()
    }
    result = {
        "machine": machine_info(load_avg_1m_before=round(load_before, 2)),
        "rounds": args.rounds,
        "cases": rows,
    }
    lines = [
        "# One mutant's forked test run: heap unfrozen vs frozen after the warm-up (same run, alternating)",
        "",
        f"`python benchmarks/bench_mutation_fork.py --rounds {args.rounds}`; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} shared cores.",
        "",
        "| test list | unfrozen (median s) | frozen (median s) | ratio |",
        "|---|---:|---:|---:|",
        *(
            f"| {case} | {r['unfrozen_median_s']} | {r['frozen_median_s']} | {r['ratio']}x |"
            for case, r in rows.items()
        ),
        "",
    ]
    save(args.out, result, "\n".join(lines))


if __name__ == "__main__":
    main()

"""A long fuzzing campaign over both bitstreams (.tng and .tngv), for issue 19's acceptance: N mutated
files, each decoded in a worker process under a time bound; counts, peak memory and every finding to JSON.

    python scripts/fuzz_bitstreams.py --cases 20000 --out results/fuzz/campaign.json        # idle machine
    OMP_NUM_THREADS=1 nice -n 19 python scripts/fuzz_bitstreams.py --cases 100 --out results/fuzz/smoke.json   # smoke

Seeds and mutations are ``tests/bitstream_fuzz.py``'s (the CI property test uses the same): the tiny
random-init models' files (.tng with one and two LATENT chunks, .tngv with I- and P-frames in the frame
layouts of format versions 4, 5 and 6, all-intra .tngv), and with ``--seeds all`` (default) the shipped
weights' files too (a .tng of the newest image model, the version-1 sample .tngv, and a P-frame .tngv when
an inter model is shipped). Case ``i`` is reproducible from ``--seed`` and ``i`` alone.

Outcomes: ``ok`` (decoded: pictures of the header's size), ``typed_error`` (a TngError: the expected
failure), ``uncaught`` (any other exception, or a decode that does not match its header), ``hang``
(over ``--hang-seconds``: the worker is killed and restarted) and ``crash`` (the worker died: a signal,
an abort, the OOM killer). The file of every uncaught, hang and crash case is kept in the findings
folder. Peak memory is the worker's resident high-water mark, reset before each case (Linux
``/proc/self/clear_refs``), so it is the largest single case's; ``baseline_rss_mib`` is the worker's
resident memory with its models loaded. Exit status 0 when there is no uncaught, hang or crash case.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import re
import sys
import time
from collections import Counter, defaultdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # bitstream_fuzz and tiny_model live with the tests

OUTCOMES = ("ok", "typed_error", "uncaught", "hang", "crash")
READY_SECONDS = 900.0  # building the seeds (loading the shipped weights) on a busy machine


def _worker(conn: Connection, seed_kind: str, campaign_seed: int, case_file: str, rounds: tuple[int, ...]) -> None:
    """Build the seeds, then decode the cases the parent names by index, forever."""
    import torch

    torch.set_num_threads(1)
    from bitstream_fuzz import SeedSet, classify, mutate, peak_rss_kib, reset_peak_rss, shipped_seeds, tiny_seeds

    sets: list[SeedSet] = []
    if seed_kind in ("tiny", "all"):
        sets.append(tiny_seeds())
    if seed_kind in ("shipped", "all"):
        sets.append(shipped_seeds())
    seeds = [(seed_set, name) for seed_set in sets for name in seed_set.names]
    conn.send({"seeds": {name: len(seed_set.seeds[name]) for seed_set, name in seeds}, "baseline_kib": peak_rss_kib()})
    while True:
        index = conn.recv()
        if index is None:
            return
        rng = random.Random(f"{campaign_seed}:{index}")
        seed_set, name = rng.choice(seeds)
        kind, data = mutate(seed_set.seeds[name], rng, seed_set, rounds=rng.choice(rounds))
        Path(case_file).write_bytes(data)  # the parent keeps it if this case hangs or kills the worker
        reset_peak_rss()
        started = time.perf_counter()
        outcome, detail = classify(data, seed_set.decoders)
        conn.send({"index": index, "seed": name, "mutation": kind, "outcome": outcome, "detail": detail,
                   "bytes": len(data), "seconds": time.perf_counter() - started, "peak_kib": peak_rss_kib()})


class Campaign:
    """The parent: runs cases in a worker process, restarts it after a hang or a crash, tallies."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.findings = args.findings or args.out.with_name(args.out.stem + "_findings")
        self.case_file = self.findings / "current_case.bin"
        self.counts: Counter[str] = Counter()
        self.by_mutation: dict[str, Counter[str]] = defaultdict(Counter)
        self.by_seed: dict[str, Counter[str]] = defaultdict(Counter)
        self.errors: Counter[str] = Counter()
        self.found: list[dict[str, Any]] = []
        self.slowest: list[dict[str, Any]] = []
        self.peak: dict[str, Any] = {"peak_kib": 0}
        self.seeds: dict[str, int] = {}
        self.baseline_kib: int | None = None
        self.restarts = 0
        self.started = time.time()
        self.context = multiprocessing.get_context("spawn")
        self.process: Any = None
        self.conn: Connection | None = None

    def _start(self) -> None:
        parent, child = self.context.Pipe()
        rounds = tuple(int(r) for r in self.args.rounds.split(","))
        self.process = self.context.Process(
            target=_worker, args=(child, self.args.seeds, self.args.seed, str(self.case_file), rounds), daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        if not parent.poll(READY_SECONDS):
            raise SystemExit("the fuzz worker did not start (seeds not built in time)")
        ready = parent.recv()
        self.seeds, self.baseline_kib = ready["seeds"], ready["baseline_kib"]

    def _stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        if self.process is not None:
            self.process.join()
        self.process = self.conn = None

    def run(self) -> int:
        self.findings.mkdir(parents=True, exist_ok=True)
        self._start()
        try:
            for index in range(self.args.cases):
                self._case(index)
                if (index + 1) % self.args.checkpoint_every == 0 or index + 1 == self.args.cases:
                    self._save(index + 1)
                    rate = (index + 1) / (time.time() - self.started)
                    print(f"{index + 1}/{self.args.cases} cases, {rate:.1f}/s: {dict(self.counts)}", file=sys.stderr)
        finally:
            if self.conn is not None:
                try:
                    self.conn.send(None)
                except OSError:
                    pass
            self._stop()
        self.case_file.unlink(missing_ok=True)
        if not any(self.findings.iterdir()):
            self.findings.rmdir()
        return 1 if any(self.counts[o] for o in ("uncaught", "hang", "crash")) else 0

    def _case(self, index: int) -> None:
        if self.conn is None:
            self._start()
        assert self.conn is not None
        self.conn.send(index)
        try:
            if not self.conn.poll(self.args.hang_seconds):
                self._lost(index, "hang", f"no answer within {self.args.hang_seconds:g} s")
                return
            result = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            self._lost(index, "crash", f"worker died (exit code {self.process.exitcode})")
            return
        outcome = "typed_error" if result["outcome"] == "error" else result["outcome"]
        self._tally(outcome, result["seed"], result["mutation"])
        if outcome == "typed_error":
            self.errors[re.sub(r"\d+", "N", result["detail"])[:120]] += 1
        elif outcome == "uncaught":
            self._keep(index, outcome, result)
        if result["peak_kib"] and result["peak_kib"] > self.peak["peak_kib"]:
            self.peak = {k: result[k] for k in ("index", "seed", "mutation", "outcome", "bytes", "peak_kib", "detail")}
        self.slowest = sorted([*self.slowest, {k: result[k] for k in ("index", "seed", "mutation", "outcome",
                                                                     "seconds", "detail")}],
                              key=lambda r: -r["seconds"])[:10]

    def _lost(self, index: int, outcome: str, detail: str) -> None:
        """A hang or a crash: keep the case's file, restart the worker."""
        self._stop()
        self.restarts += 1
        self._tally(outcome, "?", "?")
        self._keep(index, outcome, {"index": index, "detail": detail})

    def _tally(self, outcome: str, seed: str, mutation: str) -> None:
        self.counts[outcome] += 1
        self.by_seed[seed][outcome] += 1
        for kind in set(mutation.split("+")):
            self.by_mutation[kind][outcome] += 1

    def _keep(self, index: int, outcome: str, result: dict[str, Any]) -> None:
        target = self.findings / f"case{index:07d}-{outcome}.bin"
        if self.case_file.exists():
            target.write_bytes(self.case_file.read_bytes())
        self.found.append({**result, "outcome": outcome, "file": str(target)})

    def _save(self, done: int) -> None:
        from tngvideo.evaluation.rd import environment
        from tngvideo.io.atomic import write_text_atomic

        args = self.args
        report = {
            "cases": done,
            "counts": {outcome: self.counts[outcome] for outcome in OUTCOMES},
            "campaign_seed": args.seed,
            "seeds": self.seeds,
            "hang_seconds": args.hang_seconds,
            "rounds": args.rounds,
            "elapsed_seconds": round(time.time() - self.started, 1),
            "baseline_rss_mib": round(self.baseline_kib / 1024, 1) if self.baseline_kib else None,
            "peak_rss_mib": round(self.peak["peak_kib"] / 1024, 1),
            "peak_case": self.peak,
            "worker_restarts": self.restarts,
            "by_mutation": {kind: dict(counts) for kind, counts in sorted(self.by_mutation.items())},
            "by_seed": {name: dict(counts) for name, counts in sorted(self.by_seed.items())},
            "typed_errors": dict(self.errors.most_common(60)),
            "slowest_cases": self.slowest,
            "findings": self.found,
            "command": " ".join(sys.argv),
            "environment": environment(),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out, json.dumps(report, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0, help="campaign seed: case i is reproducible from it and i")
    parser.add_argument("--seeds", choices=("tiny", "shipped", "all"), default="all",
                        help="seed files: the tiny models', the shipped weights', or both")
    parser.add_argument("--hang-seconds", type=float, default=10.0, help="a case taking longer is a hang")
    parser.add_argument("--rounds", default="1,1,2,3", help="mutation rounds per case, drawn from this list")
    parser.add_argument("--out", type=Path, default=Path("results/fuzz/campaign.json"))
    parser.add_argument("--findings", type=Path, default=None,
                        help="folder for the files of uncaught/hang/crash cases (default: beside --out)")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="rewrite the JSON every N cases")
    args = parser.parse_args()
    campaign = Campaign(args)
    status = campaign.run()
    counts = ", ".join(f"{outcome} {campaign.counts[outcome]}" for outcome in OUTCOMES)
    print(f"{args.cases} cases: {counts}; peak RSS {campaign.peak['peak_kib'] / 1024:.0f} MiB; wrote {args.out}")
    sys.exit(status)


if __name__ == "__main__":
    main()

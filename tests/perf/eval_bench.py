"""Benchmark the sandbox: grade HumanEval+ (all base and plus inputs) with tinyforge and evalplus.

Workloads, each graded by both harnesses in the same run:
* canonical: the 164 canonical solutions (expect 164/164 base and plus; HumanEval/32 is graded by
  its special oracle, any root within atol, which evalplus 0.3.1 fails).
* --mix: what a small model writes, generated from the task data (MIX_CYCLE): correct, slow,
  wrong (at once, or only on inputs bigger than the base ones), raising, syntax errors, per-test
  timeouts (busy loop, sleep), early exits, segfaults, huge outputs, memory bombs. Reports
  samples/s and the share of our worker time held by jobs that ended in a timeout.
Runs interleave (ours, then evalplus at each worker count, per repeat; medians are reported), as
the load of a shared machine drifts. evalplus runs in a subprocess of --evalplus-python (default
$EVALPLUS_PYTHON, else this interpreter; evalplus==0.3.1 there, not in the project's venv) on
fresh samples files, its ground-truth cache warmed first, with as many workers as ours and with
its default (cpu_count // 2). Its wall time (the headline) comes in steps of about 20 s: the
process exits only when its "stucking_checker" thread (evalplus/evaluate.py, not a daemon) wakes
from time.sleep(20); the time until it wrote its results file is printed beside. Every tinyforge run is profiled (Sandbox(profile=True): a few clock
reads per job) and the phases of a job are printed: forks, confinement, module exec, inputs,
output marshal, comparison (execution.PROFILE_PHASES).

    python tests/perf/eval_bench.py --limit 8 --no-evalplus --repeat 1 --mix
    EVALPLUS_PYTHON=~/evalplus-venv/bin/python python tests/perf/eval_bench.py --repeat 3 --mix

Not a test: numbers depend on the machine and its load. The last line is the headline.
"""

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tinyforge import execution

# The shipped copy (byte-identical to the upstream v0.1.10 file once gunzipped; data/benchmarks/MANIFEST.md).
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "data" / "benchmarks" / "humaneval_plus.jsonl.gz"

# Appended to the canonical solution: the entry point works on inputs no bigger than the biggest
# base input (the size of an argument is its len(), or |x| for numbers) and does BEHAVIOUR on
# bigger ones, as a program written against the docstring's examples does.
_BIG_INPUTS = """

_tf_real, _tf_depth = {entry}, [0]
def {entry}(*args):
    if _tf_depth[0]:  # a recursive call of the canonical solution
        return _tf_real(*args)
    size = sum(len(a) if hasattr(a, "__len__") else abs(a) if isinstance(a, (int, float)) else 0
               for a in args)
    _tf_depth[0] += 1
    try:
        out = _tf_real(*args)
    finally:
        _tf_depth[0] -= 1
    if size > {limit}:
        {behaviour}
    return out
"""
# Appended to the canonical solution: about 0.5 ms of busy CPU per call, a correct but slow program.
_SLOW = """

import time as _tf_time
_tf_fast = {entry}
def {entry}(*args):
    end = _tf_time.perf_counter() + 0.0005
    while _tf_time.perf_counter() < end:
        pass
    return _tf_fast(*args)
"""
# Bodies appended to the prompt (which ends inside the entry point's def), keyed by kind.
_BODIES = {
    "wrong": "    return None\n",
    "raises": "    raise ValueError('unsupported input')\n",
    "syntax": "    return (\n",
    "loop": "    while True:\n        pass\n",
    "sleep": "    import time\n    time.sleep(1000)\n",
    "sys_exit": "    import sys\n    sys.exit(0)\n",
    "segfault": "    import ctypes\n    return ctypes.string_at(0)\n",
    "huge": "    print('x' * (8 << 20))\n    return 'y' * (32 << 20)\n",
    "oom": "    return bytearray(1 << 40)\n",
}
# One cycle of 20 samples: a guess at a small model's mix at temperature 0.8 (a quarter correct,
# 10% timeouts). Sample j of task t is MIX_CYCLE[(t * per_task + j) % 20]; "timeout" is "loop" on
# even tasks and "sleep" on odd ones.
MIX_CYCLE = ("canonical", "wrong", "wrong_big", "raises", "canonical", "timeout", "syntax",
             "wrong", "raises_big", "canonical", "segfault", "slow", "wrong_big", "sys_exit",
             "canonical", "timeout", "wrong", "huge", "exit_import", "oom")


def mix_solution(problem: dict, kind: str, task_index: int = 0) -> str:
    """The program of one mix sample of `kind` for `problem` (see MIX_CYCLE)."""
    canonical = problem["prompt"] + problem["canonical_solution"]
    entry = problem["entry_point"]
    if kind == "canonical":
        return canonical
    if kind in ("wrong_big", "raises_big"):
        def size(args):
            return sum(len(a) if hasattr(a, "__len__") else abs(a)
                       if isinstance(a, (int, float)) else 0 for a in args)
        limit = max((size(a) for a in problem["base_input"]), default=0)
        behaviour = ("return (out, 'off by one')" if kind == "wrong_big"
                     else "raise IndexError('list index out of range')")
        return canonical + _BIG_INPUTS.format(entry=entry, limit=limit, behaviour=behaviour)
    if kind == "slow":
        return canonical + _SLOW.format(entry=entry)
    if kind == "exit_import":
        return canonical + "\nimport os\nos._exit(0)\n"
    if kind == "timeout":
        kind = "loop" if task_index % 2 == 0 else "sleep"
    return problem["prompt"] + _BODIES[kind]


def mix_samples(problems: list, per_task: int) -> list:
    """[(task index, kind, solution)], per_task samples of each task."""
    return [(t, kind, mix_solution(p, kind, t)) for t, p in enumerate(problems)
            for kind in (MIX_CYCLE[(t * per_task + j) % len(MIX_CYCLE)] for j in range(per_task))]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="HumanEvalPlus.jsonl in EvalPlus native format (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel workers for both harnesses (default: one per core)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="expected-output cache (default: $TINYFORGE_CACHE or ~/.cache/tinyforge)")
    p.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    p.add_argument("--out", type=Path, default=None, help="also write the metrics to this JSON file")
    p.add_argument("--repeat", type=int, default=3,
                   help="interleaved runs of each harness; medians are reported (default: 3)")
    p.add_argument("--mix", action="store_true",
                   help="after the canonical solutions, grade the mix of MIX_CYCLE")
    p.add_argument("--mix-per-task", type=int, default=2,
                   help="mix samples per task (default: 2, i.e. 328 samples on HumanEval+)")
    p.add_argument("--no-profile", action="store_true",
                   help="time without the profiling marks (e.g. against an older tinyforge)")
    ev = p.add_argument_group("evalplus")
    ev.add_argument("--no-evalplus", action="store_true", help="skip the evalplus comparison")
    ev.add_argument("--evalplus-python", default=os.environ.get("EVALPLUS_PYTHON") or sys.executable,
                    help="interpreter with evalplus==0.3.1 installed "
                         "(default: $EVALPLUS_PYTHON, else this one)")
    ev.add_argument("--evalplus-parallel", type=int, nargs="+", default=None,
                    help="evalplus worker counts to time; 0 is its default, cpu_count // 2 "
                         "(default: our worker count, then 0)")
    return p


def run_ours(problems, expected, solutions, workers: int, profile: bool) -> dict:
    """Grade solutions[i] of problems[i] with a fresh sandbox (one worker started untimed, as
    evalplus's pool starts cold); the job building is timed, as evalplus's is."""
    kwargs = {} if not profile else {"profile": True}
    cpu0 = _cpu_seconds()
    with execution.Sandbox(workers, **kwargs) as sandbox:
        sandbox.info
        t0 = time.perf_counter()
        jobs = [execution.plus_job(p, None, expected[p["task_id"]], solution=sol)
                for p, sol in zip(problems, solutions)]
        results = sandbox.run(jobs)
        wall = time.perf_counter() - t0
        info = sandbox.info
        log = sandbox.profile_log if profile else []
    timeouts = sum(r.elapsed for r in results if r.status == "timeout")
    return {"wall": wall, "results": results, "info": info, "profile": log,
            "timeout_share": timeouts / (workers * wall), "cpu": _cpu_seconds() - cpu0}


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped descendants (the workers, once closed, with
    their jobs)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Evalplus:
    """evalplus.evaluate in a subprocess of another interpreter, on fresh samples files (it
    reuses old result files), over exactly these problems (HUMANEVAL_OVERRIDE_PATH)."""

    def __init__(self, python: str, problems: list, data: Path, tmp: str):
        self.python, self.tmp, self.n = python, Path(tmp), 0
        ids = {p["task_id"] for p in problems}
        plain = self.tmp / "HumanEvalPlus.jsonl"
        with (gzip.open(data, "rt") if data.suffix == ".gz" else open(data)) as src, \
                open(plain, "w") as dst:
            dst.writelines(line for line in src if line.strip()
                           and json.loads(line)["task_id"] in ids)
        self.env = dict(os.environ, HUMANEVAL_OVERRIDE_PATH=str(plain))

    def available(self) -> bool:
        return subprocess.run([self.python, "-c", "import evalplus"], capture_output=True,
                              env=self.env).returncode == 0

    def run(self, rows: list, workers: int) -> tuple[float, list, float]:
        """rows: [(task_id, solution)]; returns the wall time, [(base, plus) status] in order and
        the time until the results file was written."""
        self.n += 1
        samples = self.tmp / f"samples{self.n}.jsonl"
        with open(samples, "w") as f:
            for task_id, solution in rows:
                f.write(json.dumps({"task_id": task_id, "solution": solution}) + "\n")
        cmd = [self.python, "-m", "evalplus.evaluate", "--dataset", "humaneval",
               "--samples", str(samples)] + (["--parallel", str(workers)] if workers else [])
        t0, started = time.perf_counter(), time.time()
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"evalplus failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        results = self.tmp / f"samples{self.n}_eval_results.json"
        written = results.stat().st_mtime - started
        with open(results) as f:
            evals = json.load(f)["eval"]
        seen: dict = {}
        statuses = []
        for task_id, _ in rows:  # evalplus keeps each task's samples in file order
            r = evals[task_id][seen.setdefault(task_id, 0)]
            seen[task_id] += 1
            statuses.append((r["base_status"], r["plus_status"]))
        return elapsed, statuses, written


def profile_lines(log: list, workers: int, wall: float) -> list:
    """Per-phase table: seconds summed over jobs, share of worker time, median and p90 per job."""
    off = execution.PROFILE_OFF_PATH
    names = [name for name, _, _ in execution.PROFILE_PHASES if name not in off] + ["inputs"]
    busy = sum(e["total"] for e in log)
    lines = [f"  {'phase':16s} {'sum s':>8s} {'share':>6s} {'median ms':>10s} {'p90 ms':>8s}"]
    for name in names + list(off):
        v = sorted(e["phases"][name] for e in log if name in e["phases"])
        if name == off[0]:
            lines.append("  off the job's path (while the previous job runs):")
        if v:
            lines.append(f"  {name:16s} {sum(v):8.2f} {sum(v) / busy:6.1%} "
                         f"{statistics.median(v) * 1e3:10.2f} {v[int(len(v) * 0.9)] * 1e3:8.2f}")
    lines.append(f"  jobs {len(log)}, {busy:.2f} job-seconds over {workers} workers x "
                 f"{wall:.2f} s wall ({busy / (workers * wall):.0%} busy)")
    return lines


def _verdicts(statuses) -> tuple[int, int]:
    return (sum(b == "pass" for b, _ in statuses), sum(b == p == "pass" for b, p in statuses))


def bench(name, problems, samples, expected, args, workers, evalplus, parallel) -> dict:
    """Interleaved runs of one workload; prints its figures and returns its metrics."""
    sample_problems = [problems[t] for t, _, _ in samples]
    solutions = [sol for _, _, sol in samples]
    rows = [(problems[t]["task_id"], sol) for t, _, sol in samples]
    n = len(samples)
    ours, theirs = [], {w: [] for w in parallel}
    for _ in range(args.repeat):
        ours.append(run_ours(sample_problems, expected, solutions, workers, not args.no_profile))
        for w in parallel:
            theirs[w].append(evalplus.run(rows, w))
    walls = [o["wall"] for o in ours]
    wall = statistics.median(walls)
    last = ours[-1]["results"]
    base, plus = _verdicts([((r.base or r).status, r.status) for r in last])
    print(f"\n[{name}] {n} samples of {len(problems)} tasks, {args.repeat} interleaved runs")
    cores = len(os.sched_getaffinity(0))
    cpu = statistics.median(o["cpu"] / (cores * o["wall"]) for o in ours)
    print(f"tinyforge ({workers} workers): {wall:.2f} s median ({n / wall:.1f} samples/s; runs "
          f"{', '.join(f'{t:.2f}' for t in walls)}); verdicts: base {base}/{n}, "
          f"base+plus {plus}/{n}; CPU {cpu:.0%} of {cores} cores (includes the untimed start)")
    metrics = {f"{name}_n": n, f"{name}_tinyforge_s": round(wall, 3),
               f"{name}_tinyforge_samples_per_s": round(n / wall, 2),
               f"{name}_tinyforge_plus": plus}
    if name == "canonical":
        for p, r in zip(sample_problems, last):
            if not r.passed:
                print(f"  {p['task_id']}: {r.status} {r.detail}")
    else:
        share = statistics.median(o["timeout_share"] for o in ours)
        print(f"tinyforge worker time held by jobs that timed out: {share:.1%} "
              f"(sum of their elapsed / (workers x wall))")
        metrics[f"{name}_timeout_share"] = round(share, 4)
    by_kind: dict = {}  # kind -> [samples, our passes, our elapsed, evalplus passes per count]
    for (_, kind, _), r in zip(samples, last):
        row = by_kind.setdefault(kind, [0, 0, [], [0] * len(parallel)])
        row[0] += 1
        row[1] += r.passed
        row[2].append(r.elapsed)
    for wi, w in enumerate(parallel):
        ev_walls = [t for t, _, _ in theirs[w]]
        ev_wall = statistics.median(ev_walls)
        ratio = statistics.median(o["wall"] / t for o, (t, _, _) in zip(ours, theirs[w]))
        ev_work = statistics.median(t for _, _, t in theirs[w])
        ratio_work = statistics.median(o["wall"] / t for o, (_, _, t) in zip(ours, theirs[w]))
        statuses = theirs[w][-1][1]
        for (_, kind, _), (b, p) in zip(samples, statuses):
            by_kind[kind][3][wi] += b == p == "pass"
        shown = w or max(1, (os.cpu_count() or 2) // 2)
        how = f"{shown} worker" + "s" * (shown != 1) + (" (its default)" if not w else "")
        base, plus = _verdicts(statuses)
        print(f"evalplus ({how}): {ev_wall:.2f} s median ({n / ev_wall:.1f} samples/s; runs "
              f"{', '.join(f'{t:.2f}' for t in ev_walls)}); verdicts: base {base}/{n}, "
              f"base+plus {plus}/{n}")
        print(f"tinyforge ({workers} workers) / evalplus ({how}) wall time: {ratio:.2f} "
              f"(median of the runs' ratios; {wall:.2f} s vs {ev_wall:.2f} s); to its results "
              f"file: {ratio_work:.2f} ({ev_work:.2f} s)")
        key = f"p{w}" if w else "default"
        metrics.update({f"{name}_evalplus_{key}_s": round(ev_wall, 3),
                        f"{name}_evalplus_{key}_results_s": round(ev_work, 3),
                        f"{name}_evalplus_{key}_plus": plus, f"{name}_ratio_{key}": round(ratio, 3),
                        f"{name}_ratio_results_{key}": round(ratio_work, 3)})
    if len(by_kind) > 1:
        print(f"  {'kind':12s} {'n':>4s} {'ours pass':>9s} {'median s':>9s}"
              + "".join(f" {f'ep{w} pass':>9s}" for w in parallel))
        for kind, (k, passed, elapsed, evs) in sorted(by_kind.items()):
            print(f"  {kind:12s} {k:4d} {passed:9d} {statistics.median(elapsed):9.3f}"
                  + "".join(f" {e:9d}" for e in evs))
    if ours[-1]["profile"]:
        print("phases of a job (last tinyforge run; execution.PROFILE_PHASES):")
        print("\n".join(profile_lines(ours[-1]["profile"], workers, ours[-1]["wall"])))
    return metrics


def main(args) -> dict:
    problems = execution.load_plus_problems(args.data)[: args.limit]
    n = len(problems)
    workers = args.workers or execution.default_workers()
    t0 = time.perf_counter()
    expected = execution.plus_expected_outputs(problems, args.cache_dir,
                                               data_sha256=execution.file_sha256(args.data))
    print(f"tinyforge: expected outputs of {n} tasks in {time.perf_counter() - t0:.2f} s "
          f"(cached after the first run)")
    with execution.Sandbox(1) as sandbox:
        print(f"isolation: {sandbox.info}")
    metrics = {"n_tasks": n, "workers": workers}
    with tempfile.TemporaryDirectory(prefix="tinyforge-evalplus-") as tmp:
        evalplus, parallel = None, []
        if not args.no_evalplus:
            evalplus = Evalplus(args.evalplus_python, problems, args.data, tmp)
            if evalplus.available():
                parallel = args.evalplus_parallel or [workers, 0]
                t0 = time.perf_counter()  # ground truth, computed once; syntax errors grade fast
                evalplus.run([(p["task_id"], "x = (") for p in problems], max(parallel))
                print(f"evalplus: {args.evalplus_python}, warm-up {time.perf_counter() - t0:.2f} s")
            else:
                print(f"evalplus is not importable by {args.evalplus_python}: no comparison "
                      f"(set EVALPLUS_PYTHON or --evalplus-python to a venv with evalplus==0.3.1)")
        workloads = [("canonical", [(t, "canonical", mix_solution(p, "canonical"))
                                    for t, p in enumerate(problems)])]
        if args.mix:
            workloads.append(("mix", mix_samples(problems, args.mix_per_task)))
        for name, samples in workloads:
            metrics.update(bench(name, problems, samples, expected, args, workers, evalplus,
                                 parallel))
    if args.out:
        args.out.write_text(json.dumps(metrics, indent=1) + "\n")
    heads = [f"{name} {metrics[f'{name}_tinyforge_s']:.2f} s"
             + "".join(f", {metrics[k]:.2f}x evalplus {k.rsplit('_', 1)[1]}"
                       for k in metrics if k.startswith(f"{name}_ratio_")
                       and not k.startswith(f"{name}_ratio_results_"))
             for name, _ in workloads]
    print(f"tinyforge ({workers} workers): " + "; ".join(heads))
    return metrics


if __name__ == "__main__":
    main(build_parser().parse_args())

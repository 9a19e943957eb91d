"""Side by side: grade the same HumanEval+ / MBPP+ samples with evalplus and with evals/evaluate.py.

The samples are the embedded model's raw completions (drawn once by evals/eval_plus.py and cached in
the run dir) and programs made from each task's canonical solution: wrong answers and types, slow,
crashing and exiting programs, missing imports, prints, `__main__` blocks (MUTANTS). One samples file
per benchmark, in evalplus's format (`solution`, else prompt + `completion`; the extra `id` is ignored
by evalplus), is graded by both; every base and plus verdict is compared, disagreements are regraded
by both (`--recheck`: a verdict that flips is timing) and listed in disagreements.jsonl.

    python tests/perf/evalplus_agreement.py --limit 8 --n-samples 1 --out-dir runs/agreement/smoke
    EVALPLUS_PYTHON=~/evalplus-venv/bin/python python tests/perf/evalplus_agreement.py

On 2 shared cores the default (164 HumanEval+ and 100 MBPP+ tasks, one sample each, ~2,960 samples)
grades in ~13 min; the first run also samples, ~16 min more (cached in --out-dir/samples). The
tinyforge graded is the one the script sits in: to grade a commit while the tree is being edited,
`git archive COMMIT | tar -x -C /tmp/tf` and run /tmp/tf/tests/perf/... with PYTHONPATH=/tmp/tf.

evalplus (`pip install evalplus==0.3.1`, best in its own venv: it pins protobuf and numpy) runs in
`--evalplus-python`, reading plain copies of the shipped data (HUMANEVAL_OVERRIDE_PATH /
MBPP_OVERRIDE_PATH, no network). Not a test: timing verdicts depend on the machine and its load.
The last line is the headline.
"""

import argparse
import collections
import gzip
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tinyforge import benchmarks, execution
from tinyforge.io import read_jsonl, save_metrics, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
# (tinyforge bench, evalplus --dataset, evalplus's override variable, shipped file): MANIFEST.md
# gives the versions, HumanEval+ v0.1.10 and MBPP+ v0.2.0, the ones evalplus 0.3.1 defaults to.
BENCHES = {"humaneval_plus": ("humaneval", "HUMANEVAL_OVERRIDE_PATH", "humaneval_plus.jsonl.gz"),
           "mbpp_plus": ("mbpp", "MBPP_OVERRIDE_PATH", "mbpp_plus.jsonl.gz")}

# Appended to the canonical solution: the entry point is wrapped so that `pre` runs before the
# outermost call and `post` replaces its output (recursive canonical solutions call the wrapper
# again; those inner calls pass through untouched).
WRAP = """
import os as _m_os, sys as _m_sys, time as _m_time
_m_ref, _m_depth, _m_calls, _M_BASE, _M_TYPES = {ep}, [0], [0], set({base}), set({types})
_m_key = lambda x: [_m_key(i) for i in x] if type(x) in (list, tuple) else x
def {ep}(*args):
    _m_calls[0] += 1
    if not _m_depth[0]:
        {pre}
    _m_depth[0] += 1
    try:
        out = _m_ref(*args)
    finally:
        _m_depth[0] -= 1
    return out if _m_depth[0] else ({post})
"""
MAIN = '\nif __name__ == "__main__":\n    print({ep})\n    raise SystemExit(3)\n'
NUM, FLOATS = "type(out) in (int, float)", "type(out) is list and out and all(type(x) is float for x in out)"
# name: (pre, post, output types it changes (None: all), every how many tasks). Both harnesses should
# fail each, except: pass for canonical, float_nudge, slow_ok, prints, main_block, solution_canonical,
# checks_arg_types (asserts the argument types evalplus passes, e.g. MBPP+ tuples) and, under
# evalplus's `==`, bool_as_int, int_as_float, ints_as_floats; base pass, plus fail for wrong_on_plus
# and slow_on_plus. uses_open fails in both (evalplus's reliability guard sets open to None, which
# plus jobs reproduce: Job.evalplus_guard).
MUTANTS = {
    "canonical": ("pass", "out", None, 1),
    "off_by_one": ("pass", f"out + 1 if {NUM} else out", {"int", "float"}, 1),
    "returns_none": ("pass", "None", None, 1),
    "bool_as_int": ("pass", "int(out) if type(out) is bool else out", {"bool"}, 1),
    "int_as_float": ("pass", "float(out) if type(out) is int else out", {"int"}, 1),
    "ints_as_floats": ("pass", "[float(x) if type(x) is int else x for x in out] if type(out) is list else out",
                       {"ints"}, 1),
    "list_as_tuple": ("pass", "tuple(out) if type(out) is list else out", {"list"}, 1),
    "float_nudge": ("pass", f"out + 5e-8 if type(out) is float else [x + 5e-8 for x in out] if {FLOATS} "
                    "else out", {"float", "floats"}, 1),
    "reversed": ("pass", "out[::-1] if type(out) in (list, tuple, str) else out", {"list", "tuple", "str"}, 1),
    "wrong_on_plus": ("if repr(_m_key(args)) not in _M_BASE: return None", "out", None, 2),
    "checks_arg_types": ("assert tuple(type(a).__name__ for a in args) in _M_TYPES", "out", None, 1),
    "raise": ("raise ValueError('mutant')", "out", None, 2),
    "sys_exit": ("_m_sys.exit(0)", "out", None, 2),
    "os_exit": ("_m_os._exit(0)", "out", None, 2),
    "exit_builtin": ("exit(0)", "out", None, 2),
    "recursion": ("f = lambda n: f(n + 1); f(0)", "out", None, 2),
    "memory": ("_m_x = bytearray(16 << 30)", "out", None, 4),
    "prints": ("print('trace', args)", "out", None, 2),
    "uses_open": ("open('scratch.txt', 'w').write('x')", "out", None, 8),
    "sleep": ("_m_time.sleep(10)", "out", None, 8),
    "infinite_loop": ("while True: pass", "out", None, 8),
    "slow_ok": ("if _m_calls[0] == 1: _m_time.sleep(0.3)", "out", None, 8),
    "slow_on_plus": ("if repr(_m_key(args)) not in _M_BASE: _m_time.sleep(10)", "out", None, 8),
}
# Disagreements that are evalplus 0.3.1's own defects (eval/__init__.py): its find_zero oracle
# `continue`s past the line that records a passed input, so every HumanEval/32 sample, the
# canonical one included, fails.
EVALPLUS_DEFECTS = {"source": set(), "task_id": {"HumanEval/32"}}
IMPORT_LINE = re.compile(r"^\s*(from\s+\S+\s+)?import\s.*\n?", re.M)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("io")
    g.add_argument("--out-dir", "--out", type=Path, default=Path("runs/agreement"),
                   help="run dir: samples cache, graded files, verdicts.jsonl, disagreements.jsonl, "
                        "metrics.json (default: %(default)s)")
    g.add_argument("--bench", nargs="+", choices=list(BENCHES), default=list(BENCHES), help="benchmarks")
    g.add_argument("--humaneval-tasks", type=int, default=164, help="first N HumanEval+ tasks (default: all)")
    g.add_argument("--mbpp-tasks", type=int, default=100, help="first N MBPP+ tasks (default: %(default)s)")
    g.add_argument("--limit", type=int, default=None, help="first N tasks of each benchmark (smoke runs)")
    g = p.add_argument_group("model samples (evals/eval_plus.py; 0 samples: mutants only)")
    g.add_argument("--model", default="smollm2-135m", help="model to sample (default: %(default)s)")
    g.add_argument("--n-samples", type=int, default=1, help="raw completions per task (default: %(default)s)")
    g.add_argument("--temperature", type=float, default=0.8, help="(default: %(default)s)")
    g.add_argument("--max-new-tokens", type=int, default=256, help="(default: %(default)s)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default: %(default)s)")
    g = p.add_argument_group("grading")
    g.add_argument("--evalplus-python", default=os.environ.get("EVALPLUS_PYTHON") or sys.executable,
                   help="interpreter with evalplus installed (default: $EVALPLUS_PYTHON, else this one)")
    g.add_argument("--workers", type=int, default=None, help="processes per harness (default: one per core)")
    g.add_argument("--no-mutants", action="store_true", help="grade the model samples only")
    g.add_argument("--recheck", type=int, default=1, help="regrade disagreements this many times (default: 1)")
    g.add_argument("--evaluate-flag", action="append", default=[],
                   help="extra flag for evals/evaluate.py (repeatable), e.g. --evaluate-flag=--strict-types")
    return p


def output_types(values) -> set:
    """Type names of the reference outputs we hold (big ones are digests: None), plus "floats" for a
    list of floats and "ints" for a list holding an int."""
    tags = set()
    for v in (v for v in values if v is not None):
        tags.add(type(v).__name__)
        if type(v) is list and v and all(type(x) is float for x in v):
            tags.add("floats")
        if type(v) is list and any(type(x) is int for x in v):
            tags.add("ints")
    return tags


def make_mutants(problem: dict, family: str, types: set, index: int) -> list:
    """(source, fields) per mutant of one task: `completion` (appended to the prompt; MBPP's is the
    program) or `solution` (the whole program)."""
    ep, canon = problem["entry_point"], problem["canonical_solution"]
    key = lambda x: [key(i) for i in x] if type(x) in (list, tuple) else x  # as the WRAP's _m_key
    base = sorted({repr(key(a)) for a in problem["base_input"]})
    arg_types = sorted({tuple(type(a).__name__ for a in args)
                        for args in problem["base_input"] + problem["plus_input"]})
    out = []
    for name, (pre, post, wants, every) in MUTANTS.items():
        if index % every or (wants and not wants & types) or (name.endswith("_plus") and len(repr(base)) > 50_000):
            continue
        extra = "" if name == "canonical" else WRAP.format(
            ep=ep, base=repr(base) if name.endswith("_plus") else "", pre=pre, post=post,
            types=repr(arg_types) if name == "checks_arg_types" else "")
        if name == "prints":
            extra = "\nprint('top-level output')\n" + extra + "print(1 / 2)\n"
        out.append((name, {"completion": canon.rstrip("\n") + "\n" + extra}))
    if index % 2 == 0:
        out.append(("main_block", {"completion": canon.rstrip("\n") + "\n" + MAIN.format(ep=ep)}))
    if index % 4 == 0:
        out.append(("exit_top", {"completion": canon.rstrip("\n") + "\nimport sys\nsys.exit(0)\n"}))
    if family == "humaneval":  # whole programs, evalplus's `solution`
        stripped = IMPORT_LINE.sub("", problem["prompt"])
        if stripped != problem["prompt"]:
            out.append(("missing_import", {"solution": stripped + canon}))
        if index % 4 == 0:
            out.append(("solution_canonical", {"solution": problem["prompt"] + canon}))
    elif IMPORT_LINE.search(canon):
        out.append(("missing_import", {"completion": IMPORT_LINE.sub("", canon)}))
    return out


def model_samples(args, bench: str, n_tasks: int, run_dir: Path) -> list:
    """The model's raw samples, drawn by evals/eval_plus.py into `run_dir` once (a rerun reuses them).
    Its own grading may fail (MBPP+, see `tinyforge_ungradable`): only its samples.jsonl is used."""
    path, want = run_dir / "samples.jsonl", n_tasks * args.n_samples
    if want and not (path.exists() and len(read_jsonl(path)) >= want):
        cmd = [sys.executable, str(ROOT / "evals" / "eval_plus.py"), "--model", args.model, "--bench", bench,
               "--limit", str(n_tasks), "--n-samples", str(args.n_samples), "--max-new-tokens",
               str(args.max_new_tokens), "--temperature", str(args.temperature), "--seed", str(args.seed),
               "--out-dir", str(run_dir)]
        print(f"sampling: {' '.join(cmd[1:])}", flush=True)
        subprocess.run(cmd, cwd=ROOT)
        if not path.exists() or len(read_jsonl(path)) < want:
            sys.exit(f"{path}: sampling did not finish")
    return read_jsonl(path) if want else []


def tinyforge_ungradable(bench: str, task_ids: set) -> dict:
    """task_id -> why, for tasks whose canonical solution fails in tinyforge's own grading path (its
    records of the benchmark): evaluate.py would stop on them with SandboxError, whole file and all."""
    problems, bad = [p for p in benchmarks.load_benchmark(bench) if p["task_id"] in task_ids], {}
    while problems:
        try:
            execution.plus_expected_outputs(problems)
            break
        except execution.SandboxError as exc:  # names up to 5 failing tasks; drop them, try again
            named = dict(re.findall(r"(\w+/\d+) \((.*?)\)(?:; |$)", str(exc)))
            if not named:
                raise
            bad.update(named)
            problems = [p for p in problems if p["task_id"] not in named]
    return bad


def subset_data(src: Path, task_ids: set, dst: Path) -> Path:
    """A plain copy of the shipped file's lines for these tasks (evalplus asserts that the samples
    cover every task of its data file); all tasks give a byte-identical copy of the upstream file."""
    with gzip.open(src, "rt", encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        out.writelines(line for line in f if line.strip() and json.loads(line)["task_id"] in task_ids)
    return dst


def run_evalplus(args, bench: str, samples: Path, data: Path, workers: int) -> dict:
    """evalplus.evaluate on `samples`: task_id -> its samples' result dicts, in file order."""
    dataset, env_var, _ = BENCHES[bench]
    result, log = samples.with_name(samples.stem + "_eval_results.json"), samples.with_suffix(".evalplus.log")
    result.unlink(missing_ok=True)  # evalplus would load a stale one
    cmd = [args.evalplus_python, "-m", "evalplus.evaluate", "--dataset", dataset, "--samples", str(samples),
           "--parallel", str(workers)]
    with open(log, "w") as f:
        proc = subprocess.run(cmd, env={**os.environ, env_var: str(data)}, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"evalplus failed (exit {proc.returncode}); see {log}")
    with open(result) as f:
        return json.load(f)["eval"]


def run_tinyforge(args, bench: str, samples: Path, out: Path, workers: int) -> dict:
    """evals/evaluate.py on `samples`: id -> results.jsonl row."""
    cmd = [sys.executable, str(ROOT / "evals" / "evaluate.py"), "--bench", bench, "--samples", str(samples),
           "--out-dir", str(out), "--overwrite", "--workers", str(workers), *args.evaluate_flag]
    with open(out.with_suffix(".log"), "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"evals/evaluate.py failed (exit {proc.returncode}); see {out.with_suffix('.log')}")
    return {r["id"]: r for r in read_jsonl(out / "results.jsonl")}


def grade_both(args, bench: str, records: list, stem: Path, workers: int, ungradable: dict) -> tuple:
    """Grade `records` (one samples file) with both: one verdict row per sample (tinyforge's None on
    `ungradable` tasks, left out of its copy of the file) and the two harnesses' wall times."""
    samples = stem.with_suffix(".jsonl")
    fields = ("task_id", "id", "completion", "solution")
    write_jsonl(samples, [{k: r[k] for k in fields if k in r} for r in records])
    data = subset_data(ROOT / "data" / "benchmarks" / BENCHES[bench][2], {r["task_id"] for r in records},
                       stem.with_suffix(".data.jsonl"))
    ours = samples
    if ungradable:
        ours = stem.with_name(stem.name + "_gradable.jsonl")
        write_jsonl(ours, [{k: r[k] for k in fields if k in r} for r in records if r["task_id"] not in ungradable])
    t0 = time.perf_counter()
    ep = run_evalplus(args, bench, samples, data, workers)
    t1 = time.perf_counter()
    tf = run_tinyforge(args, bench, ours, stem.with_name(stem.name + "_tinyforge"), workers)
    t2 = time.perf_counter()
    seen, rows = collections.Counter(), []
    for r in records:
        e = ep[r["task_id"]][seen[r["task_id"]]]  # evalplus keeps each task's samples in file order
        seen[r["task_id"]] += 1
        assert e["solution"].endswith(r.get("solution") or r["completion"]), f"{r['id']}: evalplus order"
        t = tf.get(r["id"], {"status": "not graded", "detail": ungradable.get(r["task_id"], "")})
        rows.append({"bench": bench, "task_id": r["task_id"], "id": r["id"], "source": r["source"],
                     "ep_base": e["base_status"] == "pass", "ep_plus": e["base_status"] == e["plus_status"] == "pass",
                     "tf_base": t.get("base_passed"), "tf_plus": t.get("passed"),
                     "evalplus": f"{e['base_status']}/{e['plus_status']}", "tinyforge": t["status"],
                     "detail": t.get("detail", "")[:200]})
    print(f"{stem.name}: {len(records)} samples; evalplus {t1 - t0:.1f} s, tinyforge {t2 - t1:.1f} s", flush=True)
    return rows, t1 - t0, t2 - t1


def rate(rows, keys=("base", "plus")) -> tuple:
    """(agreeing verdicts, verdicts, percent) over the graded rows."""
    rows = [r for r in rows if r["tf_base"] is not None]
    agree = sum(r[f"ep_{k}"] == r[f"tf_{k}"] for r in rows for k in keys)
    n = len(rows) * len(keys)
    return agree, n, 100.0 * agree / n if n else 100.0


def disagrees(row) -> bool:
    return row["tf_base"] is None or rate([row])[0] < 2


def bench_samples(args, bench: str, problems: list) -> list:
    """The model's samples and the mutants of `problems`, as samples records grouped by task."""
    family = BENCHES[bench][0]
    by_task = {p["task_id"]: p for p in problems}
    tag = (f"{bench}_{args.model.replace('/', '_')}_l{len(problems)}_n{args.n_samples}_t{args.temperature}"
           f"_m{args.max_new_tokens}_s{args.seed}")  # the settings that change the samples
    records = []
    for s in model_samples(args, bench, len(problems), args.out_dir / "samples" / tag):
        rec = {"task_id": s["task_id"], "id": f"model/{s['id']}", "source": "model", "completion": s["completion"]}
        if family == "mbpp":  # the program tinyforge cuts from the raw completion, for evalplus too
            rec["solution"] = benchmarks.solution_code(by_task[s["task_id"]], s["completion"], bench, "raw")
        records.append(rec)
    if not args.no_mutants:
        # A cache of our own: tinyforge's shared one keys tasks by a JSON hash of their inputs, in which
        # the tuples of these records and the lists of tinyforge's own MBPP+ records are the same key.
        # (Base inputs only: their outputs' types are all the mutants need.)
        expected = execution.plus_expected_outputs([{**p, "plus_input": []} for p in problems],
                                                   args.out_dir / "expected_cache")
        for i, p in enumerate(problems):
            for source, fields in make_mutants(p, family, output_types(expected[p["task_id"]]["base"]), i):
                rec = {"task_id": p["task_id"], "id": f"{source}/{p['task_id']}", "source": source, **fields}
                if "completion" not in rec:  # for a tinyforge that grades only prompt + completion
                    rec["completion"] = "\n" + rec["solution"]
                records.append(rec)
    order = {t: i for i, t in enumerate(by_task)}
    return sorted(records, key=lambda r: order[r["task_id"]])


def report(rows: list, ungraded_tasks: dict, metrics: dict) -> str:
    """Print the per-source table and every disagreement; fill `metrics`; return the headline."""
    print(f"\n{'source':<20} {'samples':>7} {'base':>7} {'plus':>7}")
    for source in dict.fromkeys(r["source"] for r in rows):
        of = [r for r in rows if r["source"] == source]
        print(f"{source:<20} {len(of):>7} {rate(of, ('base',))[2]:>6.1f}% {rate(of, ('plus',))[2]:>6.1f}%")
        metrics[f"source/{source}/n"], metrics[f"source/{source}/agreement"] = len(of), round(rate(of)[2], 2)
    bad = [r for r in rows if disagrees(r)]
    print(f"\n{len(bad)} samples disagree or were not graded by tinyforge (disagreements.jsonl)" + ":" * bool(bad))
    for r in bad:
        again = "; ".join(f"evalplus {c['evalplus']}, tinyforge {c['tinyforge']}" for c in r.get("recheck", []))
        print(f"  {r['task_id']} {r['source']}: evalplus {r['evalplus']}, tinyforge {r['tinyforge']} "
              f"(base {r['tf_base']}, plus {r['tf_plus']}) {r['detail'][:90]!r}" + (f" | recheck: {again}" * bool(again)))
    (a, n, pct), (_, _, pb), (_, _, pp) = rate(rows), rate(rows, ("base",)), rate(rows, ("plus",))
    metrics.update({"agreement": round(pct, 3), "agreement_base": round(pb, 3), "agreement_plus": round(pp, 3),
                    "verdicts": n, "verdicts_agree": a, "samples": len(rows), "disagreeing_samples": len(bad),
                    "tinyforge_ungraded_tasks": sorted(ungraded_tasks)})
    clean = [r for r in rows if not any(r[k] in v for k, v in EVALPLUS_DEFECTS.items())]
    metrics["agreement_without_evalplus_defects"] = round(rate(clean)[2], 3)
    print(f"without evalplus's own defects (EVALPLUS_DEFECTS): {rate(clean)[2]:.1f}% "
          f"({rate(clean)[0]}/{rate(clean)[1]} verdicts)")
    ungraded = f"; {len(ungraded_tasks)} task(s) tinyforge cannot grade" if ungraded_tasks else ""
    return f"agreement: {pct:.1f}% ({a}/{n} verdicts; base {pb:.1f}%, plus {pp:.1f}%{ungraded})"


def main(args) -> dict:
    probe = subprocess.run([args.evalplus_python, "-c", "import evalplus"], capture_output=True)
    if probe.returncode != 0:
        print(f"evalplus is not importable in {args.evalplus_python}: pip install evalplus==0.3.1 "
              "(its own venv), then pass --evalplus-python or set EVALPLUS_PYTHON", file=sys.stderr)
        sys.exit(2)
    args.out_dir = args.out_dir.resolve()  # the CLIs run with the repository as their cwd
    args.out_dir.mkdir(parents=True, exist_ok=True)
    workers = args.workers or execution.default_workers()
    started, all_rows, ungraded, metrics = time.perf_counter(), [], {}, {"workers": workers}
    for bench in args.bench:
        n_tasks = args.limit or (args.humaneval_tasks if bench == "humaneval_plus" else args.mbpp_tasks)
        problems = execution.load_plus_problems(ROOT / "data" / "benchmarks" / BENCHES[bench][2])[:n_tasks]
        t0 = time.perf_counter()
        records = bench_samples(args, bench, problems)
        skip = tinyforge_ungradable(bench, {p["task_id"] for p in problems})
        ungraded.update(skip)
        rows, ep_s, tf_s = grade_both(args, bench, records, args.out_dir / bench, workers, skip)
        metrics.update({f"{bench}/samples": len(rows), f"{bench}/prepare_s": round(time.perf_counter() - t0 - ep_s
                        - tf_s, 1), f"{bench}/evalplus_s": round(ep_s, 1), f"{bench}/tinyforge_s": round(tf_s, 1)})
        by_id = {r["id"]: r for r in records}
        for k in range(args.recheck):  # regrade what disagrees: a verdict that changes is timing
            bad = [r for r in rows if r["tf_base"] is not None and disagrees(r)]
            if not bad:
                break
            again, _, _ = grade_both(args, bench, [by_id[r["id"]] for r in bad], args.out_dir / f"{bench}_recheck{k}",
                                     workers, {})
            for r, a in zip(bad, again):
                r.setdefault("recheck", []).append({x: a[x] for x in ("evalplus", "tinyforge", "ep_base", "ep_plus",
                                                                      "tf_base", "tf_plus")})
        all_rows += rows
    write_jsonl(args.out_dir / "verdicts.jsonl", all_rows)
    write_jsonl(args.out_dir / "disagreements.jsonl", [r for r in all_rows if disagrees(r)])
    headline = report(all_rows, ungraded, metrics)
    metrics["total_s"] = round(time.perf_counter() - started, 1)
    save_metrics(args.out_dir, metrics)
    print(headline)
    return metrics


if __name__ == "__main__":
    main(build_parser().parse_args())

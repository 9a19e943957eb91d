"""Test-time sampling speed (issue 10, item 6; a benchmark that prints figures, not a test).

TTS is sampling-bound. Workload: the embedded model, the first 16 HumanEval prompts (raw format, the
benchmark's stop strings), n=16 samples each at temperature 0.7, up to 128 new tokens. Two ways to draw
the same pool:
  * one request per prompt with n=16: the HF backend prefills each prompt once, fans its KV cache out to
    16 rows and decodes prompts x samples together (batch --batch-size rows);
  * 16 separate requests per prompt (n=1, sample index j = 0..15, one after another): what a loop over
    "sample once more" does. Sample j of a prompt is drawn from (prompt seed, j) either way, so the two
    give the same tokens (checked on the prompts both ran: True in float32; in bfloat16 the batch shape
    moves the sums and a sample may drift, so the check can say False there), and tokens/s compares
    like with like.
Then the grading time per sample: the pool's programs run against HumanEval's tests in the sandbox.
Target: the n=16 way >= 2x the separate requests' tokens/s on 2 cores.

    python tests/perf/tts_bench.py                        # separate requests timed on 4 of the 16 prompts
    python tests/perf/tts_bench.py --separate-prompts 16  # all of them (slow: 256 requests)
"""

from __future__ import annotations

import argparse
import json
import time

from tinyforge import cpu


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--n-prompts", type=int, default=16)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--batch-size", type=int, default=64, help="HF backend rows decoded together")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--separate-prompts", type=int, default=4,
                   help="prompts the separate-request way is timed on (its tokens/s is steady per prompt)")
    p.add_argument("--workers", type=int, default=None, help="sandbox processes for grading")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p


def main(args) -> dict:
    cpu.configure_threads()
    print(cpu.thread_line(), flush=True)
    from tinyforge import benchmarks, evaluation
    from tinyforge.sampling import derive_seed, make_sampler

    problems = benchmarks.load_benchmark("humaneval", limit=args.n_prompts)
    prompts = [benchmarks.build_prompt(p, "humaneval", "raw") for p in problems]
    stop = benchmarks.default_stop("humaneval", "raw")
    seeds = [derive_seed(0, p["task_id"]) for p in problems]
    s = make_sampler(args.model, backend="hf", dtype=args.dtype, batch_size=args.batch_size)
    kw = dict(temperature=args.temperature, max_new_tokens=args.max_new_tokens, stop=stop)
    print(f"{len(prompts)} HumanEval prompts x n={args.n}, <= {args.max_new_tokens} new tokens, T={args.temperature}, "
          f"{s.describe()}", flush=True)

    t0 = time.time()
    pool = s.generate(prompts, n=args.n, seed=seeds, **kw)
    wall = time.time() - t0
    ntok = sum(c.n_tokens for o in pool for c in o)
    res = {"n_request": {"tokens": ntok, "wall_s": round(wall, 1), "tok_s": round(ntok / wall, 1),
                         "prompts": len(prompts)}}
    print(f"one request, n={args.n}:      {ntok} tokens in {wall:6.1f}s = {ntok / wall:6.1f} tok/s", flush=True)

    k = min(args.separate_prompts, len(prompts))
    t0, sep_tok, same = time.time(), 0, True
    for i in range(k):
        for j in range(args.n):
            c = s.generate([prompts[i]], n=1, seed=[seeds[i]], first=j, **kw)[0][0]
            sep_tok += c.n_tokens
            same &= c.token_ids == pool[i][j].token_ids
    sep_wall = time.time() - t0
    res["separate_requests"] = {"tokens": sep_tok, "wall_s": round(sep_wall, 1), "tok_s": round(sep_tok / sep_wall, 1),
                                "prompts": k, "same_tokens": same}
    print(f"{args.n} separate requests x {k} prompts: {sep_tok} tokens in {sep_wall:6.1f}s = "
          f"{sep_tok / sep_wall:6.1f} tok/s; same samples as the n={args.n} request: {same}", flush=True)

    samples = [{"id": f"{p['task_id']}/{j}", "task_id": p["task_id"], "sample_idx": j, "completion": c.text}
               for p, o in zip(problems, pool) for j, c in enumerate(o)]
    t0 = time.time()
    rows = evaluation.grade_samples(samples, {p["task_id"]: p for p in problems}, kind="code", bench="humaneval",
                                    workers=args.workers, progress=False)
    gwall = time.time() - t0
    res["grading"] = {"samples": len(rows), "wall_s": round(gwall, 2), "ms_per_sample": round(1000 * gwall / len(rows), 1),
                      "passed": sum(r["passed"] for r in rows)}
    print(f"grading: {len(rows)} samples in {gwall:.1f}s = {1000 * gwall / len(rows):.1f} ms per sample "
          f"({res['grading']['passed']} passed)")
    res["speedup"] = round(res["n_request"]["tok_s"] / res["separate_requests"]["tok_s"], 2)
    print(f"n={args.n} in one request: {res['speedup']}x the tokens/s of {args.n} separate requests (target >= 2x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return res


if __name__ == "__main__":
    main(build_parser().parse_args())

"""Sampling throughput: the HF backend against the naive loop (a benchmark that prints figures, not a test).

Workload (the foundation issue's): the embedded model, the first 32 HumanEval prompts, n=4 samples each,
up to 128 new tokens, temperature 0.8, EOS allowed to end a sample. The naive loop is what research code
usually does: one `model.generate(..., num_return_sequences=n)` per prompt. Tokens are counted up to and
including EOS in both, so padding the naive loop computes after a sample ended is not counted. Each
dtype gets its own naive loop, so the ratio (target >= 4x) compares like with like.

    python tests/perf/sampling_bench.py                       # fp32 and bf16, plus the naive loop
    python tests/perf/sampling_bench.py --naive-prompts 8     # time the naive loop on fewer prompts
    python tests/perf/sampling_bench.py --load 1              # the same while 1 busy process holds a core
    python tests/perf/sampling_bench.py --load 1 --omp-wait-policy ACTIVE --no-configure   # old default

The first line printed is the CPU's capability and thread settings (tinyforge.cpu). Thread settings
follow `cpu.configure_threads()` unless --no-configure / --threads / --omp-wait-policy say otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tinyforge import cpu
from tinyforge.io import read_jsonl

REPO = Path(__file__).resolve().parents[2]
# A pure-python spin with its own deadline: a stand-in for "another process holds a core" that cannot
# outlive the bench even if the bench is killed before it can stop it.
_SPIN = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--n-prompts", type=int, default=32)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--batch-size", type=int, nargs="+", default=[64, 128],
                   help="HF backend batch sizes (rows) to try")
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--naive-prompts", type=int, default=None,
                   help="prompts for the naive loop (default: all); its tokens/s is per-prompt steady")
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--skip-hf", action="store_true", help="time only the naive loop")
    p.add_argument("--load", type=int, default=0,
                   help="busy-loop processes to run during the measurement (speed under a shared CPU)")
    p.add_argument("--load-max-s", type=float, default=1800,
                   help="each busy process stops by itself after this many seconds")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: configured)")
    p.add_argument("--omp-wait-policy", default=None,
                   help="OMP_WAIT_POLICY for this run (PASSIVE, ACTIVE, or 'unset'); set before torch loads")
    p.add_argument("--no-configure", action="store_true",
                   help="skip tinyforge.cpu.configure_threads (torch and libgomp defaults)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p


def start_load(n: int, max_s: float) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", _SPIN.format(s=max_s)]) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def naive_loop(model, tok, prompts, n, max_new, temperature) -> tuple[int, float]:
    import torch

    eos = tok.eos_token_id
    tokens, t0 = 0, time.time()
    for p in prompts:
        ids = tok(p, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**ids, do_sample=True, temperature=temperature, top_p=1.0,
                                 num_return_sequences=n, max_new_tokens=max_new, pad_token_id=eos)
        for row in out[:, ids["input_ids"].shape[1]:].tolist():
            tokens += row.index(eos) + 1 if eos in row else len(row)
    return tokens, time.time() - t0


def _apply_thread_flags(args) -> None:
    # All of this happens before torch is imported: libgomp reads OMP_WAIT_POLICY when it loads.
    if args.omp_wait_policy:
        if args.omp_wait_policy.lower() == "unset":
            os.environ.pop("OMP_WAIT_POLICY", None)
        else:
            os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if not args.no_configure:
        cpu.configure_threads()


def main(args) -> dict:
    _apply_thread_flags(args)
    import torch

    from tinyforge.models import load_model, load_tokenizer
    from tinyforge.sampling import HFSampler

    if args.threads:
        torch.set_num_threads(args.threads)
    cap = cpu.cpu_capability()
    print(cpu.thread_line() if not args.no_configure else
          f"cpu: {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', 'unset')} (not configured), bf16 native: {cap['bf16_native']}")
    print(f"cpu capability: {json.dumps(cap)}; torch threads now {torch.get_num_threads()}")
    prompts = [r["prompt"] for r in read_jsonl(REPO / "data" / "benchmarks" / "humaneval.jsonl.gz")]
    prompts = prompts[:args.n_prompts]
    tok = load_tokenizer(args.model)
    print(f"{len(prompts)} prompts x n={args.n} x <= {args.max_new_tokens} new tokens, "
          f"{torch.get_num_threads()} threads, {args.load} busy processes", flush=True)
    res: dict = {"cpu": cap, "threads": torch.get_num_threads(),
                 "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load": args.load}
    load = start_load(args.load, args.load_max_s)
    try:
        for dt in args.dtypes:
            model = load_model(args.model, dtype=dt)
            if not args.skip_hf:
                for bs in args.batch_size:
                    s = HFSampler(args.model, model_obj=model, tokenizer=tok, batch_size=bs)
                    t0 = time.time()
                    outs = s.generate(prompts, n=args.n, temperature=args.temperature,
                                      max_new_tokens=args.max_new_tokens, seed=0)
                    wall = time.time() - t0
                    ntok = sum(c.n_tokens for o in outs for c in o)
                    res[f"hf_{dt}_bs{bs}"] = {"tokens": ntok, "wall_s": round(wall, 1),
                                              "tok_s": round(ntok / wall, 1),
                                              "s_per_prompt": round(wall / len(prompts), 2)}
                    print(f"hf backend  {dt:8s} batch {bs:4d}: {ntok} tokens in {wall:6.1f}s = "
                          f"{ntok / wall:6.1f} tok/s, {wall / len(prompts):.2f} s/prompt", flush=True)
            if not args.skip_naive:
                k = args.naive_prompts or len(prompts)
                torch.manual_seed(0)
                ntok, wall = naive_loop(model, tok, prompts[:k], args.n, args.max_new_tokens, args.temperature)
                res[f"naive_{dt}"] = {"tokens": ntok, "wall_s": round(wall, 1), "tok_s": round(ntok / wall, 1),
                                      "prompts": k, "s_per_prompt": round(wall / k, 2)}
                print(f"naive loop  {dt:8s} (generate per prompt, {k} prompts): {ntok} tokens in {wall:6.1f}s"
                      f" = {ntok / wall:6.1f} tok/s, {wall / k:.2f} s/prompt", flush=True)
            del model
    finally:
        stop_load(load)
    for key, v in res.items():
        naive = res.get(f"naive_{key.split('_')[1]}") if key.startswith("hf_") else None
        if naive:
            v["x_naive"] = round(v["tok_s"] / naive["tok_s"], 2)
            print(f"ratio {key}: {v['x_naive']}x the naive loop in the same dtype (target >= 4x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return res


if __name__ == "__main__":
    main(build_parser().parse_args())

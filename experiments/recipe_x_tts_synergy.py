"""Recipe x test-time sampling (REPRODUCE.md §3.5): four cells from one loaded base model, the adapter swapped
in and out: raw (pass@1 of the base), raw+TTS (its oracle best-of-n), trained (pass@1 with the adapter),
trained+TTS (its best-of-n). The synergy figure is (trained+TTS) - (raw+TTS), with a paired bootstrap
interval over tasks and one plain verdict sentence: does training still help once the base may sample n
times? (The guide: +12.8 pp at enough mined pairs; -4.9 pp on Qwen2.5-3B with 36 pairs.)

`--base-model` is `--model` spelled as the guide spells it here; `--n` is `--n-samples`.
pass@1 is the unbiased estimate from the same n samples at --temperature (not a separate greedy run), so
every cell comes from one pool per model. Pools that tts/ or evals/ drew with the same model, adapter
and settings (under runs/) are reused, not redrawn; a larger --n draws only the new samples.

metrics.json: `raw/<bench>/pass@1`, `raw/<bench>/oracle`, `trained/<bench>/pass@1`, `trained/<bench>/oracle`
(+ every pass@k, `_ci_low`, `_ci_high`), `synergy/<bench>` (+ `_ci_low`, `_ci_high`: paired over tasks),
`delta/trained-raw/<bench>/pass@1` and `.../oracle` (+ paired intervals), `n_tasks`.

Smoke (embedded model, CPU, ~5 min; the adapter is the one recipe/bootstrap.py's smoke trains):
    python experiments/recipe_x_tts_synergy.py --base-model smollm2-135m --adapter runs/bootstrap/smoke/adapter \\
        --format chat --n 2 --limit 4 --max-new-tokens 96
H100 (the guide's §3.5; the adapter from REPRODUCE.md §3.2):
    python experiments/recipe_x_tts_synergy.py --base-model Qwen/Qwen2.5-14B --adapter adapter_14b_multi --n 8
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "recipe_x_tts_synergy"
BENCHES = ["humaneval", "humaneval_plus"]
CELLS = (("raw", "pass@1"), ("raw+TTS", "oracle"), ("trained", "pass@1"), ("trained+TTS", "oracle"))


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_flags(p, "benchmark", "bench", "format",
                  bench={"default": ["humaneval"], "nargs": "+", "choices": BENCHES,
                         "help": "benchmark(s): humaneval, humaneval_plus or both (HumanEval+ then grades "
                                 "HumanEval's samples with its extra tests)"})
    cli.add_tts_args(p, n=8, temperature=0.7, max_new_tokens=512)
    p.set_defaults(model=None)
    return p


def synergy(results: list[dict], seed: int = 0) -> dict:
    """The four cells per benchmark and the paired changes, trained - raw, of pass@1 and of the oracle."""
    from tinyforge import comparisons
    from tinyforge.evaluation import public

    flat, per = {}, {}
    for r in results:
        flat.update({f"{r['label']}/{r['bench']}/{k}": v for k, v in public(r["metrics"]).items()})
        per[(r["label"], r["bench"])] = r["metrics"]["_per_task"]
    for bench in dict.fromkeys(r["bench"] for r in results):
        for col in ("pass@1", "oracle"):
            d = comparisons.paired_rows(per[("raw", bench)], per[("trained", bench)], col, seed=seed)
            key = f"delta/trained-raw/{bench}/{col}"
            flat.update({key: d["delta"], f"{key}_ci_low": d["ci_low"], f"{key}_ci_high": d["ci_high"],
                         f"delta/trained-raw/{bench}/n_tasks": d["n_tasks"]})
        key = f"delta/trained-raw/{bench}/oracle"
        flat.update({f"synergy/{bench}": flat[key], f"synergy/{bench}_ci_low": flat[key + "_ci_low"],
                     f"synergy/{bench}_ci_high": flat[key + "_ci_high"]})
    return flat


def cell_table(flat: dict, benches, n: int) -> str:
    lines = [f"{'bench':16s}" + "".join(f"{c:>13s}" for c, _ in CELLS) + f"{'synergy':>10s}",
             f"{'':16s}" + "".join(f"{(m if m == 'pass@1' else f'best-of-{n}'):>13s}" for _, m in CELLS)]
    for b in benches:
        vals = [flat[f"{c.split('+')[0]}/{b}/{m}"] for c, m in CELLS]
        lines.append(f"{b:16s}" + "".join(f"{100 * v:12.1f}%" for v in vals) + f"{100 * flat[f'synergy/{b}']:+9.1f}pp")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> dict:
    from tinyforge import comparisons
    from tinyforge.io import TinyforgeError, save_metrics

    if not args.model:
        raise TinyforgeError("--base-model is required (the model the adapter was trained on)")
    if not args.adapter:
        raise TinyforgeError("--adapter is required: the trained cells need the recipe's adapter dir")
    benches = list(dict.fromkeys(args.bench))
    got = cli.tts_pools(args, STAGE, benches, runs=[("raw", False), ("trained", args.adapter)],
                        notes={"cells": "raw | raw+TTS | trained | trained+TTS, one base load, adapter swapped"})
    if isinstance(got, dict) or not got[1]:
        return got if isinstance(got, dict) else {}
    path, results = got
    flat = synergy(results, args.seed)
    flat.update({"model": args.model, "adapter": args.adapter, "n": args.n_samples, "temperature": args.temperature})
    save_metrics(path, flat)
    print(cell_table(flat, benches, args.n_samples))
    print(f"metrics: {path / 'metrics.json'}")
    for b in benches:
        v = comparisons.verdict(flat, b, "raw", "trained", metric="oracle")
        print(f"synergy, (trained+TTS) - (raw+TTS), best-of-{args.n_samples}: {v}")
    return flat


if __name__ == "__main__":
    cli.run(main, build_parser)

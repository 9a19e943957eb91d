"""Self-consistency, the deployable test-time sampling (REPRODUCE.md §3.4): from one pool of n samples per
problem, maj@n (the majority answer, no oracle) against the oracle pass@n (any sample right) and pass@1,
with 95% intervals and paired intervals of the gaps over problems. Does voting recover what an oracle
would pick?

Votes group answers by the grader's equivalence, not by string ("\\frac12", "0.5" and "50\\%" are one
answer; GSM8K numbers by value); a tie between t top answers scores 1/t; an answer the grader cannot
read casts no vote. maj@k for every k < n is the vote of k samples drawn from the n (every subset where
they are few, seeded draws otherwise), never "the first k". GSM8K reports lm-eval's strict
(`#### N`) and flexible (last number) extractions beside the committed answer.

metrics.json: `pass@1`, `maj@<n>`, `oracle` (+ `_ci_low`, `_ci_high`), `delta/maj@<n>-pass@1`,
`delta/oracle-maj@<n>` (+ paired `_ci_low`, `_ci_high`), `maj_estimate`, GSM8K: `strict/...`,
`flexible/...`; per k: `pass@k`, `maj@k`.

Smoke (embedded model, CPU, a few minutes):
    python experiments/self_consistency.py --model smollm2-135m --bench gsm8k --format chat --n 4 --limit 8 \\
        --max-new-tokens 256
H100 (the guide's §3.4, Table 3):
    python experiments/self_consistency.py --model Qwen/Qwen3-4B-Base --bench gsm8k --n 8
"""

from __future__ import annotations

import argparse

from tinyforge import cli

STAGE = "self_consistency"
BENCHES = ["gsm8k", "gsm8k_platinum", "math500", "aime24", "aime25"]


def build_parser() -> argparse.ArgumentParser:
    p = cli.Parser(description=__doc__.split("\n\n")[0])
    cli.add_flags(p, "benchmark", "bench", "format", "shots",
                  bench={"default": "gsm8k", "choices": BENCHES})
    cli.add_tts_args(p, n=8, temperature=0.7, max_new_tokens=None)
    return p


def gaps(per_task: list[dict], n: int, seed: int = 0) -> dict:
    """maj@n - pass@1 and oracle - maj@n per task, with paired bootstrap intervals over tasks."""
    from tinyforge.metrics import bootstrap_ci

    out = {}
    for name, (a, b) in {f"maj@{n}-pass@1": (f"maj@{n}", "pass@1"),
                         f"oracle-maj@{n}": ("oracle", f"maj@{n}")}.items():
        d = [t[a] - t[b] for t in per_task]
        lo, hi = bootstrap_ci(d, seed=seed)
        out.update({f"delta/{name}": round(sum(d) / len(d), 6), f"delta/{name}_ci_low": round(lo, 6),
                    f"delta/{name}_ci_high": round(hi, 6)})
    return out


def main(args: argparse.Namespace) -> dict:
    from tinyforge import tts
    from tinyforge.evaluation import public
    from tinyforge.io import save_metrics

    got = cli.tts_pools(args, f"{STAGE}/{args.bench}", [args.bench])
    if isinstance(got, dict) or not got[1]:
        return got if isinstance(got, dict) else {}
    path, (res,) = got
    m, n = public(res["metrics"]), args.n_samples
    m.update(gaps(res["metrics"]["_per_task"], n, args.seed))
    save_metrics(res["dir"], m)
    print(tts.table(m, ks=args.k))
    for prefix in ("strict/", "flexible/"):
        if prefix + "pass@1" in m:
            print(f"{prefix[:-1]}: pass@1 {100 * m[prefix + 'pass@1']:.1f}%, maj@{n} {100 * m[prefix + f'maj@{n}']:.1f}%, "
                  f"oracle {100 * m[prefix + 'oracle']:.1f}%")

    def pct(key):
        return f"{100 * m[key]:.1f}% [{100 * m[key + '_ci_low']:.1f}, {100 * m[key + '_ci_high']:.1f}]"

    def pp(key):
        return f"{100 * m[key]:+.1f} pp [{100 * m[key + '_ci_low']:+.1f}, {100 * m[key + '_ci_high']:+.1f}]"

    print(f"figure: {res['dir'] / 'curve.png'}\nmetrics: {res['dir'] / 'metrics.json'}")
    print(f"self-consistency {args.bench} {args.model}, n={n}: maj@{n} {pct(f'maj@{n}')} vs pass@1 {pct('pass@1')} "
          f"({pp(f'delta/maj@{n}-pass@1')}) vs oracle pass@{n} {pct('oracle')} (oracle - maj {pp(f'delta/oracle-maj@{n}')})")
    return m


if __name__ == "__main__":
    cli.run(main, build_parser)

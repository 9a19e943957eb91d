"""Auto-difficulty curricula (reproduction guide §2.3): round after round the model solves problems made
at a difficulty level, the verified solutions are trained on, and the level moves to hold the round's
solve rate inside a band. recipe/curriculum_math.py, recipe/curriculum_code.py and recipe/math_bootstrap.py
(the vanilla baseline: the same loop with the level fixed) are thin scripts over `run`.

Round r (1-based) lives in <run dir>/rounds/r<r:02d>/, each file skipped when complete, resumed when partial:
    problems.jsonl  the round's problems, ids `r03/L2/0007` (round, level, index): math
                    `task_id, problem, answer` (+ question, solution, level, source, meta), code
                    `task_id, prompt, entry_point, test` (+ canonical_solution, level, source, meta)
    attempts.jsonl  --n-attempts samples per problem by the model with the latest adapter (the base
                    model until a round has found a pair)
    verified.jsonl  one graded row per attempt (tinyforge.tasks): math by the GSM8K grader against the problem's
                    answer (tinyforge.grading), code by its tests in the sandbox (tasks.CodeTasks.verify)
    pairs.jsonl     up to --max-pairs-per-problem distinct verified solutions per problem, the model's
                    own text, in the DESIGN.md pair contract (meta.format says how to render them)
    adapter/        a LoRA trained from the base on the pairs of rounds 1..r; absent when round r
                    found no pair (the previous adapter stays in use)
    round.json      the round's summary; its presence marks the round done
and curriculum.png (level and solve rate per round) is redrawn after every round.

Solve rate = the share of the round's problems with at least one verified attempt. A problem without
one yields no pair, so the rate is the round's yield: above --band-high the problems teach little new
(level + 1), below --band-low too few pairs come out (level - 1). The per-attempt pass rate is logged
beside it as `verified_share`.

Problem sources (levels, generators, data sets): tinyforge.problems. How each kind is prompted,
verified and paired: tinyforge.tasks.

    settings = curriculum.CurriculumSettings(kind="math", iterations=4, problems_per_round=16)
    metrics = curriculum.run(settings, "curriculum_math", run_dir, sampler_settings, sft_settings, eval_specs)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from tinyforge import comparisons
from tinyforge.io import SettingsError, TinyforgeError, read_json, read_jsonl, save_metrics, write_json, write_jsonl
from tinyforge.pairs import load_pairs
from tinyforge.problems import CODE_SOURCES, MATH_SOURCES, ProblemSource, problem_source

# ---------------------------------------------------------------------------------------------------
# The band controller

def check_band(low: float, high: float) -> None:
    for name, v in (("band_low", low), ("band_high", high)):
        if not 0.0 <= v <= 1.0:
            raise SettingsError(name, f"{v}: solve rates are shares, expected a value in [0, 1]")
    if low > high:
        raise SettingsError("band_low", f"{low} is above the band's high end {high}: the band is the "
                                        f"solve-rate range [low, high] the level is held in")


def next_level(level: int, solve_rate: float, low: float, high: float, max_level: int,
               min_level: int = 1) -> int:
    """One step of the controller: up when the solve rate is above the band, down when below, else
    stay; always within [min_level, max_level]."""
    if solve_rate > high:
        level += 1
    elif solve_rate < low:
        level -= 1
    return max(min_level, min(max_level, level))



# ---------------------------------------------------------------------------------------------------
# Settings

@dataclass
class CurriculumSettings:
    """A curriculum (adaptive) or a fixed-level bootstrap (math_bootstrap: adaptive False, GSM8K
    train items, no levels). Field names are the flags' dests."""

    kind: str = "math"                     # math or code
    adaptive: bool = True
    model: str = "smollm2-135m"            # recorded in pairs and titles
    problem_source: str = "synthetic"
    iterations: int = 16
    start_level: int = 1
    band_low: float = 0.3
    band_high: float = 0.7
    problems_per_round: int | None = 64    # adaptive runs
    n_problems: int | None = None          # the fixed-level run's questions per round
    limit: int | None = None
    format: str = "raw"
    shots: int | None = None
    n_attempts: int = 4
    max_pairs_per_problem: int = 1
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 512
    workers: int | None = None
    timeout: float | None = 10.0
    seed: int = 0
    eval_mbpp: bool = False

    def per_round(self) -> int:
        n = (self.problems_per_round if self.adaptive else self.n_problems) or 0
        return n if self.limit is None else min(n, self.limit)

    def source_name(self) -> str:
        return self.problem_source if self.adaptive else "gsm8k_train"

    def attempts(self):
        from tinyforge.tasks import AttemptSettings
        return AttemptSettings(**{f: getattr(self, f) for f in AttemptSettings.__dataclass_fields__})

    def task(self):
        from tinyforge.tasks import task_for
        return task_for(self.kind, self.attempts(), **({"eval_mbpp": self.eval_mbpp} if self.kind == "code" else {}))

    def check(self) -> None:
        if self.kind not in ("math", "code"):
            raise SettingsError("kind", f"{self.kind!r}: expected math or code")
        known = MATH_SOURCES if self.kind == "math" else CODE_SOURCES
        if self.adaptive and self.problem_source not in known:
            raise SettingsError("problem_source", f"{self.problem_source!r}: expected one of {', '.join(known)}")
        if self.iterations < 1:
            raise SettingsError("iterations", f"must be >= 1, got {self.iterations}")
        if self.limit is not None and self.limit < 1:
            raise SettingsError("limit", f"must be >= 1, got {self.limit}")
        if self.per_round() < 1:
            raise SettingsError("problems_per_round" if self.adaptive else "n_problems",
                                f"must be >= 1, got {self.per_round()}")
        if self.adaptive:
            check_band(self.band_low, self.band_high)
            if self.start_level < 1:
                raise SettingsError("start_level", f"must be >= 1, got {self.start_level}")
        self.attempts().check()


# ---------------------------------------------------------------------------------------------------
# The round loop

def _summary_metrics(summaries: Sequence[dict]) -> dict:
    out: dict[str, Any] = {}
    for s in summaries:
        r = s["round"]
        for k in ("level", "next_level", "problems", "attempts", "solved", "solve_rate", "verified_attempts",
                  "verified_share", "pairs", "pairs_total", "mean_steps", "adapter", "trained"):
            out[f"round/{r}/{k}"] = s.get(k)
        for k in ("train/final_loss", "train/mean_loss", "train/steps", "train/pairs", "train/wall_s"):
            if k in s.get("train", {}):
                out[f"round/{r}/{k}"] = s["train"][k]
    out["curve/level"] = [s["level"] for s in summaries]
    out["curve/solve_rate"] = [s["solve_rate"] for s in summaries]
    out["curve/verified_share"] = [s["verified_share"] for s in summaries]
    out["curve/pairs_total"] = [s["pairs_total"] for s in summaries]
    return out


def plot_rounds(path: Path, summaries: Sequence[dict], band: tuple[float, float] | None, title: str) -> None:
    """Two panels over the rounds: the difficulty (level, and the mean steps of the problems) and the
    solve rate (with the band) beside the per-attempt verified share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rounds = [s["round"] for s in summaries]
    fig, (top, bot) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5))
    if any(s["level"] is not None for s in summaries):
        top.step(rounds, [s["level"] for s in summaries], where="mid", marker="o", label="level")
    top.plot(rounds, [s["mean_steps"] for s in summaries], ls=":", marker=".", label="mean steps of problems")
    top.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    bot.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    levels = [x for s in summaries for x in (s["level"], s["mean_steps"]) if x is not None]
    if levels:
        top.set_ylim(min(levels) - 0.5, max(levels) + 0.5)
    top.set_ylabel("difficulty")
    top.legend(loc="upper left", fontsize=8)
    if band:
        bot.axhspan(band[0], band[1], color="tab:green", alpha=0.12, label="target band")
    bot.plot(rounds, [s["solve_rate"] for s in summaries], marker="o", label="solve rate (>=1 verified)")
    bot.plot(rounds, [s["verified_share"] for s in summaries], ls="--", marker=".", label="verified attempts")
    bot.set_ylim(-0.03, 1.03)
    bot.set_xlabel("round")
    bot.set_ylabel("share")
    bot.legend(loc="lower left", fontsize=8)
    top.set_title(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def run_rounds(settings: CurriculumSettings, run_dir: Path, task, source: ProblemSource, metrics: dict, *,
               stage: str, samplers, sft) -> tuple[str | None, list[dict], list[dict]]:
    """Rounds 1..iterations (finished rounds are read back, not redone). `samplers(adapters)` gives a
    sampler factory for the model with those adapters (sampling.sampler_factories); `sft` the training
    settings. Returns the latest adapter (None when no round found a pair), all pairs, and the round
    summaries."""
    from tinyforge.training import train_adapter

    adaptive = settings.adaptive
    n = settings.per_round()
    level = settings.start_level if adaptive else None
    if adaptive and not 1 <= level <= source.max_level:
        raise SettingsError("start_level", f"{level}: the {source.name} source has levels 1-{source.max_level}")
    band = (settings.band_low, settings.band_high) if adaptive else None
    adapter: str | None = None  # relative to run_dir
    all_pairs: list[dict] = []
    used: set[str] = set()
    summaries: list[dict] = []
    for r in range(1, settings.iterations + 1):
        rdir = run_dir / "rounds" / f"r{r:02d}"
        done = rdir / "round.json"
        if done.exists():
            s = read_json(done)
            used |= {p["meta"]["key"] for p in read_jsonl(rdir / "problems.jsonl")}
            all_pairs += load_pairs(rdir / "pairs.jsonl")
            adapter, level = s["adapter"], s["next_level"]
            summaries.append(s)
            print(f"round {r}: done (level {s['level']}, solve rate {s['solve_rate']:.2f}, {s['pairs']} pairs)")
            continue
        t0 = time.time()
        rdir.mkdir(parents=True, exist_ok=True)
        ppath = rdir / "problems.jsonl"
        if ppath.exists():
            problems = read_jsonl(ppath)
        else:
            problems = source.draw(level, n, r, used)
            write_jsonl(ppath, problems)
        if not problems:
            raise TinyforgeError(f"round {r}: the {source.name} source gave no problems at level {level}")
        used |= {p["meta"]["key"] for p in problems}
        sampler = samplers([str(run_dir / adapter)] if adapter else None)
        attempts, _ = task.attempts(rdir / "attempts.jsonl", problems, sampler)
        rows, _ = task.verify(rdir / "verified.jsonl", problems, attempts)
        sampler.release()  # the trainer needs the memory
        pair_path = rdir / "pairs.jsonl"
        if pair_path.exists():
            pairs = load_pairs(pair_path)
        else:
            pairs = task.pairs(problems, rows, f"{stage}/{source.name}",
                               {"model": settings.model, "problem_source": source.name, "round": r, "level": level})
            write_jsonl(pair_path, pairs)
        all_pairs += pairs
        solved = {x["task_id"] for x in rows if x["passed"]}
        rate = len(solved) / len(problems)
        train: dict = {}
        if pairs:  # a round without pairs keeps the previous adapter: nothing new to learn from
            train = train_adapter(all_pairs, sft, rdir / "adapter", stage=stage, config=_config(settings))
            adapter = str((rdir / "adapter").relative_to(run_dir))
        nxt = next_level(level, rate, settings.band_low, settings.band_high, source.max_level) if adaptive else None
        steps = [p.get("meta", {}).get("steps") for p in problems]
        steps = [x for x in steps if x is not None]
        s = {"round": r, "level": level, "next_level": nxt, "problems": len(problems), "attempts": len(rows),
             "solved": len(solved), "solve_rate": round(rate, 4),
             "verified_attempts": sum(x["passed"] for x in rows),
             "verified_share": round(sum(x["passed"] for x in rows) / len(rows), 4) if rows else 0.0,
             "pairs": len(pairs), "pairs_total": len(all_pairs),
             "mean_steps": round(sum(steps) / len(steps), 3) if steps else None,
             "adapter": adapter, "trained": bool(pairs), "train": train, "time_s": round(time.time() - t0, 2)}
        write_json(done, s)
        summaries.append(s)
        for k in [k for k in metrics if k.startswith(("round/", "curve/"))]:
            del metrics[k]
        metrics.update(_summary_metrics(summaries))
        metrics.update({"rounds": len(summaries), "mined_pairs": len(all_pairs)})
        save_metrics(run_dir, metrics)
        plot_rounds(run_dir / "curriculum.png", summaries, band, f"{stage} {settings.model}")
        print(f"round {r}: level {level}, {len(solved)}/{len(problems)} solved (rate {rate:.2f}), "
              f"{s['verified_attempts']}/{len(rows)} attempts verified, {len(pairs)} new pairs "
              f"({len(all_pairs)} in all)" + (f", next level {nxt}" if adaptive else "")
              + ("" if pairs else ", no adapter trained"), flush=True)
        level = nxt
    for k in [k for k in metrics if k.startswith(("round/", "curve/"))]:
        del metrics[k]
    metrics.update(_summary_metrics(summaries))
    metrics.update({"rounds": len(summaries), "mined_pairs": len(all_pairs)})
    if summaries and not (run_dir / "curriculum.png").exists():
        plot_rounds(run_dir / "curriculum.png", summaries, band, f"{stage} {settings.model}")
    return adapter, all_pairs, summaries


def no_pairs_error(run_dir: Path, summaries: Sequence[dict]) -> TinyforgeError:
    levels = ", ".join(str(s["level"]) for s in summaries)
    return TinyforgeError(
        f"no verified pairs in {len(summaries)} round(s) (levels {levels}; "
        f"{sum(s['verified_attempts'] for s in summaries)} of {sum(s['attempts'] for s in summaries)} attempts "
        f"passed): nothing was trained, so there is nothing to evaluate. Try more --n-attempts, --format chat "
        f"for an instruct model, or a larger --max-new-tokens (round files: {run_dir / 'rounds'})")


def _config(settings: CurriculumSettings) -> dict:
    from dataclasses import asdict
    return {"args": asdict(settings)}


def headline(stage: str, model: str, m: dict, benches: Sequence[str]) -> str:
    levels = m.get("curve/level") or []
    line = (f"{stage} {model}: {m.get('rounds', 0)} rounds, {m.get('mined_pairs', 0)} pairs"
            + (f", level {' '.join(str(x) for x in levels)}" if any(x is not None for x in levels) else ""))
    for b in benches[:1]:
        before, after = m.get(f"before/{b}/n_passed"), m.get(f"after/{b}/n_passed")
        n = m.get(f"before/{b}/n_tasks")
        if before is not None and after is not None and n and m.get(f"before/{b}/n_samples") == n:
            line += f"; {b} {before}/{n} -> {after}/{n}"
        verdict = comparisons.verdict(m, b)
        if verdict:
            line += f"\n{verdict}"
    return line


def eval_specs(task, make) -> list:
    """The before / after benchmarks of a curriculum: `make(bench, default_limit)` -> EvalSettings."""
    return [make(b, task.eval_limit) for b in task.eval_benches]


def run(settings: CurriculumSettings, stage: str, run_dir: Path | str, samplers, sft, evals: Sequence | None,
        metrics: dict | None = None) -> dict:
    """The whole stage: rounds, then the base and the final adapter on `evals` (EvalSettings; None:
    no evaluation), metrics. `samplers(adapters)` -> a sampler factory (sampling.sampler_factories)."""
    from tinyforge.evaluation import evaluate_runs

    run_dir = Path(run_dir)
    settings.check()
    task = settings.task()
    source = problem_source(settings.kind, settings.source_name(), settings.seed)
    metrics = dict(metrics or {})
    metrics.update({"model": settings.model, "format": settings.format, "problem_source": source.name,
                    "max_level": source.max_level if settings.adaptive else None})
    t0 = time.time()
    adapter, pairs, summaries = run_rounds(settings, run_dir, task, source, metrics, stage=stage,
                                           samplers=samplers, sft=sft)
    save_metrics(run_dir, metrics)
    if not pairs:
        raise no_pairs_error(run_dir, summaries)
    final = str(run_dir / adapter)
    metrics["final_adapter"] = final
    benches = [e.bench for e in evals or ()]
    if evals:
        comparisons.forget_stale(run_dir / "eval" / "after", final)
        factory = samplers([final])
        flat = evaluate_runs(evals, factory, run_dir / "eval", [("before", False), ("after", final)])
        factory.release()
        flat.update(comparisons.deltas(flat, root=run_dir / "eval"))
        metrics.update(flat)
        print(comparisons.table(flat, ["before", "after"], benches))
    metrics["time/total_s"] = round(time.time() - t0, 2)
    save_metrics(run_dir, metrics)
    print(f"run dir: {run_dir}  (plot: {run_dir / 'curriculum.png'})")
    print(headline(stage, settings.model, metrics, benches))
    return metrics

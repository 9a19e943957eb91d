"""Task kinds: how a problem of a kind is prompted, stopped, verified, turned into a pair, and evaluated.

    task = tasks.CodeTasks(tasks.AttemptSettings(format="chat", n_attempts=4))
    attempts, _ = task.attempts(run_dir / "attempts.jsonl", problems, sampler_factory)
    rows, _ = task.verify(run_dir / "verified.jsonl", problems, attempts)    # graded rows
    pairs = task.pairs(problems, rows, source="bootstrap/mbpp_train")

Code problems (`task_id, prompt, entry_point, test`) are prompted as HumanEval is (raw: the stub; chat:
tinyforge.benchmarks' HumanEval turn), an attempt is cleaned to the entry point and what it uses
(mining.clean_completion) and run against the problem's tests in the sandbox, and two solutions are one
when their ASTs agree (mining.normalized_solution). Math problems (`task_id, problem, answer`) are
prompted as GSM8K is (raw: 8-shot "Question: / Answer: ... #### N"; chat: reason and box the answer),
graded by the GSM8K grader (the committed answer; a raw pair also needs its first `#### N` right), the
pair is the completion up to that answer line, and two solutions are one when they differ only in case or
whitespace. Each is prompted exactly as its evaluation
benchmark is, so the model trains in the format it is tested in.

A verification row is a graded sample (DESIGN.md): the attempt's fields plus `passed, status, detail`;
for code `completion` is the cleaned text that ran and `raw_completion` what the model wrote.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tinyforge.io import SettingsError
from tinyforge.pairs import FORMATS


@dataclass
class AttemptSettings:
    """How attempts are sampled and verified (sampled, not greedy: distinct solutions are the point)."""

    format: str = "raw"
    shots: int | None = None               # math, raw format: GSM8K exemplars (None: the benchmark's 8)
    n_attempts: int = 8
    max_pairs_per_problem: int = 1
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 512
    seed: int = 0
    workers: int | None = None             # sandbox processes (None: one per core)
    timeout: float | None = 10.0           # sandbox seconds per attempt

    def check(self) -> None:
        from tinyforge.sampling import check_decoding

        if self.format not in FORMATS:
            raise SettingsError("format", f"{self.format!r}: expected one of {', '.join(FORMATS)}")
        if self.max_pairs_per_problem < 1:
            raise SettingsError("max_pairs_per_problem", f"must be >= 1, got {self.max_pairs_per_problem}")
        if self.timeout is not None and not self.timeout > 0:
            raise SettingsError("timeout", f"must be > 0, got {self.timeout}")
        check_decoding(self.n_attempts, self.temperature, self.top_p, self.max_new_tokens,
                       names=("n_attempts", "temperature", "top_p", "max_new_tokens"))


class _Task:
    kind = "?"
    grader = "?"
    bench = "?"            # the benchmark whose prompt format and stops the attempts use
    eval_benches: tuple[str, ...] = ()
    eval_limit: int | None = None

    def __init__(self, settings: AttemptSettings | None = None):
        self.s = settings or AttemptSettings()
        self.fmt = self.s.format

    # prompts
    def prompt(self, problem: dict):
        from tinyforge.benchmarks import build_prompt
        return build_prompt(problem, self.bench, self.fmt, self.s.shots if self.fmt == "raw" else None)

    def stop(self) -> list[str]:
        from tinyforge.benchmarks import default_stop
        return default_stop(self.bench, self.fmt)

    def pair_prompt(self, problem: dict) -> str:
        """The pair's prompt as tinyforge.training takes it: raw text, or the user turn's text (training
        renders it with the chat template, as sampling does)."""
        p = self.prompt(problem)
        return p if isinstance(p, str) else p[-1]["content"]

    # stages
    def attempts(self, path: Path, problems: Sequence[dict], get_sampler, lora=None,
                 progress: bool = False) -> tuple[list[dict], dict]:
        """`n_attempts` samples per problem into `path` (resumable)."""
        from tinyforge.sampling import sample_to_jsonl

        t0 = time.time()
        items = [{"task_id": p["task_id"], "prompt": self.prompt(p)} for p in problems]
        res = sample_to_jsonl(Path(path), items, get_sampler, n=self.s.n_attempts, temperature=self.s.temperature,
                              top_p=self.s.top_p, max_new_tokens=self.s.max_new_tokens, stop=self.stop(),
                              seed=self.s.seed, lora=lora, progress=progress)
        stats = {"attempts": len(res["records"])}
        if res["new"]:
            stats.update({"time/attempts_s": round(time.time() - t0, 2), "attempt_tokens": res["new_tokens"]})
        return res["records"], stats

    def to_grade(self, problem: dict, attempt: dict) -> dict:
        return attempt

    def verify(self, path: Path, problems: Sequence[dict], attempts: Sequence[dict],
               chunk: int = 256) -> tuple[list[dict], dict]:
        """One graded row per attempt into `path` (resumable, appended a chunk at a time)."""
        from tinyforge.evaluation import grade_to_jsonl

        t0 = time.time()
        by_id = {p["task_id"]: p for p in problems}
        fresh = []

        def prepare(attempt):
            fresh.append(attempt["id"])
            return self.to_grade(by_id[attempt["task_id"]], attempt)

        # math problems carry their own `answer` (no benchmark record to read it from)
        rows = grade_to_jsonl(Path(path), attempts, by_id, chunk=chunk, prepare=prepare,
                              kind=self.grader, bench=self.bench if self.kind == "code" else None,
                              fmt=self.fmt, workers=self.s.workers, timeout=self.s.timeout,
                              progress=False)
        solved = {r["task_id"] for r in rows if r["passed"]}
        stats = {"verified_attempts": sum(r["passed"] for r in rows), "problems_solved": len(solved),
                 "verified_share": round(sum(r["passed"] for r in rows) / len(rows), 4) if rows else 0.0}
        if fresh:
            stats["time/verify_s"] = round(time.time() - t0, 2)
        return rows, stats

    # pairs
    layout = ""

    def pair_completion(self, problem: dict, row: dict) -> str | None:
        raise NotImplementedError

    def dedup_key(self, problem: dict, text: str) -> str:
        raise NotImplementedError

    def pair_meta(self, problem: dict) -> dict:
        return {}

    def pairs(self, problems: Sequence[dict], rows: Sequence[dict], source: str,
              meta: dict | None = None) -> list[dict]:
        from tinyforge.pairs import mine_pairs
        return mine_pairs(problems, rows, self, source=source, max_per_problem=self.s.max_pairs_per_problem,
                          meta=meta)


class CodeTasks(_Task):
    kind, grader, bench = "code", "code", "humaneval"
    eval_benches = ("humaneval", "humaneval_plus")

    def __init__(self, settings: AttemptSettings | None = None, *, eval_mbpp: bool = False):
        super().__init__(settings)
        if eval_mbpp:
            self.eval_benches = self.eval_benches + ("mbpp",)

    @property
    def layout(self) -> str:
        return ("raw completion: prompt is the stub, completion continues it (the body)" if self.fmt == "raw"
                else "chat: prompt is the user turn, completion the assistant reply (one ```python block); "
                     "render both with the chat template")

    def to_grade(self, problem, attempt):
        from tinyforge.mining import clean_completion
        return {**attempt, "completion": clean_completion(problem, attempt["completion"], self.fmt),
                "raw_completion": attempt["completion"]}

    def pair_completion(self, problem, row):
        return row["completion"]

    def dedup_key(self, problem, text):
        from tinyforge.mining import normalized_solution
        return normalized_solution(problem, text, self.fmt)

    def pair_meta(self, problem):
        return {"entry_point": problem["entry_point"]}


class MathTasks(_Task):
    kind, grader, bench = "math", "gsm8k", "gsm8k"
    eval_benches = ("gsm8k",)
    eval_limit = 100   # the guide's GSM8K figures are x/100

    @property
    def layout(self) -> str:
        return ("raw completion: prompt is the few-shot text ending 'Answer:', completion continues it"
                if self.fmt == "raw" else
                "chat: prompt is the user turn, completion the assistant reply; render both with the chat template")

    def pair_completion(self, problem, row):
        # A completion cut by the token limit is left out: trained on, it would teach the model not to stop.
        if row.get("finish_reason") == "length":
            return None
        # Raw pairs teach the few-shot format, which ends on "#### N": the grader's verdict is on the
        # answer a completion commits to (its last marker, else its last number), so a raw pair also
        # needs its first "#### N" right (lm-eval's strict reading), the line it is cut after.
        if self.fmt == "raw" and not row.get("strict_passed", True):
            return None
        text = answer_line_end(row["completion"]) if self.fmt == "raw" else row["completion"].strip()
        return text or None

    def dedup_key(self, problem, text):
        return " ".join(text.lower().split())

    def pair_meta(self, problem):
        return {"answer": problem["answer"], "level": problem.get("level")}


def answer_line_end(text: str) -> str:
    """A raw completion cut after its `#### N` line: what runs on after the answer is not the answer."""
    at = text.find("####")
    if at < 0:
        return text.rstrip()
    nl = text.find("\n", at)
    return (text if nl < 0 else text[:nl]).rstrip()


def task_for(kind: str, settings: AttemptSettings | None = None, **kw) -> _Task:
    if kind == "code":
        return CodeTasks(settings, **kw)
    if kind == "math":
        return MathTasks(settings)
    raise SettingsError("kind", f"{kind!r}: expected code or math")

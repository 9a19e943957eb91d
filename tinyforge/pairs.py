"""Training records on disk: SFT pairs and DPO preferences (DESIGN.md "Contracts on disk").

    pair        id, prompt, completion, source (+ task_id, meta: format, attempt id, ...)
    preference  id, prompt, chosen, rejected, pair_type (+ task_id, meta: scores, arms)

`load_pairs` is the one reader (mined pairs, a shipped file, a file made elsewhere): the prompt and
completion must be non-empty strings (a `DataError` names file:line), and a record that lacks `id` or
`source` gets them from its file and line, so every loaded pair has the whole contract. `mine_pairs`
turns verification rows into pairs for any task kind (tinyforge.tasks): up to k distinct verified
solutions per problem, in sample order, "distinct" being the task's own dedup key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from tinyforge.io import DataError, SettingsError, read_jsonl

PAIR_FIELDS = ("id", "prompt", "completion", "source")
FORMATS = ("raw", "chat")  # the prompt formats a pair is trained in (and its model is evaluated in)
PREFERENCE_FIELDS = ("id", "prompt", "chosen", "rejected", "pair_type")
_TEXT = ("prompt", "completion")


def record_line(path: Path, index: int) -> int:
    """1-based line of the `index`-th record (read_jsonl skips blank lines, so count the others)."""
    import gzip

    data = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    seen = -1
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip():
            seen += 1
            if seen == index:
                return lineno
    return 0


def _check_text(path: Path, records: Sequence[dict], fields: Sequence[str]) -> None:
    for i, r in enumerate(records):
        for k in fields:
            if not isinstance(r.get(k), str) or not r[k].strip():
                raise DataError(f"{path}:{record_line(path, i)}: field {k!r}: expected a non-empty string, "
                                f"got {json.dumps(r.get(k))[:60]}")


def load_pairs(path: str | Path, limit: int | None = None, fmt: str | None = None) -> list[dict]:
    """The pairs of a JSONL file, first `limit`; with `fmt`, pairs whose `meta.format` says otherwise
    are refused (see `check_format`)."""
    path = Path(path)
    records = read_jsonl(path, required=_TEXT)
    if limit is not None:
        if limit < 0:
            raise SettingsError("limit", f"must be >= 0, got {limit}")
        records = records[:limit]
    _check_text(path, records, _TEXT)
    for i, r in enumerate(records):
        r.setdefault("id", f"{path.name}:{record_line(path, i)}")
        r.setdefault("source", f"file:{path.name}")
    if fmt is not None:
        check_format(records, fmt, path)
    return records


def check_format(pairs: Sequence[dict], fmt: str, path: str | Path) -> None:
    """Pairs mined by tinyforge record their prompt format in `meta.format`; training chat pairs as raw
    text (or the reverse) teaches the model a prompt it will never see, so a mismatch is an error.
    Pairs without the field (made elsewhere) are taken as they are."""
    for i, p in enumerate(pairs):
        meta = p.get("meta")
        got = meta.get("format") if isinstance(meta, dict) else None
        if got is not None and got != fmt:
            raise DataError(f"{path}:{record_line(Path(path), i)}: a {got}-format pair, but this run "
                            f"trains --format {fmt}: pass --format {got}, or pairs mined in {fmt} format")


def verified_by_problem(problems: Sequence[dict], rows: Sequence[dict], max_per_problem: int = 1):
    """(problem, its verification rows, its passed rows in sample order) for each problem."""
    if max_per_problem < 1:
        raise SettingsError("max_pairs_per_problem", f"must be >= 1, got {max_per_problem}")
    by_task: dict[str, list[dict]] = {}
    for r in rows:
        by_task.setdefault(r["task_id"], []).append(r)
    for p in problems:
        mine = by_task.get(p["task_id"], [])
        yield p, mine, sorted((r for r in mine if r["passed"]), key=lambda r: (r.get("sample_idx", 0), r["id"]))


def mine_pairs(problems: Sequence[dict], rows: Sequence[dict], task, *, source: str, max_per_problem: int = 1,
               meta: dict | None = None) -> list[dict]:
    """Up to `max_per_problem` distinct verified solutions per problem, in sample order. `task`
    (tinyforge.tasks) says what a row's pair text is (`pair_completion`, None to leave a row out) and
    which texts are the same solution (`dedup_key`); `rows` are graded rows (`id, task_id, passed,
    completion` + `sample_idx`)."""
    pairs = []
    for p, mine, passed in verified_by_problem(problems, rows, max_per_problem):
        seen: set[str] = set()
        chosen = []
        for r in passed:
            text = task.pair_completion(p, r)
            if text is None:
                continue
            key = task.dedup_key(p, text)
            if key in seen:
                continue
            seen.add(key)
            if len(chosen) < max_per_problem:
                chosen.append((r, text, key))
        for k, (r, text, key) in enumerate(chosen):
            pairs.append({
                "id": f"{p['task_id']}/pair{k}", "task_id": p["task_id"], "prompt": task.pair_prompt(p),
                "completion": text, "source": source,
                "meta": {"format": task.fmt, "layout": task.layout, "attempt_id": r["id"],
                         "sample_idx": r.get("sample_idx"), "verified": True, **task.pair_meta(p),
                         "n_attempts": len(mine), "n_verified": len(passed), "n_distinct": len(seen),
                         **({"solution_key": key[:16]} if task.kind == "code" else {}), **(meta or {})}})
    return pairs


def preference(id: str, prompt: str, chosen: str, rejected: str, pair_type: str, *, task_id: str | None = None,
               meta: dict | None = None) -> dict:
    """One DPO preference record; chosen and rejected must differ (an equal pair carries no signal)."""
    if chosen == rejected:
        raise DataError(f"preference {id!r}: chosen and rejected are the same text")
    rec = {"id": id, "prompt": prompt, "chosen": chosen, "rejected": rejected, "pair_type": pair_type}
    if task_id is not None:
        rec["task_id"] = task_id
    if meta:
        rec["meta"] = meta
    return rec


def load_preferences(path: str | Path, limit: int | None = None) -> list[dict]:
    """Preference records (every field of PREFERENCE_FIELDS; texts non-empty); DataError file:line."""
    path = Path(path)
    records = read_jsonl(path, required=PREFERENCE_FIELDS)[:limit]
    _check_text(path, records, ("prompt", "chosen", "rejected"))
    for i, r in enumerate(records):
        if r["chosen"] == r["rejected"]:
            raise DataError(f"{path}:{record_line(path, i)}: chosen and rejected are the same text")
    return records

"""Files on disk: strict JSONL, crash-safe appends, run directories.

Every stage exchanges JSONL files, and long stages are killed (OOM, pre-emption, ^C, `kill -9`) and
started again with the same `--out-dir`. Three rules follow:

* Reading is strict. A malformed record is the user's data problem and is reported as
  `file:line: what was expected` (a `DataError`, which the CLIs print as one line and exit 2).
* Appending is crash-safe. Each record is one `write()` of a whole line, flushed (and fsynced on
  request), so a kill can leave at most one torn *last* line. `JsonlWriter` detects that torn line on
  open, truncates it away (it was never a finished record) and reports it; a torn line anywhere but at
  the end is corruption, not a crash, and is an error.
* Run directories carry `config.json` (resolved arguments, git commit, package versions) and
  `metrics.json` (flat keys), both written atomically (temp file + rename).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence


class TinyforgeError(Exception):
    """An error the user can fix (bad input, missing file, wrong flag): CLIs print it and exit 2."""


class DataError(TinyforgeError):
    """Malformed input data; the message starts with `file:line:`."""


class SettingsError(TinyforgeError):
    """A setting that cannot work, named by its settings field. Library code raises it with the field's
    name (a researcher calling from Python set that field); tinyforge.cli rewrites it to name the flag
    the user typed, since cli.py is where flags became settings."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


def _loc(path: Path | str, lineno: int | None) -> str:
    return f"{path}:{lineno}" if lineno is not None else f"{path}"


def iter_jsonl(path: Path | str, required: Sequence[str] = (), *, allow_torn_tail: bool = False
               ) -> Iterator[dict]:
    """Yield the records of a JSONL file, checking each is an object with the `required` fields.

    Blank lines are skipped. With `allow_torn_tail`, an unterminated last line that does not parse is
    dropped silently (it is the trace of a killed writer, see `JsonlWriter`); otherwise it is an error.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".gz":
        import gzip
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    else:
        with path.open("rb") as fh:
            data = fh.read()
    lines = data.split(b"\n")
    # `split` leaves a final element: empty when the file ends with a newline, else the torn tail.
    tail_unterminated = bool(lines) and lines[-1] != b""
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        is_tail = i == len(lines) and tail_unterminated
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if is_tail and allow_torn_tail:
                return
            what = "an unterminated last line (torn write?)" if is_tail else "a JSON object"
            raise DataError(f"{_loc(path, i)}: expected {what}: {exc.msg if hasattr(exc, 'msg') else exc}") from None
        if not isinstance(rec, dict):
            raise DataError(f"{_loc(path, i)}: expected a JSON object, got {type(rec).__name__}")
        missing = [k for k in required if k not in rec]
        if missing:
            raise DataError(f"{_loc(path, i)}: missing field {', '.join(repr(k) for k in missing)}"
                            f" (expected fields: {', '.join(required)})")
        yield rec


def read_jsonl(path: Path | str, required: Sequence[str] = (), **kw) -> list[dict]:
    """All records of a JSONL file (see `iter_jsonl`)."""
    return list(iter_jsonl(path, required, **kw))


def write_jsonl(path: Path | str, records: Iterable[dict]) -> int:
    """Write records to `path` atomically (temp file + rename); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return n


class JsonlWriter:
    """Append records to a JSONL file so that a killed run can resume from it.

    On open the existing file is scanned: complete records are kept (see `.records`), an unterminated
    last line (torn by a kill mid-write) is truncated away and counted in `.dropped_torn`. Every
    `append` writes one whole line with a single `write` call and flushes it; `fsync=True` also forces
    it to disk (worth it for slow, expensive records; not for cheap ones).
    """

    def __init__(self, path: Path | str, required: Sequence[str] = (), *, fsync: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.dropped_torn = 0
        self.records: list[dict] = []
        if self.path.exists():
            self._recover(required)
        self._fh = self.path.open("ab")

    def _recover(self, required: Sequence[str]) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            # An unterminated tail that parses is a complete record whose newline was lost: keep it.
            tail = data[cut:]
            try:
                json.loads(tail)
                with self.path.open("ab") as fh:
                    fh.write(b"\n")
            except (json.JSONDecodeError, UnicodeDecodeError):
                with self.path.open("r+b") as fh:
                    fh.truncate(cut)
                self.dropped_torn = 1
        self.records = read_jsonl(self.path, required)

    def append(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self._fh.write(line)
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_json(path: Path | str, obj: Any) -> None:
    """Write JSON atomically: a reader (or a crash) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path | str) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: expected JSON: {exc.msg}") from None


# Packages whose versions decide whether a number reproduces; recorded in every config.json.
_VERSIONED = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "vllm",
              "math-verify", "bitsandbytes")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def git_commit(repo: Path | str | None = None) -> str | None:
    """The commit of the checkout the scripts run from (`+dirty` when it has local changes)."""
    repo = Path(repo) if repo else Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def save_config(run_dir: Path | str, args: Any, **extra: Any) -> dict:
    """Write `config.json`: the resolved arguments plus provenance. Returns what was written."""
    params = vars(args) if hasattr(args, "__dict__") else dict(args)
    cfg = {
        "args": {k: v for k, v in params.items() if not k.startswith("_")},
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "git_commit": git_commit(),
        "versions": package_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
    write_json(Path(run_dir) / "config.json", cfg)
    return cfg


def save_metrics(run_dir: Path | str, metrics: dict, name: str = "metrics.json") -> None:
    """Write `metrics.json` (flat keys, so REPRODUCE.md can name one key per claim)."""
    write_json(Path(run_dir) / name, metrics)


def changed_settings(stored: dict, now: dict) -> list[tuple[str, Any, Any]]:
    """(name, stored value, new value) for each setting of `now` that `stored` holds with another value
    (ints and floats compare by value: a YAML `2` and a flag `2.0` are one setting)."""
    def norm(v):
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v

    return [(k, stored[k], v) for k, v in now.items() if k in stored and norm(stored[k]) != norm(v)]


def refuse_changed_run(run_dir: Path | str, now: dict, what: str, *, name=lambda k: k,
                       hint: str = "pass --overwrite, or another --out-dir") -> None:
    """Refuse to resume a run dir whose config.json was written with other values of the settings in
    `now` (those that change its files): a stale samples or problems file would be reused silently.
    `name` turns a setting's key into what the user knows it by (cli: the flag). Nothing happens when
    the dir has no config yet."""
    cfg_path = Path(run_dir) / "config.json"
    if not cfg_path.exists():
        return
    changed = changed_settings(read_json(cfg_path).get("args", {}), now)
    if changed:
        raise TinyforgeError(f"{run_dir} holds a {what} run made with other settings ("
                             + ", ".join(f"{name(k)} {old!r} there, {new!r} now" for k, old, new in changed)
                             + f"): {hint}")


def prepare_run_dir(out_dir: Path | str, overwrite: bool = False) -> Path:
    """Create the run dir; with `overwrite`, clear what a previous run left (files only, not adapters
    elsewhere). Without it, existing files stay and the stage resumes from them."""
    out = Path(out_dir)
    if overwrite and out.exists():
        import shutil
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out

"""Strict JSONL reading, crash-safe appends and run-directory files."""

from __future__ import annotations

import gzip
import json

import pytest

from tinyforge.io import (DataError, JsonlWriter, git_commit, read_json, read_jsonl, save_config,
                          save_metrics, write_json, write_jsonl)


def test_read_jsonl_reports_file_and_line(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3,,}\n')
    with pytest.raises(DataError, match=r"x\.jsonl:4: expected a JSON object"):
        read_jsonl(f)
    f.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"x\.jsonl:2: expected a JSON object, got list"):
        read_jsonl(f)
    f.write_text('{"a": 1, "b": 2}\n{"a": 1}\n')
    with pytest.raises(DataError, match=r"x\.jsonl:2: missing field 'b'"):
        read_jsonl(f, required=("a", "b"))
    with pytest.raises(DataError, match="file not found"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_read_gzipped_jsonl(tmp_path):
    f = tmp_path / "x.jsonl.gz"
    with gzip.open(f, "wt") as fh:
        fh.write('{"a": 1}\n{"a": 2}\n')
    assert [r["a"] for r in read_jsonl(f)] == [1, 2]


def test_torn_tail_is_an_error_unless_allowed(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"a": 1}\n{"a": 2, "b"')
    with pytest.raises(DataError, match=r"x\.jsonl:2: expected an unterminated last line"):
        read_jsonl(f)
    assert read_jsonl(f, allow_torn_tail=True) == [{"a": 1}]


def test_writer_drops_torn_line_and_resumes(tmp_path):
    f = tmp_path / "s.jsonl"
    with JsonlWriter(f) as w:
        for i in range(3):
            w.append({"id": i, "text": "é\n" * i})
    # a kill mid-write leaves half a record without its newline
    with f.open("ab") as fh:
        fh.write(b'{"id": 3, "text": "par')
    w = JsonlWriter(f, required=("id",))
    assert w.dropped_torn == 1 and [r["id"] for r in w.records] == [0, 1, 2]
    w.append({"id": 3, "text": "whole"})
    w.close()
    recs = read_jsonl(f)
    assert [r["id"] for r in recs] == [0, 1, 2, 3] and recs[3]["text"] == "whole"
    assert recs[2]["text"] == "é\né\n"


def test_writer_keeps_complete_record_missing_its_newline(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"id": 0}\n{"id": 1}')
    w = JsonlWriter(f)
    assert w.dropped_torn == 0 and [r["id"] for r in w.records] == [0, 1]
    w.append({"id": 2})
    w.close()
    assert [r["id"] for r in read_jsonl(f)] == [0, 1, 2]


def test_writer_refuses_corruption_in_the_middle(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"id": 0}\n{"id": \n{"id": 2}\n')
    with pytest.raises(DataError, match=r"s\.jsonl:2:"):
        JsonlWriter(f)
    assert f.read_text() == '{"id": 0}\n{"id": \n{"id": 2}\n'  # nothing already written is lost


def test_atomic_json_and_config(tmp_path):
    import argparse

    write_json(tmp_path / "m.json", {"x": 1})
    assert read_json(tmp_path / "m.json") == {"x": 1}
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "bad.json").write_text('{\n"x": }')
    with pytest.raises(DataError, match=r"bad\.json:2:"):
        read_json(tmp_path / "bad.json")
    cfg = save_config(tmp_path, argparse.Namespace(model="m", seed=3, _private=1), backend="hf")
    disk = json.loads((tmp_path / "config.json").read_text())
    assert disk == cfg  # what is returned is what was written
    assert disk["args"] == {"model": "m", "seed": 3} and disk["backend"] == "hf"
    import platform

    import torch
    import transformers
    assert disk["versions"]["python"] == platform.python_version()
    assert disk["versions"]["torch"] == torch.__version__
    assert disk["versions"]["transformers"] == transformers.__version__
    assert {"peft", "trl"} <= set(disk["versions"])
    assert cfg["git_commit"] == git_commit()
    save_metrics(tmp_path, {"pass@1": 0.5})
    assert read_json(tmp_path / "metrics.json") == {"pass@1": 0.5}
    assert write_jsonl(tmp_path / "o.jsonl", [{"a": 1}, {"a": 2}]) == 2


def test_git_commit_names_the_checkout_and_marks_local_changes(tmp_path):
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t",
                               *args], check=True, capture_output=True, text=True).stdout.strip()

    assert git_commit(tmp_path) is None  # not a checkout
    git("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    git("add", "a.txt")
    git("commit", "-q", "-m", "one")
    sha = git("rev-parse", "HEAD")
    assert len(sha) == 40 and git_commit(tmp_path) == sha
    (tmp_path / "new.txt").write_text("untracked files do not make it dirty")
    assert git_commit(tmp_path) == sha
    (tmp_path / "a.txt").write_text("2")
    assert git_commit(tmp_path) == sha + "+dirty"

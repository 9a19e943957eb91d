"""Pair and preference records: one field list, one loader that names file:line, and the DPO record."""

from __future__ import annotations

import json

import pytest

from tinyforge import pairs
from tinyforge.io import DataError


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_loaded_pairs_have_the_whole_contract(tmp_path):
    f = _write(tmp_path / "p.jsonl", [{"prompt": "a", "completion": "b"},
                                      {"id": "x", "prompt": "c", "completion": "d", "source": "mine"}])
    got = pairs.load_pairs(f)
    assert all(set(pairs.PAIR_FIELDS) <= set(p) for p in got)
    assert (got[0]["id"], got[0]["source"]) == ("p.jsonl:1", "file:p.jsonl") and got[1]["id"] == "x"
    assert pairs.load_pairs(f, limit=1) == got[:1]


def test_bad_pairs_name_file_and_line(tmp_path):
    f = _write(tmp_path / "p.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": "a", "completion": "  "}])
    with pytest.raises(DataError, match=r"p\.jsonl:2: field 'completion': expected a non-empty string"):
        pairs.load_pairs(f)
    f = _write(tmp_path / "q.jsonl", [{"prompt": "a", "completion": "b", "meta": {"format": "chat"}}])
    with pytest.raises(DataError, match=r"q\.jsonl:1: a chat-format pair, but this run trains --format raw"):
        pairs.load_pairs(f, fmt="raw")
    assert len(pairs.load_pairs(f, fmt="chat")) == 1


def test_preference_records(tmp_path):
    rec = pairs.preference("t/0", "Q", "right", "wrong", "correct_vs_incorrect", task_id="t", meta={"score": 1})
    assert set(pairs.PREFERENCE_FIELDS) <= set(rec) and rec["meta"] == {"score": 1}
    with pytest.raises(DataError, match="same text"):
        pairs.preference("t/1", "Q", "same", "same", "x")
    f = _write(tmp_path / "pref.jsonl", [rec, {**rec, "id": "t/2", "rejected": "right"}])
    with pytest.raises(DataError, match=r"pref\.jsonl:2: chosen and rejected are the same text"):
        pairs.load_preferences(f)
    assert pairs.load_preferences(f, limit=1) == [rec]

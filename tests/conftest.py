"""Shared fixtures: tiny random models (built once per session) and paths to the real benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests compare numbers across batch sizes, shards and processes: fp32 on every machine. (`--dtype auto`
# picks bf16 on a CPU that computes it natively, tinyforge.cpu; bf16 sums depend on the batch shape.)
os.environ["TINYFORGE_CPU_BF16"] = "0"

REPO = Path(__file__).resolve().parents[1]
# The checkout always has shared/ beside it (development machines and CI alike).
SHARED_BENCH = REPO.parent / "shared" / "data" / "benchmarks"


def load_script(rel: str):
    """A CLI script of the repo (`recipe/bootstrap.py`) as a module, for calling its main()."""
    import importlib.util

    path = REPO / rel
    spec = importlib.util.spec_from_file_location("_script_" + path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_script(rel: str, argv: list[str]) -> dict:
    """`main()` of a CLI script on parsed `argv`, in this process."""
    mod = load_script(rel)
    return mod.main(mod.build_parser().parse_args(argv))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: full-benchmark checks, run by `make bench`, not `make test`")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    from tests.tiny import make_model
    return make_model("llama", tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory) -> Path:
    from tests.tiny import make_model
    return make_model("qwen2", tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tiny_llama_bos(tmp_path_factory) -> Path:
    """A tiny llama whose tokenizer prepends BOS to raw text, like Llama's own."""
    from tests.tiny import make_model
    return make_model("llama", tmp_path_factory.mktemp("tiny-llama-bos"), bos=True)


@pytest.fixture(scope="session")
def tiny_lora(tiny_llama, tmp_path_factory) -> Path:
    from tests.tiny import make_lora
    return make_lora(tiny_llama, tmp_path_factory.mktemp("lora"))


@pytest.fixture(scope="session")
def zero_lora(tiny_llama, tmp_path_factory) -> Path:
    from tests.tiny import make_lora
    return make_lora(tiny_llama, tmp_path_factory.mktemp("lora0"), zero=True)


@pytest.fixture(scope="session")
def shared_bench() -> Path:
    if not SHARED_BENCH.exists():
        pytest.skip(f"benchmark data not found beside the checkout ({SHARED_BENCH})")
    return SHARED_BENCH

"""CPU capability (bf16 native or not) and thread settings. Both bf16 outcomes are produced by patching
what the detection reads (torch's report, /proc/cpuinfo, the probe), never by the machine running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinyforge import cpu
from tinyforge.io import TinyforgeError

REPO = Path(__file__).resolve().parents[1]
REAL_PROBE = cpu.probe_bf16_ratio  # before any fixture stubs it
ORIGINAL_OMP = (os.environ.get("OMP_NUM_THREADS"), os.environ.get("OMP_WAIT_POLICY"))

XEON_SPR = ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
            "flags\t\t: fpu sse2 avx avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\n")
EPYC_AVX2 = ("processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx avx2 fma\n")
GRAVITON3 = ("processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd bf16 i8mm sve\n"
             "CPU implementer\t: 0x41\n")


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A clean slate: no cached detection, no override, a private cache dir, and no torch report
    unless the test gives one (so the machine's own flags never decide)."""
    monkeypatch.setattr(cpu, "_CAPABILITY", None)
    monkeypatch.delenv(cpu.ENV_BF16, raising=False)
    monkeypatch.setenv("TINYFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cpu, "_torch_report", lambda: {"capability": "AVX2", "mkldnn": True})
    monkeypatch.setattr(cpu, "probe_bf16_ratio", lambda *a, **k: pytest.fail("probe not expected"))
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    return tmp_path


def _cpuinfo(monkeypatch, tmp_path, text: str) -> None:
    f = tmp_path / "cpuinfo"
    f.write_text(text)
    monkeypatch.setattr(cpu, "CPUINFO", f)


@pytest.mark.parametrize("text,native,dtype", [(XEON_SPR, True, "bfloat16"), (EPYC_AVX2, False, "float32")])
def test_cpuinfo_flags_decide(fresh, monkeypatch, text, native, dtype):
    _cpuinfo(monkeypatch, fresh, text)
    cap = cpu.cpu_capability()
    assert cap["bf16_native"] is native and cap["source"] == "cpuinfo"
    assert cpu.auto_cpu_dtype() == dtype


@pytest.mark.parametrize("flags,native", [({"avx2", "avx512_f", "amx_bf16", "amx_tile"}, True),
                                          ({"avx2", "avx512_f"}, False)])
def test_torch_report_decides_before_cpuinfo(fresh, monkeypatch, flags, native):
    # cpuinfo says the opposite: torch's own report (what its kernels dispatch on) wins
    _cpuinfo(monkeypatch, fresh, EPYC_AVX2 if native else XEON_SPR)
    monkeypatch.setattr(cpu, "_torch_report", lambda: {"capability": "AVX512", "mkldnn": True,
                                                       "flags": flags, "architecture": "x86_64"})
    cap = cpu.cpu_capability()
    assert (cap["bf16_native"], cap["source"], cap["capability"]) == (native, "torch", "AVX512")


def test_flags_without_onednn_go_to_the_probe(fresh, monkeypatch):
    _cpuinfo(monkeypatch, fresh, XEON_SPR)
    monkeypatch.setattr(cpu, "_torch_report", lambda: {"capability": "AVX512", "mkldnn": False})
    monkeypatch.setattr(cpu, "probe_bf16_ratio", lambda *a, **k: 0.02)
    cap = cpu.cpu_capability()
    assert cap["bf16_native"] is False and cap["source"] == "probe" and cap["probe_ratio"] == 0.02


@pytest.mark.parametrize("ratio,native", [(0.02, False), (0.49, False), (0.6, True), (3.9, True)])
def test_probe_where_flags_are_inconclusive_is_cached_on_disk(fresh, monkeypatch, ratio, native):
    # arm64: a `bf16` feature bit does not say whether this torch build has kernels using it
    _cpuinfo(monkeypatch, fresh, GRAVITON3)
    monkeypatch.setattr(cpu.platform, "machine", lambda: "aarch64")
    calls = []
    monkeypatch.setattr(cpu, "probe_bf16_ratio", lambda *a, **k: calls.append(1) or ratio)
    cap = cpu.cpu_capability()
    assert cap["bf16_native"] is native and cap["source"] == "probe" and calls == [1]
    assert cpu.cpu_capability() is cap and calls == [1]  # in memory
    files = list((fresh / "cache" / "cpu").glob("bf16-probe-*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["ratio"] == ratio
    again = cpu.cpu_capability(refresh=True)  # a new process: the disk copy, no second probe
    assert again["bf16_native"] is native and again["source"] == "probe-cache" and calls == [1]
    # another CPU model (or torch version) is another key: probed afresh
    _cpuinfo(monkeypatch, fresh, GRAVITON3.replace("BogoMIPS", "model name\t: Neoverse-V2\nBogoMIPS"))
    assert cpu.cpu_capability(refresh=True)["source"] == "probe" and calls == [1, 1]


def test_no_cpuinfo_no_flags_probes(fresh, monkeypatch):
    monkeypatch.setattr(cpu, "CPUINFO", fresh / "absent")  # macOS, or a locked-down sandbox
    monkeypatch.setattr(cpu, "probe_bf16_ratio", lambda *a, **k: 1.8)
    assert cpu.cpu_capability()["source"] == "probe" and cpu.auto_cpu_dtype() == "bfloat16"


@pytest.mark.parametrize("value,dtype", [("1", "bfloat16"), ("0", "float32"), ("true", "bfloat16"),
                                         ("off", "float32")])
def test_env_override_skips_detection(fresh, monkeypatch, value, dtype):
    monkeypatch.setattr(cpu, "_torch_report", lambda: pytest.fail("detection must not run"))
    _cpuinfo(monkeypatch, fresh, XEON_SPR if dtype == "float32" else EPYC_AVX2)  # the opposite
    monkeypatch.setenv(cpu.ENV_BF16, value)
    assert cpu.auto_cpu_dtype() == dtype and cpu.cpu_capability()["source"] == "env"


def test_env_override_wins_over_a_cached_detection(fresh, monkeypatch):
    _cpuinfo(monkeypatch, fresh, XEON_SPR)
    assert cpu.auto_cpu_dtype() == "bfloat16"
    monkeypatch.setenv(cpu.ENV_BF16, "0")
    assert cpu.auto_cpu_dtype() == "float32"
    monkeypatch.setenv(cpu.ENV_BF16, "maybe")
    with pytest.raises(TinyforgeError, match="TINYFORGE_CPU_BF16='maybe': expected 1 or 0"):
        cpu.auto_cpu_dtype()


def test_pick_dtype_auto_on_cpu_follows_detection(fresh, monkeypatch):
    import torch

    from tinyforge import models

    _cpuinfo(monkeypatch, fresh, EPYC_AVX2)
    assert models.pick_dtype("auto", "cpu") == torch.float32
    _cpuinfo(monkeypatch, fresh, XEON_SPR)
    cpu.cpu_capability(refresh=True)
    assert models.pick_dtype("auto", "cpu") == torch.bfloat16
    assert models.pick_dtype("float32", "cpu") == torch.float32  # an explicit dtype is never changed


def test_real_probe_measures_both_dtypes():
    ratio = REAL_PROBE(shape=(16, 32, 64), reps=2)
    assert 0 < ratio < float("inf")


# ---------------------------------------------------------------------------------------------------
# Threads

@pytest.fixture
def threads_fresh(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(cpu, "_THREADS", None)
    for v in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS"):
        # setenv first so teardown restores the variable even when it was unset: configure_threads
        # writes os.environ, and OMP_NUM_THREADS=1 must not leak into later tests' subprocesses
        monkeypatch.setenv(v, "x")
        monkeypatch.delenv(v)
    yield
    torch.set_num_threads(before)  # the rest of the suite keeps its thread count


def test_configure_threads_sets_passive_and_is_idempotent(threads_fresh, monkeypatch):
    import torch

    monkeypatch.setattr(cpu, "usable_cpus", lambda: 1)
    got = cpu.configure_threads()
    assert got["omp_wait_policy"] == "PASSIVE" == os.environ["OMP_WAIT_POLICY"]
    assert got["threads"] == 1 == torch.get_num_threads() and got["late"] is True
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert cpu.configure_threads() is got and got["omp_wait_policy"] == "PASSIVE"
    line = cpu.thread_line()
    assert line.startswith("cpu: 1 threads, OMP_WAIT_POLICY=PASSIVE (set after torch import: no effect)")


def test_configure_threads_keeps_what_the_user_set(threads_fresh, monkeypatch):
    import torch

    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(2)
    got = cpu.configure_threads()
    assert got["omp_wait_policy"] == "ACTIVE" and set(got["user_set"]) == {"OMP_WAIT_POLICY", "OMP_NUM_THREADS"}
    assert torch.get_num_threads() == 2 == got["threads"]  # the user's running torch is not touched


@pytest.mark.parametrize("forced,word", [("1", "bf16 forced on"), ("0", "bf16 forced off")])
def test_thread_line_names_the_bf16_decision(threads_fresh, monkeypatch, forced, word):
    monkeypatch.setenv(cpu.ENV_BF16, forced)
    assert word in cpu.thread_line() and "\n" not in cpu.thread_line()


def test_usable_cpus_follows_affinity(monkeypatch):
    monkeypatch.setattr(cpu.os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert cpu.usable_cpus() == 1


def test_configure_before_torch_import_reaches_torch(tmp_path):
    # the real order of a script: configure, then import torch; libgomp and torch must see the values
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    code = ("import sys, os\nfrom tinyforge import cpu\nr = cpu.configure_threads()\n"
            "assert 'torch' not in sys.modules, 'tinyforge.cpu imported torch'\n"
            "import torch\nprint(r['threads'], torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'], r['late'])\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    threads, torch_threads, policy, late = out.stdout.split()
    assert threads == torch_threads and policy == "PASSIVE" and late == "False"



def test_thread_fixture_leaves_no_environment_behind():
    # runs after the configure tests above (pytest keeps file order)
    assert (os.environ.get("OMP_NUM_THREADS"), os.environ.get("OMP_WAIT_POLICY")) == ORIGINAL_OMP

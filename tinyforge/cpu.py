"""CPU facts that decide decoding speed: whether bf16 is native, and how torch's threads behave.

Two measured problems motivate this module (issue 8, items 9 and 11):

* bf16 on a CPU without bf16 instructions is emulated: on a 2-core AMD EPYC with AVX2 only, a
  512x576 @ 576x1536 matmul (SmolLM2-135M's MLP shape) ran 59 GFLOP/s in fp32 and 1.0 GFLOP/s in
  bf16. On a Xeon with AVX512-BF16/AMX the same matmul ran 163 GFLOP/s in fp32 and 662 in bf16. So
  `--dtype auto` on CPU is bf16 only where the CPU computes bf16 natively (`auto_cpu_dtype`).
* Sampling while one other process held a core went 17x slower (62.7 vs 3.6 s per prompt, reported);
  3-4x reproduced here: libgomp's worker threads spin-wait (OMP_WAIT_POLICY unset) and, on an
  oversubscribed CPU, burn the time slice the thread doing the work needs. `configure_threads` sets
  the policy that degrades gracefully; it must run before torch is imported, because libgomp reads
  its environment when it is loaded.

Overrides (the user's word always wins):
    TINYFORGE_CPU_BF16=1|0   force bf16 on / off for `--dtype auto` on CPU (skips detection)
    OMP_WAIT_POLICY, OMP_NUM_THREADS   left alone when set; otherwise set by `configure_threads`

Nothing here imports torch at import time: scripts call `configure_threads()` first thing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

ENV_BF16 = "TINYFORGE_CPU_BF16"
CPUINFO = Path("/proc/cpuinfo")  # a module attribute so tests can point it at a literal file
# A bf16 matmul must reach this share of the fp32 throughput to count as native. Native bf16 is
# 1-4x fp32 (AMX ~4x, measured above); emulated bf16 is ~0.02x: any threshold between works.
PROBE_MIN_RATIO = 0.5
# The probe's shape: SmolLM2-135M's MLP up-projection on 128 rows (a decode batch). Small enough that
# an emulated-bf16 CPU (1 GFLOP/s) spends ~0.25 s on one bf16 matmul.
PROBE_SHAPE = (128, 576, 1536)

# x86 flags (Linux /proc/cpuinfo spelling, and torch.cpu.get_capabilities' keys) that mean the CPU has
# bf16 dot-product instructions oneDNN uses for matmuls.
_X86_BF16_FLAGS = ("avx512_bf16", "amx_bf16")

_CAPABILITY: dict | None = None
_THREADS: dict | None = None


def _parse_bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    from tinyforge.io import TinyforgeError

    raise TinyforgeError(f"{name}={value!r}: expected 1 or 0")


def _read_cpuinfo() -> tuple[str, set[str], str]:
    """(model name, flags of the first CPU, architecture) from /proc/cpuinfo; empty when unreadable.

    x86 lists `flags`, arm64 lists `Features`; both are what the kernel saw in CPUID / HWCAP.
    """
    try:
        text = CPUINFO.read_text(errors="replace")
    except OSError:
        return "", set(), platform.machine()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, val = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = val.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(val.split())
    return model, flags, platform.machine()


def _torch_report() -> dict:
    """What torch itself detected: its kernel dispatch level and, where torch has it (>= 2.9), the
    cpuinfo flags it read. Empty where torch is absent."""
    try:
        import torch
    except ImportError:
        return {}
    out = {"capability": torch.backends.cpu.get_cpu_capability(),
           "mkldnn": bool(torch.backends.mkldnn.is_available()), "torch": torch.__version__}
    caps = getattr(torch.cpu, "get_capabilities", None)
    if caps is not None:
        try:
            out["flags"] = {k for k, v in caps().items() if v is True}
            out["architecture"] = caps().get("architecture")
        except RuntimeError:  # cpuinfo could not initialise (seen in some sandboxes)
            pass
    return out


def _probe_path(cpu_model: str, torch_version: str) -> Path:
    from tinyforge.models import cache_root

    key = hashlib.sha256(f"{platform.machine()}|{cpu_model}|{torch_version}".encode()).hexdigest()[:16]
    return cache_root() / "cpu" / f"bf16-probe-{key}.json"


def probe_bf16_ratio(shape: tuple[int, int, int] = PROBE_SHAPE, reps: int = 3) -> float:
    """Throughput of a bf16 matmul over the same fp32 matmul (best of `reps` each, after a warm-up
    that absorbs oneDNN's kernel JIT). Stops early once bf16 is plainly slow, so an emulating CPU pays
    about one slow matmul, not `reps` of them."""
    import torch

    m, k, n = shape
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)

    def best(x, y, bound: float = math.inf) -> float:
        x @ y  # warm-up
        t_best = math.inf
        for _ in range(reps):
            t0 = time.perf_counter()
            x @ y
            t_best = min(t_best, time.perf_counter() - t0)
            if t_best > bound:
                break
        return t_best

    t32 = best(a, b)
    t16 = best(a.bfloat16(), b.bfloat16(), bound=4 * t32 / PROBE_MIN_RATIO)
    return t32 / t16


def _probe_cached(cpu_model: str) -> tuple[bool, float, str]:
    """(native, ratio, source): the disk cache keyed by CPU model + torch version, else a fresh probe."""
    import torch

    path = _probe_path(cpu_model, torch.__version__)
    try:
        ratio = float(json.loads(path.read_text())["ratio"])
        return ratio >= PROBE_MIN_RATIO, ratio, "probe-cache"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    ratio = probe_bf16_ratio()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"ratio": ratio, "cpu": cpu_model, "torch": torch.__version__,
                                   "shape": list(PROBE_SHAPE), "min_ratio": PROBE_MIN_RATIO}))
        os.replace(tmp, path)  # atomic: concurrent first runs never read half a file
    except OSError:  # a read-only cache only costs a re-probe next time
        pass
    return ratio >= PROBE_MIN_RATIO, ratio, "probe"


def detect_bf16(flags: set[str], arch: str, mkldnn: bool | None) -> bool | None:
    """True/False when the flags decide it, None when only a probe can tell.

    x86 flags are conclusive both ways (oneDNN's bf16 matmul uses AVX512-BF16 / AMX, and emulates
    otherwise), provided torch has oneDNN; arm64 and unknown architectures go to the probe, because a
    `bf16` feature bit does not say whether this torch build has kernels that use it.
    """
    x86 = arch.lower() in ("x86_64", "amd64", "i686", "x86")
    if not x86 or not flags:
        return None
    has = any(f in flags for f in _X86_BF16_FLAGS)
    if has and mkldnn is False:
        return None  # the instructions exist but torch may not reach them: measure
    return has


def cpu_capability(refresh: bool = False) -> dict:
    """{"capability": torch's dispatch level ("AVX512", "AVX2", ...), "bf16_native": bool,
    "source": "env" | "torch" | "cpuinfo" | "probe" | "probe-cache" | "no-torch", "cpu": model name}.

    TINYFORGE_CPU_BF16 is read on every call and skips detection (torch included): it is also the
    way out of a probe. Detection is cached in memory; the probe (only where the flags are
    inconclusive) is also cached on disk, keyed by CPU model and torch version.
    """
    global _CAPABILITY
    forced = os.environ.get(ENV_BF16)
    if forced not in (None, ""):
        return {"capability": None, "bf16_native": _parse_bool(ENV_BF16, forced), "source": "env",
                "cpu": _read_cpuinfo()[0]}
    if _CAPABILITY is not None and not refresh:
        return _CAPABILITY
    model, flags, arch = _read_cpuinfo()
    rep = _torch_report()
    info = {"capability": rep.get("capability"), "cpu": model}
    native, source = None, None
    if rep.get("flags"):
        native, source = detect_bf16(rep["flags"], rep.get("architecture") or arch, rep.get("mkldnn")), "torch"
    if native is None and flags:
        native, source = detect_bf16(flags, arch, rep.get("mkldnn")), "cpuinfo"
    if native is None and not rep:
        native, source = False, "no-torch"  # nothing to probe with, and nothing will run bf16 anyway
    if native is None:
        native, ratio, source = _probe_cached(model or rep.get("capability") or "unknown")
        info["probe_ratio"] = round(ratio, 3)
    _CAPABILITY = {**info, "bf16_native": bool(native), "source": source}
    return _CAPABILITY


def auto_cpu_dtype() -> str:
    """What `--dtype auto` means on CPU: "bfloat16" where bf16 is native, else "float32"."""
    return "bfloat16" if cpu_capability()["bf16_native"] else "float32"


# ---------------------------------------------------------------------------------------------------
# Threads

def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (containers often
    show every host CPU but grant a few; torch's default then oversubscribes them)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    for path, parse in (("/sys/fs/cgroup/cpu.max", lambda s: s.split()),
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", lambda s: [s.strip(), None])):
        try:
            quota, period = parse(Path(path).read_text())
        except (OSError, ValueError):
            continue
        if period is None:
            try:
                period = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text().strip()
            except OSError:
                continue
        if quota not in ("max", "-1"):
            try:
                n = min(n, max(1, math.ceil(int(quota) / int(period))))
            except (ValueError, ZeroDivisionError):
                pass
        break
    return max(1, n)


def configure_threads() -> dict:
    """Set the OpenMP wait policy and torch's thread count, unless the user set them.

    Call it first thing in a script, before anything imports torch: libgomp reads OMP_WAIT_POLICY
    once, when torch loads it. Idempotent. Returns {"threads": n, "omp_wait_policy": value,
    "user_set": [the variables the user had set], "late": True if torch was imported first (the wait
    policy then had no effect on this process)}.
    """
    global _THREADS
    if _THREADS is not None:
        return _THREADS
    late = "torch" in sys.modules
    user = [v for v in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if os.environ.get(v)]
    # PASSIVE: idle OpenMP workers sleep instead of spinning. Measured with tests/perf/sampling_bench.py
    # on 2 cores (SmolLM2-135M, noisy shared machine): with one busy process (--load 1) the libgomp
    # default ran 3.1-4.0x slower than idle (HF sampler 9.0-11.4 s/prompt vs 2.3-2.9), PASSIVE
    # 1.7-2.1x (5.1-5.4 s/prompt; bf16 bs32: 4.2 vs 8.9 s/prompt default), i.e. what losing one of two
    # cores costs. Its price on an idle machine: ~10-25% (HF 2.4-3.2 s/prompt). GOMP_SPINCOUNT=1000
    # or 10000 was no better idle and worse loaded; 1 thread instead of 2 changed nothing loaded.
    # Thread count: the usable CPUs (affinity, cgroup quota), not the host's, to never oversubscribe.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if not os.environ.get("OMP_NUM_THREADS"):
        os.environ["OMP_NUM_THREADS"] = str(usable_cpus())
    threads = int(os.environ["OMP_NUM_THREADS"]) if os.environ["OMP_NUM_THREADS"].isdigit() else usable_cpus()
    if late:
        import torch

        if "OMP_NUM_THREADS" not in user:
            torch.set_num_threads(threads)
        threads = torch.get_num_threads()
    _THREADS = {"threads": threads, "omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "user_set": user,
                "late": late}
    return _THREADS


def thread_line() -> str:
    """One line for every run's log: "cpu: 2 threads, OMP_WAIT_POLICY=PASSIVE, bf16 native (AMX)"."""
    t = configure_threads()
    policy = t["omp_wait_policy"] + (" (set after torch import: no effect)" if t["late"] and
                                     "OMP_WAIT_POLICY" not in t["user_set"] else "")
    cap = cpu_capability()
    if cap["source"] == "env":
        bf16 = f"bf16 {'forced on' if cap['bf16_native'] else 'forced off'} ({ENV_BF16})"
    else:
        bf16 = ("bf16 native" if cap["bf16_native"] else "bf16 emulated (auto dtype: float32)")
        bf16 += f" [{cap['capability'] or '?'}, {cap['source']}]"
    return f"cpu: {t['threads']} threads, OMP_WAIT_POLICY={policy}, {bf16}"

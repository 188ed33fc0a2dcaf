#!/usr/bin/env python3
"""bench/run.py: libmalloc's benchmark runner (issue 3).

One command builds what is missing, runs every benchmark under glibc, jemalloc, mimalloc
and libmalloc in interleaved rounds (for each case: glibc jemalloc mimalloc libmalloc,
repeated), takes medians and writes docs/benchmarks.md with tables and SVG plots
(docs/bench/*.svg). Raw results go to docs/bench/results-<mode>.json.

  bench/run.py --quick              # ~4-5 minutes on 2 cores: micro, workloads, real programs, memory
  bench/run.py --full               # more rounds and larger counts
  bench/run.py --quick --scaling    # also the 1..16 thread sweeps (own section in the report)
  bench/run.py --smoke              # tiny counts, under a minute; non-zero exit on crash or mismatch
  bench/run.py --report-only        # rewrite docs/benchmarks.md from the saved results

Groups: micro (Google Benchmark), workloads (bench/workloads/*), real (python3, sqlite3,
redis), memory (bench/workloads/burst_idle.cpp: RSS over 5 s of idle after a 1.4 GiB burst;
one round per allocator outside --full, since it lasts 10-20 s by design), scaling (opt-in).

Variants: an allocator variant is the same library run with extra environment, shown as its
own column or line: --variant '[GROUPS/]NAME=BASE:VAR=VALUE[;VAR=VALUE...]', e.g.
  --variant 'memory/libmalloc thp=always=libmalloc:LIBMALLOC_OPTIONS=thp=always'
GROUPS (comma-separated) defaults to workloads,memory. Without --variant the defaults are
libmalloc's redzone mode on the workloads (issue 5), GCC's AddressSanitizer runtime preloaded
into the same workloads for comparison with it (LM_BENCH_ASAN: its path; a reference whose
failures are reported but never fail the run), and thp=always, thp=never and purge=free on
the memory group (issue 6); --no-variants drops them. A variant that crashes on a probe
is reported and left out; a redzone variant whose library reports no overflow on
lm_bench_redzone_probe (the mode is not there yet) is reported and left out.

Measuring: each run goes through lm_bench_rusage (bench/rusage.cpp, static), which forks,
execs and reports wall time, user+sys CPU time and ru_maxrss of the child. Single-threaded
cases run pinned to one CPU (--pin-cpu): on a shared 2-vCPU machine one vCPU ran pair/64 1.6x
slower than the other for minutes at a time, and processes started one after another landed
on either vCPU in streaks, so an interleaved comparison of two allocators could lean one way
for a whole run (an A/B of two copies of the same library: 1.6x). Micro
benchmarks report ns per operation from Google Benchmark's items_per_second. Workloads and
real programs print a checksum; a checksum that differs between allocators is an error.
Nothing here fails because a machine is slow: timeouts only catch hangs.

Another machine (another userland): build a self-contained bundle here,
  bench/run.py --bundle /tmp/lmb          # binaries, allocator libraries, ld.so, libc, run.py
copy it over and run  /tmp/lmb/run-scaling.sh  there (needs python3 only). It sets
LM_BENCH_LOADER so every program runs as `$LOADER --library-path DIR prog`, uses the
bundled binaries (--bench-dir) and libraries (--lib NAME=PATH), and writes
results-scaling.json; copy that to docs/bench/ here and run --report-only.

Environment: LM_BENCH_LOADER (dynamic loader to prefix commands with),
LM_BENCH_LIBRARY_PATH (its --library-path; default: the loader's folder),
LM_BENCH_LIBMALLOC, LM_BENCH_JEMALLOC, LM_BENCH_MIMALLOC (library paths).
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
IN_BUNDLE = os.path.exists(os.path.join(HERE, "bundle.json"))

ALLOCATORS = ["glibc", "jemalloc", "mimalloc", "libmalloc"]
DEFAULT_LIBS = {
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "mimalloc": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
}
WORKLOADS = ["larson", "prodcons", "threads_churn", "threads_idle", "spectrum", "frag", "strbuild", "large", "burst_idle"]
BENCH_TARGETS = ["bench/lm_bench_micro", "bench/lm_bench_rusage", "bench/libglibc_shim.so",
                 "bench/lm_bench_redzone_probe"] + ["bench/lm_wl_" + w for w in WORKLOADS]
GROUPS = ["micro", "workloads", "real", "memory", "scaling"]

# GCC's AddressSanitizer runtime (Debian's libasan8, which g++ pulls in), preloaded into the
# uninstrumented workloads: the allocator a user without a rebuild would otherwise reach for,
# with its defaults that match redzone mode's (256 MiB quarantine, 16-byte minimum redzone,
# alloc-dealloc mismatch checks) and leak detection off, as redzone mode's default is.
ASAN_LIB = os.path.abspath(os.environ.get("LM_BENCH_ASAN", "/usr/lib/x86_64-linux-gnu/libasan.so.8"))
ASAN_VARIANT = "asan runtime"
# Variants measured for reference only: another tool's failure is reported, never fails the run
# (gcc 12's ASan runtime is known to crash at start-up under a high mmap_rnd_bits).
REFERENCE_VARIANTS = {ASAN_VARIANT}

# (groups, name, base allocator, extra environment): see "Variants" above.
DEFAULT_VARIANTS = [
    (["workloads"], "libmalloc redzone", "libmalloc", {"LIBMALLOC_OPTIONS": "redzone=1"}),
    (["workloads"], ASAN_VARIANT, ASAN_LIB, {"ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=0"}),
    (["memory"], "libmalloc thp=always", "libmalloc", {"LIBMALLOC_OPTIONS": "thp=always"}),
    (["memory"], "libmalloc thp=never", "libmalloc", {"LIBMALLOC_OPTIONS": "thp=never"}),
    (["memory"], "libmalloc purge=free", "libmalloc", {"LIBMALLOC_OPTIONS": "purge=free"}),
]


def parse_variant(text):
    """'[GROUPS/]NAME=BASE:VAR=VALUE[;VAR=VALUE]' -> (groups, name, base, env). NAME may hold
    '=' (as in 'libmalloc thp=always'): it ends at the '=' followed by BASE ':' VAR '='."""
    groups = ["workloads", "memory"]
    m = re.match(r"^((?:%s)(?:,(?:%s))*)/(.*)$" % ("|".join(GROUPS), "|".join(GROUPS)), text)
    if m:
        groups, text = m.group(1).split(","), m.group(2)
    m = re.match(r"^(.+?)=([^:=]+):([A-Za-z_][A-Za-z0-9_]*=.*)$", text)
    if not m:
        raise argparse.ArgumentTypeError("--variant wants [GROUPS/]NAME=BASE:VAR=VALUE[;VAR=VALUE], got %r" % text)
    env = {}
    for item in m.group(3).split(";"):
        k, _, v = item.partition("=")
        env[k] = v
    return (groups, m.group(1), m.group(2), env)

# Parameters per mode. Work is always a fixed count of operations, never a duration.
NPROC = os.cpu_count() or 1

# Workload programs that run more than one thread: never pinned to one CPU.
THREADED_WORKLOADS = {"larson", "prodcons", "threads_churn", "threads_idle"}


def workload_cases(mode):
    """(case name, program, args, description) for the workloads group."""
    t = max(2, NPROC)
    s = {"smoke": 0, "quick": 1, "full": 2}[mode]
    pick = lambda smoke, quick, full: [smoke, quick, full][s]
    return [
        ("larson", "larson", ["threads=%d" % t, "epochs=4", "ops=%d" % pick(2000, 400000, 1500000)],
         "larson-style server: %d threads replace random slots (16-1024 B), 10%% of blocks swapped "
         "between threads, 4 epochs of fresh threads" % t),
        ("prodcons", "prodcons", ["threads=%d" % t, "msgs=%d" % pick(2000, 1000000, 5000000)],
         "producer-consumer: %d pair(s) of threads, messages 16-2048 B (1%% 4-64 KiB) freed by the "
         "consumer" % max(1, t // 2)),
        ("threads_churn", "threads_churn", ["total=%d" % pick(32, 800, 6000), "wave=8", "blocks=500"],
         "many short-lived threads: waves of 8, 500 blocks each, half freed by the main thread "
         "after the thread exits"),
        ("threads_idle", "threads_idle", ["threads=%d" % pick(16, 1000, 1000), "rounds=%d" % pick(2, 20, 60),
                                          "blocks=40", "keep=8"],
         "many threads alive at once: each does rounds of 40 blocks of 16 B-8 KiB (sizes drifting up), keeps 8, "
         "then waits until all have: the memory held for threads that are not running"),
        ("spectrum", "spectrum", ["ops=%d" % pick(500, 8000, 60000), "window=200"],
         "size spectrum: 16 B to 4 MiB log-uniform, 200 live blocks, pages written once"),
        ("frag", "frag", ["small=%d" % pick(5000, 250000, 1000000), "large=%d" % pick(500, 25000, 100000),
                          "rounds=2"],
         "fragmentation: 16-512 B blocks, 90% freed at random, then 600-4000 B blocks; reports RSS"),
        ("strbuild", "strbuild", ["appends=%d" % pick(20000, 1000000, 8000000), "live=256"],
         "realloc string building: 256 strings grown by 1-48 B reallocs up to 64 B-256 KiB"),
        ("large", "large", ["live=5", "ops=%d" % pick(10, 80, 600)],
         "large blocks: 5 live buffers of 256 KiB-25 MiB replaced at random, each page written once"),
    ]


def memory_cases(mode):
    """(case name, program, args, description) for the memory group (issue 6)."""
    if mode == "smoke":
        args = ["mb=16", "idle_ms=300", "sample_ms=100"]
    else:
        args = ["mb=1434", "idle_ms=5000", "sample_ms=100"]
    return [("burst_idle", "burst_idle", args,
             "burst and idle: %s MiB in blocks of 16 B-1 KiB (90%%) and 1-60 KiB (10%%), every byte written; "
             "98%% freed at random; then one 16-256 B malloc+free per ms for %s ms with RSS sampled every "
             "100 ms; then malloc_trim(0)" % (args[0][3:], args[1][8:]))]


def scaling_threads(args):
    return [int(x) for x in args.threads.split(",")]


def scaling_cases(mode, threads):
    s = {"smoke": 0, "quick": 1, "full": 2}[mode]
    pick = lambda smoke, quick, full: [smoke, quick, full][s]
    cases = []
    for t in threads:
        cases.append(("larson/%d" % t, "larson", ["threads=%d" % t, "epochs=4", "ops=%d" % pick(2000, 200000, 800000)],
                      "larson, %d threads (work per thread fixed)" % t))
    for t in threads:
        cases.append(("prodcons/%d" % t, "prodcons", ["threads=%d" % t, "msgs=%d" % pick(2000, 500000, 2000000)],
                      "producer-consumer, %d pair(s) (work per pair fixed)" % max(1, t // 2)))
    return cases


def micro_args(mode):
    if mode == "smoke":
        return ["--benchmark_min_time=0.001",
                "--benchmark_filter=^(pair/(16|4096|131072)|batch/64/1000/shuffled|calloc/4096|"
                "realloc/16/65536|aligned/64/64|pair_mt/64|xthread/64)"]
    if mode == "quick":
        return ["--benchmark_min_time=0.04",
                "--benchmark_filter=^(pair/|batch/(16|64|256)/1000/|calloc/|realloc/|aligned/(64|4096)/|"
                "pair_mt/64/|xthread/(64|8192)/)"]
    return ["--benchmark_min_time=0.1"]


# ----------------------------------------------------------------------------- utilities

def log(msg):
    print(msg, flush=True)


def loud(msg):
    bar = "!" * 78
    print("\n%s\n!!! %s\n%s\n" % (bar, msg, bar), flush=True)


def sh(cmd, **kw):
    """Output of a command, or '' if it fails."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw).stdout.strip()
    except Exception:
        return ""


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


class Runner:
    """Runs one program under one allocator through the rusage wrapper."""

    def __init__(self, opts, bench_dir, libs, tmp):
        self.opts = opts
        self.bench_dir = bench_dir
        self.libs = libs  # name -> path or None (glibc)
        self.tmp = tmp
        self.loader = os.environ.get("LM_BENCH_LOADER") or None
        self.library_path = os.environ.get("LM_BENCH_LIBRARY_PATH") or (
            os.path.dirname(self.loader) if self.loader else None)
        self.rusage = os.path.join(bench_dir, "lm_bench_rusage")
        self.seq = 0
        self.variant_env = {}  # variant name -> extra environment (its library is in libs)

    def command(self, alloc, prog, args, preload=None, foreign=False):
        """The argv for prog under alloc. foreign=True: a program of this machine's own
        userland (python3, sqlite3, redis-server) which never goes through the loader."""
        lib = preload if preload is not None else self.libs.get(alloc)
        if self.loader and not foreign:
            cmd = [self.loader, "--library-path", self.library_path]
            if lib:
                cmd += ["--preload", lib]
            return cmd + [prog] + list(args), {}
        return [prog] + list(args), ({"LD_PRELOAD": lib} if lib else {})

    def env(self, extra):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env["LC_ALL"] = "C"
        env.update(extra)
        return env

    def run(self, alloc, prog, args, preload=None, extra_env=None, stdin_path=None, foreign=False,
            timeout=None, pin=False):
        """Runs to completion; with pin, on the CPU of --pin-cpu only (a single-threaded case).
        Returns a dict: wall_s, cpu_s, maxrss_kb, exit, signal, stdout, stderr_tail, ok, argv."""
        self.seq += 1
        out = os.path.join(self.tmp, "ru%d.json" % self.seq)
        cmd, penv = self.command(alloc, prog, args, preload, foreign)
        penv = dict(penv, **self.variant_env.get(alloc, {}))
        env = self.env(penv)
        env.update(extra_env or {})
        if not timeout:
            timeout = self.opts.timeout
            if alloc in self.variant_env:
                timeout = min(timeout, self.opts.variant_timeout)
        argv = [self.rusage, "-t", str(timeout), "-o", out, "--"] + cmd
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        cpu = self.opts.pin_cpu if pin else None
        pin_fn = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        try:
            p = subprocess.run(argv, stdin=stdin, capture_output=True, env=env, timeout=timeout + 30,
                               preexec_fn=pin_fn)
        finally:
            if stdin_path:
                stdin.close()
        err = p.stderr.decode(errors="replace")
        res = {"argv": cmd, "env": penv, "stdout": p.stdout.decode(errors="replace"),
               "stderr_tail": err[-2000:], "stderr_head": err[:4000]}
        try:
            with open(out) as f:
                ru = json.load(f)
        except Exception:
            ru = {"wall_s": None, "user_s": None, "sys_s": None, "maxrss_kb": None, "exit": p.returncode,
                  "signal": 0, "timed_out": False, "minflt": None}
        res.update(ru)
        res["timeout"] = timeout
        res["cpu_s"] = (ru["user_s"] + ru["sys_s"]) if ru.get("user_s") is not None else None
        res["ok"] = ru.get("exit") == 0 and not ru.get("signal") and not ru.get("timed_out")
        return res


def parse_output(text):
    """checksum, errors and metric.* lines printed by the workloads; burst_idle's RSS series
    (`rss_ms: T KB` lines and `rss_trim: KB`)."""
    out = {"checksum": None, "metrics": {}, "series": []}
    for line in text.splitlines():
        m = re.match(r"^rss_ms: (\d+) (-?\d+)$", line.strip())
        if m:
            out["series"].append([int(m.group(1)), int(m.group(2))])
        m = re.match(r"^rss_trim: (-?\d+)$", line.strip())
        if m:
            out["rss_trim"] = int(m.group(1))
        m = re.match(r"^checksum: (\S+)$", line.strip())
        if m:
            out["checksum"] = m.group(1)
        m = re.match(r"^metric\.(\w+): (\S+)$", line.strip())
        if m:
            out["metrics"][m.group(1)] = float(m.group(2))
    return out


def describe_failure(res):
    if res.get("timed_out"):
        return "hung (killed after %ss)" % res.get("timeout", "?")
    if res.get("signal"):
        return "killed by signal %d (%s)" % (res["signal"], signal.Signals(res["signal"]).name
                                             if res["signal"] in signal.valid_signals() else "?")
    return "exit status %s" % res.get("exit")


# ----------------------------------------------------------------------------- results

class Results:
    """cases[group][case][alloc] = list of run records (one per round)."""

    def __init__(self):
        self.cases = {}
        self.desc = {}      # (group, case) -> description
        self.commands = {}  # (group, case) -> command line shown in the report
        self.failures = []  # dicts: group, case, alloc, round, why, argv, stderr
        self.mismatches = []

    def add(self, group, case, alloc, rec):
        self.cases.setdefault(group, {}).setdefault(case, {}).setdefault(alloc, []).append(rec)

    def to_json(self):
        return {"cases": self.cases,
                "desc": {"%s|%s" % k: v for k, v in self.desc.items()},
                "commands": {"%s|%s" % k: v for k, v in self.commands.items()},
                "failures": self.failures, "mismatches": self.mismatches}

    @staticmethod
    def from_json(d):
        r = Results()
        r.cases = d["cases"]
        r.desc = {tuple(k.split("|", 1)): v for k, v in d["desc"].items()}
        r.commands = {tuple(k.split("|", 1)): v for k, v in d["commands"].items()}
        r.failures = d["failures"]
        r.mismatches = d["mismatches"]
        return r

    def check_checksums(self, group):
        for case, per in self.cases.get(group, {}).items():
            seen, ref = {}, {}
            for alloc, runs in per.items():
                for rec in runs:
                    if rec.get("ok") and rec.get("checksum") is not None:
                        (ref if alloc in REFERENCE_VARIANTS else seen).setdefault(rec["checksum"], set()).add(alloc)
            odd = {ck: a for ck, a in ref.items() if seen and ck not in seen}
            if odd:
                detail = "; ".join("%s: %s" % (ck, ",".join(sorted(a))) for ck, a in odd.items())
                self.mismatches.append({"group": group, "case": case, "detail": detail, "reference": True})
                loud("note: %s/%s: a reference variant's checksum differs (%s); not counted as a failure" % (
                    group, case, detail))
            if len(seen) > 1:
                detail = "; ".join("%s: %s" % (ck, ",".join(sorted(a))) for ck, a in seen.items())
                self.mismatches.append({"group": group, "case": case, "detail": detail})
                loud("CHECKSUM MISMATCH in %s/%s: %s" % (group, case, detail))


def record(results, group, case, alloc, rnd, res, metric_from=None):
    parsed = parse_output(res["stdout"])
    rec = {"ok": res["ok"], "wall_s": res["wall_s"], "cpu_s": res["cpu_s"], "maxrss_kb": res["maxrss_kb"],
           "minflt": res.get("minflt"), "checksum": parsed["checksum"], "metrics": parsed["metrics"]}
    if parsed["series"]:
        rec["series"] = parsed["series"]
    if metric_from:
        rec["metrics"].update(metric_from)
    if res["ok"] and parsed["checksum"] is None and group != "micro":
        rec["ok"] = False
        res["why"] = "no checksum line in output"
    if not rec["ok"]:
        why = res.get("why") or describe_failure(res)
        # A libmalloc report (redzone mode, or a fast-mode abort) names the bug: keep its first lines.
        head = res.get("stderr_head", "")
        said = [l.strip() for l in head.splitlines() if re.search(r"ERROR: libmalloc:|^libmalloc: |is located|lies in", l)]
        if said:
            why += ": " + " / ".join(said[:2])
        results.failures.append({"group": group, "case": case, "alloc": alloc, "round": rnd, "why": why,
                                 "argv": shlex.join(res["argv"]), "env": res.get("env", {}),
                                 "stderr": res["stderr_tail"][-800:]})
        loud("FAILURE: %s/%s under %s (round %d): %s\n    %s%s\n    stderr: %s" % (
            group, case, alloc, rnd + 1, why, "".join("%s=%s " % kv for kv in res.get("env", {}).items()),
            shlex.join(res["argv"]), res["stderr_tail"][-500:].strip()))
    results.add(group, case, alloc, rec)
    return rec


def fmt_run(rec):
    if not rec["ok"]:
        return "FAILED"
    return "%.3f s wall, %.3f s cpu, %.1f MiB peak" % (rec["wall_s"], rec["cpu_s"], rec["maxrss_kb"] / 1024.0)


# ----------------------------------------------------------------------------- groups

def split_micro(runner, exe, extra_args):
    """extra_args as two runs: (args, pin) for the single-threaded benchmarks, pinned, and for
    those with threads:N, N > 1, not pinned; a run with nothing to do is left out. The names come
    from --benchmark_list_tests with the same arguments (--lm_threads sets the thread counts)."""
    rest = [a for a in extra_args if not a.startswith("--benchmark_filter=")]
    cmd, penv = runner.command("glibc", exe, extra_args + ["--benchmark_list_tests"])
    try:
        names = subprocess.run(cmd, capture_output=True, text=True, env=runner.env(penv),
                               timeout=60).stdout.split()
    except Exception:
        names = []
    if not names:
        if runner.opts.pin_cpu is not None:
            loud("lm_bench_micro --benchmark_list_tests listed nothing: micro benchmarks run unpinned")
        return [(extra_args, False)]
    threaded = lambda n: any(part.startswith("threads:") and part != "threads:1" for part in n.split("/"))
    runs = []
    for pick, pin in ((lambda n: not threaded(n), True), (threaded, False)):
        chosen = [n for n in names if pick(n)]
        if chosen:
            runs.append((rest + ["--benchmark_filter=^(%s)$" % "|".join(re.escape(n) for n in chosen)], pin))
    return runs or [(extra_args, False)]


def run_micro(runner, results, allocs, opts, rounds, extra_args, group="micro"):
    exe = os.path.join(runner.bench_dir, "lm_bench_micro")
    if not os.path.exists(exe):
        loud("lm_bench_micro is missing (libbenchmark-dev not installed?): micro group skipped")
        return
    runs = split_micro(runner, exe, extra_args)
    for rnd in range(rounds):
        for alloc in allocs:
            for part, (run_args, pin) in enumerate(runs):
                run_micro_part(runner, results, group, alloc, rnd, rounds, exe, extra_args, run_args, pin, part)


def run_micro_part(runner, results, group, alloc, rnd, rounds, exe, extra_args, run_args, pin, part):
    jout = os.path.join(runner.tmp, "gb-%s-%d-%d.json" % (alloc, rnd, part))
    args = run_args + ["--benchmark_out=" + jout, "--benchmark_out_format=json",
                       "--benchmark_format=console"]
    res = runner.run(alloc, exe, args, pin=pin)
    results.commands[(group, "*")] = "lm_bench_micro " + " ".join(extra_args)
    if not res["ok"]:
        record(results, group, "(binary)", alloc, rnd, res)
        return
    try:
        with open(jout) as f:
            data = json.load(f)
    except Exception as e:
        res["ok"] = False
        res["why"] = "unreadable Google Benchmark JSON: %s" % e
        record(results, group, "(binary)", alloc, rnd, res)
        return
    n = 0
    for b in data.get("benchmarks", []):
        name = b["name"]
        # Google Benchmark appends /real_time and /threads:N; keep threads, drop the rest.
        name = name.replace("/real_time", "").replace("/threads:", "/t")
        ips = b.get("items_per_second")
        if not ips:
            continue
        n += 1
        results.add(group, name, alloc, {"ok": True, "ns_per_op": 1e9 / ips, "checksum": None,
                                         "metrics": {}, "wall_s": None, "cpu_s": None,
                                         "maxrss_kb": res["maxrss_kb"]})
    log("[%s] round %d/%d %-9s %d benchmarks%s, %.1f s wall, peak %.1f MiB" % (
        group, rnd + 1, rounds, alloc, n, " (pinned)" if pin and runner.opts.pin_cpu is not None else "",
        res["wall_s"], res["maxrss_kb"] / 1024.0))


def run_workloads(runner, results, allocs, rounds, cases, group):
    for case, prog, args, desc in cases:
        exe = os.path.join(runner.bench_dir, "lm_wl_" + prog)
        results.desc[(group, case)] = desc
        results.commands[(group, case)] = "lm_wl_%s %s" % (prog, " ".join(args))
        if not os.path.exists(exe):
            loud("%s is missing: case %s skipped" % (exe, case))
            continue
        hung = set()
        for rnd in range(rounds):
            for alloc in allocs:
                if alloc in hung:
                    log("[%s] %-16s round %d/%d %-9s skipped: it hung in an earlier round" % (
                        group, case, rnd + 1, rounds, alloc))
                    continue
                res = runner.run(alloc, exe, args, pin=prog not in THREADED_WORKLOADS)
                if res.get("timed_out"):
                    hung.add(alloc)
                rec = record(results, group, case, alloc, rnd, res)
                mt = rec["metrics"]
                rss = ("  RSS peak %.0f, 1 s idle %.0f, 5 s idle %.0f, trimmed %.0f MiB" % tuple(
                    mt[k] / 1024.0 for k in ("peak_rss_kb", "idle1_rss_kb", "final_rss_kb", "trim_rss_kb"))
                       if group == "memory" and rec["ok"] and "trim_rss_kb" in mt else "")
                log("[%s] %-16s round %d/%d %-9s %s  checksum %s%s" % (
                    group, case, rnd + 1, rounds, alloc, fmt_run(rec), rec["checksum"], rss))
    results.check_checksums(group)


def sqlite_script(path, rows):
    with open(path, "w") as f:
        f.write("""PRAGMA cache_size=-32000;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, s TEXT, v REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
INSERT INTO t SELECT x, (x * 2654435761) %% 100003, printf('%%0*d', 10 + x %% 90, x), (x %% 977) * 1.5 FROM c;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_s ON t(s);
SELECT count(*), sum(k), sum(length(s)) FROM t;
SELECT k %% 100 AS g, count(*), sum(v), max(s) FROM t GROUP BY g ORDER BY g LIMIT 5;
SELECT count(*) FROM t a JOIN t b ON a.k = b.k + 1 WHERE a.id %% 10 = 0;
UPDATE t SET s = s || 'yy' WHERE id %% 3 = 0;
DELETE FROM t WHERE id %% 5 = 0;
SELECT count(*), sum(length(s)) FROM t;
SELECT length(group_concat(s, ',')) FROM (SELECT s FROM t ORDER BY s DESC);
SELECT s, count(*) FROM t GROUP BY substr(s, 1, 6) ORDER BY 2 DESC, 1 LIMIT 3;
""" % rows)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def resp(*parts):
    out = b"*%d\r\n" % len(parts)
    for p in parts:
        p = p if isinstance(p, bytes) else str(p).encode()
        out += b"$%d\r\n%s\r\n" % (len(p), p)
    return out


def run_redis(runner, results, alloc, rnd, opts, n_requests, group):
    """One redis-server under alloc, redis-benchmark against it, then a fixed data set
    whose DEBUG DIGEST is the checksum. The server is always shut down."""
    server = shutil.which("redis-server")
    client = shutil.which("redis-benchmark")
    cli = shutil.which("redis-cli")
    preload = runner.libs.get(alloc)
    if alloc == "glibc":
        preload = runner.shim  # Debian's redis-server links jemalloc
    port = free_port()
    wdir = tempfile.mkdtemp(dir=runner.tmp)
    out = os.path.join(runner.tmp, "redis-%s-%d.json" % (alloc, rnd))
    cmd, penv = runner.command(alloc, server, [
        "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--enable-debug-command", "local", "--dir", wdir, "--logfile", os.path.join(wdir, "log")],
        preload=preload, foreign=True)
    env = runner.env(penv)
    argv = [runner.rusage, "-t", str(opts.timeout), "-o", out, "--"] + cmd
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    res = {"argv": cmd, "env": penv, "stdout": "", "stderr_tail": "", "ok": False}
    try:
        deadline = time.time() + 30
        up = False
        while time.time() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                up = True
                break
            except OSError:
                time.sleep(0.05)
        if not up:
            raise RuntimeError("redis-server did not start")
        bargs = [client, "-h", "127.0.0.1", "-p", str(port), "-n", str(n_requests), "-c", "16", "-d", "128",
                 "-r", "20000", "-q", "--csv", "-t", "set,get,incr,lpush,rpop,sadd,hset,lrange_100"]
        results.commands[(group, "redis")] = (
            "redis-server --port PORT --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command local; "
            + " ".join(["redis-benchmark"] + ["PORT" if x == str(port) else x for x in bargs[1:]]))
        t0 = time.monotonic()
        b = subprocess.run(bargs, capture_output=True, text=True, timeout=opts.timeout)
        client_wall = time.monotonic() - t0
        rps = []
        for line in b.stdout.splitlines():
            cols = [c.strip('"') for c in line.split(",")]
            if len(cols) >= 2 and cols[0] != "test":
                try:
                    rps.append(float(cols[1]))
                except ValueError:
                    pass
        if b.returncode != 0 or not rps:
            raise RuntimeError("redis-benchmark failed: %s" % (b.stderr[-300:] or b.stdout[-300:]))
        # Fixed data set, then its digest: the same on every allocator unless data was damaged.
        load = bytearray(resp("FLUSHALL"))
        for i in range(3000):
            load += resp("SET", "key:%d" % i, "v" * (i % 200) + str(i))
            load += resp("RPUSH", "list:%d" % (i % 40), "item-%d" % i)
            load += resp("HSET", "hash:%d" % (i % 60), "f%d" % i, "x" * (i % 90))
            load += resp("SADD", "set:%d" % (i % 30), str(i * 7919 % 10007))
        for i in range(0, 3000, 3):
            load += resp("APPEND", "key:%d" % i, "tail" * (i % 50))
        for i in range(0, 3000, 7):
            load += resp("DEL", "key:%d" % i)
        p = subprocess.run([cli, "-h", "127.0.0.1", "-p", str(port), "--pipe"], input=bytes(load),
                           capture_output=True, timeout=120)
        d = subprocess.run([cli, "-h", "127.0.0.1", "-p", str(port), "DEBUG", "DIGEST"], capture_output=True,
                           text=True, timeout=60)
        digest = d.stdout.strip()
        if p.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40}", digest):
            raise RuntimeError("loading the fixed data set failed: %s %s" % (p.stdout[-200:], d.stdout + d.stderr))
        res["stdout"] = "checksum: %s\n" % digest
        res["rps"] = geomean(rps)
        res["client_wall"] = client_wall
    except Exception as e:
        res["why"] = str(e)
    finally:
        subprocess.run([cli, "-h", "127.0.0.1", "-p", str(port), "SHUTDOWN", "NOSAVE"], capture_output=True,
                       timeout=30)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the wrapper forwards it to the server's group
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        res["stderr_tail"] = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
        try:
            with open(os.path.join(wdir, "log"), errors="replace") as f:
                res["stderr_tail"] += "\nredis log: " + f.read()[-1000:]
        except OSError:
            pass
        shutil.rmtree(wdir, ignore_errors=True)
    ru = {}
    try:
        with open(out) as f:
            ru = json.load(f)
    except Exception:
        pass
    # The server's CPU time and peak RSS; the time column is the client's wall time.
    server_ok = ru.get("signal", 0) == 0 and ru.get("exit", 1) == 0
    if "why" not in res and not server_ok:
        res["why"] = "redis-server " + describe_failure(ru) if ru else "redis-server left no rusage record"
    res["ok"] = "why" not in res
    res["wall_s"] = res.get("client_wall")
    res["cpu_s"] = (ru["user_s"] + ru["sys_s"]) if ru.get("user_s") is not None else None
    res["maxrss_kb"] = ru.get("maxrss_kb")
    res["minflt"] = ru.get("minflt")
    return record(results, group, "redis", alloc, rnd, res, metric_from={"rps": res.get("rps")})


def run_real(runner, results, allocs, opts, rounds, mode, group="real"):
    s = {"smoke": 0, "quick": 1, "full": 2}[mode]
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    sqlite = shutil.which("sqlite3")
    have_redis = all(shutil.which(x) for x in ("redis-server", "redis-benchmark", "redis-cli"))
    py_rounds = [1, 4, 20][s]
    sql_rows = [2000, 100000, 600000][s]
    redis_n = [2000, 8000, 100000][s]
    script = os.path.join(HERE, "real", "py_alloc.py")
    sql = os.path.join(runner.tmp, "bench.sql")
    sqlite_script(sql, sql_rows)
    cases = []
    if python and os.path.exists(script):
        results.desc[(group, "python")] = ("python3 object churn (dicts, lists, JSON, trees, strings), "
                                           "PYTHONMALLOC=malloc")
        results.commands[(group, "python")] = "PYTHONMALLOC=malloc PYTHONHASHSEED=0 %s bench/real/py_alloc.py %d" % (
            python, py_rounds)
        cases.append(("python", lambda a, r: record(results, group, "python", a, r, runner.run(
            a, python, [script, str(py_rounds)], foreign=True,
            extra_env={"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}, pin=True))))
    else:
        loud("python3 not found: real/python skipped")
    if sqlite:
        results.desc[(group, "sqlite")] = ("sqlite3 :memory: with %d rows: insert, two indexes, group by, "
                                           "self-join, update, delete" % sql_rows)
        results.commands[(group, "sqlite")] = ("sqlite3 -batch :memory: < bench.sql (generated by run.py, %d rows)"
                                               % sql_rows)

        def sqlite_case(a, r):
            res = runner.run(a, sqlite, ["-batch", ":memory:"], stdin_path=sql, foreign=True, pin=True)
            if res["ok"] and res["stdout"].strip():
                res["stdout"] = "checksum: %s\n" % hashlib.sha1(res["stdout"].encode()).hexdigest()[:16]
            return record(results, group, "sqlite", a, r, res)
        cases.append(("sqlite", sqlite_case))
    else:
        loud("sqlite3 not found (Debian package sqlite3): real/sqlite skipped")
    if have_redis:
        results.desc[(group, "redis")] = ("redis-server on 127.0.0.1, redis-benchmark %d requests per test, "
                                          "16 clients, 8 tests; time = client wall, CPU and RSS = server" % redis_n)
        cases.append(("redis", lambda a, r: run_redis(runner, results, a, r, opts, redis_n, group)))
    else:
        loud("redis-server/redis-benchmark not found (Debian redis-server, redis-tools): real/redis skipped")
    for name, fn in cases:
        for rnd in range(rounds):
            for alloc in allocs:
                rec = fn(alloc, rnd)
                extra = (", %.0f req/s" % rec["metrics"]["rps"]) if rec["metrics"].get("rps") else ""
                log("[%s] %-16s round %d/%d %-9s %s%s  checksum %s" % (
                    group, name, rnd + 1, rounds, alloc, fmt_run(rec), extra, rec["checksum"]))
    results.check_checksums(group)


# ----------------------------------------------------------------------------- build

def ensure_built(opts):
    """Returns (bench_dir, libmalloc path, why libmalloc is missing or None, notes). Builds
    with meson/ninja when needed; a libmalloc that does not build is reported missing and
    the suite goes on with the other allocators."""
    notes = []
    build = os.path.abspath(opts.build_dir)
    lm = os.path.join(build, "libmalloc.so")
    if opts.bench_dir:
        return os.path.abspath(opts.bench_dir), lm, None, notes
    if opts.no_build:
        return os.path.join(build, "bench"), lm, None, notes
    if not os.path.exists(os.path.join(build, "build.ninja")):
        log("meson setup %s" % build)
        r = subprocess.run(["meson", "setup", build, REPO], capture_output=True, text=True)
        if r.returncode != 0:
            loud("meson setup failed (src/ not buildable right now?); building bench/ alone in a scaffold\n%s"
                 % (r.stdout[-1500:] + r.stderr[-500:]))
            notes.append("The project's `meson setup` failed; bench/ was built alone, without libmalloc.")
            return build_scaffold(notes), None, "the project did not configure (meson setup failed)", notes
    try:
        with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as f:
            bench_on = [o["value"] for o in json.load(f) if o["name"] == "bench"]
    except Exception:
        bench_on = [True]
    if bench_on and bench_on[0] is False:
        log("meson configure %s -Dbench=true" % build)
        subprocess.run(["meson", "configure", build, "-Dbench=true"], capture_output=True, text=True)
    r = subprocess.run(["ninja", "-C", build] + BENCH_TARGETS, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-2000:])
        loud("building the bench targets in %s failed; building bench/ alone in a scaffold" % build)
        notes.append("The bench targets did not build in %s; bench/ was built alone." % build)
        return build_scaffold(notes), None, "the project's build failed", notes
    r = subprocess.run(["ninja", "-C", build, "libmalloc.so"], capture_output=True, text=True)
    if r.returncode != 0:
        loud("libmalloc.so does not build right now:\n%s" % (r.stdout[-1500:] + r.stderr[-500:]))
        why = "libmalloc.so did not build (ninja -C %s libmalloc.so)" % build
        return os.path.join(build, "bench"), None, why, notes
    return os.path.join(build, "bench"), lm, None, notes


def build_scaffold(notes):
    """A throwaway meson project holding only bench/, for when src/ does not configure."""
    root = os.path.join(tempfile.gettempdir(), "lm-bench-scaffold-%d" % os.getuid())
    os.makedirs(root, exist_ok=True)
    link = os.path.join(root, "bench")
    if not os.path.islink(link):
        os.symlink(HERE, link)
    with open(os.path.join(root, "meson.build"), "w") as f:
        f.write("project('lmbench', 'cpp', default_options : ['cpp_std=c++20', 'buildtype=release'])\n"
                "cxx = meson.get_compiler('cpp')\nlm_inc = include_directories('.')\n"
                "libmalloc_so = shared_library('scaffold_dummy', 'dummy.cpp')\nsubdir('bench')\n")
    with open(os.path.join(root, "dummy.cpp"), "w") as f:
        f.write("int lm_bench_scaffold_dummy;\n")
    build = os.path.join(root, "build")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        subprocess.run(["meson", "setup", build, root], check=True, capture_output=True)
    subprocess.run(["ninja", "-C", build] + BENCH_TARGETS, check=True)
    return os.path.join(build, "bench")


# ----------------------------------------------------------------------------- machine info

def machine_info(bench_dir):
    info = {}
    lscpu = sh(["lscpu"])
    m = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
    info["cpu"] = m.group(1).strip() if m else platform.processor()
    info["cores"] = NPROC
    info["kernel"] = platform.release()
    try:
        with open("/proc/meminfo") as f:
            info["memory"] = "%.1f GiB" % (int(f.readline().split()[1]) / 1048576.0)
    except Exception:
        info["memory"] = "?"
    osr = ""
    try:
        with open("/etc/os-release") as f:
            osr = dict(l.rstrip().split("=", 1) for l in f if "=" in l).get("PRETTY_NAME", "").strip('"')
    except Exception:
        pass
    info["os"] = osr
    info["date"] = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    info["loadavg"] = "%.2f %.2f %.2f" % os.getloadavg()
    info["loader"] = os.environ.get("LM_BENCH_LOADER", "")
    bundled = os.path.join(bench_dir, "versions.json")
    if os.path.exists(bundled):
        with open(bundled) as f:
            info["versions"] = json.load(f)
        info["versions"]["note"] = "binaries and libraries carried from the build machine"
    else:
        info["versions"] = versions()
    return info


def versions():
    v = {}
    for pkg in ["libc6", "libjemalloc2", "libmimalloc2.0", "libbenchmark1debian", "python3", "sqlite3",
                "redis-server"]:
        v[pkg] = sh(["dpkg-query", "-W", "-f", "${Version}", pkg]) or "?"
    rev = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", REPO, "status", "--porcelain", "--", "src", "include", "preload", "meson.build"])
    v["libmalloc"] = (rev or "no commit yet") + (" + uncommitted changes" if dirty else "")
    v["compiler"] = sh(["c++", "--version"]).splitlines()[0] if sh(["c++", "--version"]) else "?"
    return v


# ----------------------------------------------------------------------------- report

def svg_escape(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


COLORS = {"glibc": "#7f7f7f", "jemalloc": "#1f77b4", "mimalloc": "#2ca02c", "libmalloc": "#d62728"}
VARIANT_COLORS = ["#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def color(a):
    """A fixed colour per allocator; variants get the next free one by name order."""
    if a in COLORS:
        return COLORS[a]
    COLORS[a] = VARIANT_COLORS[(len(COLORS) - 4) % len(VARIANT_COLORS)]
    return COLORS[a]


def legend(allocs, x0, y0):
    """Colour keys, four per line."""
    o = []
    for i, a in enumerate(allocs):
        x, y = x0 + (i % 4) * 170, y0 + 14 * (i // 4)
        o.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>' % (
            x, y, color(a), x + 14, y + 9, svg_escape(a)))
    return o


def svg_bars(path, title, cases, allocs, values, xlabel):
    """Horizontal grouped bars of values[case][alloc] / values[case]['glibc'] (ratio to
    glibc; glibc = 1). Bars past 4x are clipped and labelled."""
    bar_h, gap, left, width, top = 7, 8, 190, 560, 48
    rows = [c for c in cases if any(values.get(c, {}).get(a) for a in allocs)]
    top_ratio = max([values[c][a] / values[c]["glibc"] for c in rows for a in allocs
                     if values[c].get(a) and values[c].get("glibc")] + [1.0])
    cap = max(1.5, min(4.0, math.ceil(top_ratio * 2) / 2))
    step = 0.5 if cap <= 2 else 1.0
    top += 14 * ((len(allocs) - 1) // 4)
    height = top + len(rows) * (bar_h * len(allocs) + gap) + 40
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
         'font-size="11">' % (left + width + 70, height),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="10" y="18" font-size="14" font-weight="bold">%s</text>' % svg_escape(title)]
    o += legend(allocs, 10, 28)
    scale = width / cap
    for k in range(0, int(round(cap / step)) + 1):
        x = left + k * step * scale
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>' % (
            x, top - 4, x, height - 30, "#000" if abs(k * step - 1) < 1e-9 else "#ddd"))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%gx</text>' % (x, height - 16, k * step))
    o.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % (left + width / 2, height - 3, svg_escape(xlabel)))
    y = top
    for c in rows:
        base = values[c].get("glibc")
        o.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 6, y + bar_h * len(allocs) / 2 + 4,
                                                                       svg_escape(c)))
        for a in allocs:
            v = values[c].get(a)
            if v and base:
                r = v / base
                w = min(r, cap) * scale
                o.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %.3g (%.2fx glibc)'
                         '</title></rect>' % (left, y, w, bar_h - 1, color(a), svg_escape(c), a, v, r))
                if r > cap:
                    o.append('<text x="%.1f" y="%d" font-size="8">%.1fx</text>' % (left + w + 2, y + bar_h - 1, r))
            y += bar_h
        y += gap
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o))


def svg_lines(path, title, threads, allocs, series, ylabel):
    """series[alloc] = list of values per thread count (None = missing)."""
    left, top, width, height = 84, 50, 520, 300
    top_v = max([v for s in series.values() for v in s if v] + [1e-9])
    mag = 10 ** math.floor(math.log10(top_v))
    ystep = next(m * mag for m in (0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10) if top_v / (m * mag) <= 5)
    ymax = ystep * 5
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
         'font-size="11">' % (left + width + 30, top + height + 50),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="10" y="18" font-size="14" font-weight="bold">%s</text>' % svg_escape(title)]
    for i, a in enumerate(allocs):
        o.append('<rect x="%d" y="28" width="10" height="10" fill="%s"/><text x="%d" y="37">%s</text>' % (
            left + i * 110, color(a), left + i * 110 + 14, a))
    n = len(threads)
    xs = [left + (width * i / max(1, n - 1)) for i in range(n)]
    for i, t in enumerate(threads):
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (xs[i], top, xs[i], top + height))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (xs[i], top + height + 15, t))
    for k in range(6):
        yv = ymax * k / 5
        y = top + height - height * k / 5
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (left, y, left + width, y))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (left - 4, y + 4, round(yv, 6)))
    o.append('<text x="%d" y="%d" text-anchor="middle">threads</text>' % (left + width / 2, top + height + 32))
    o.append('<text x="16" y="%d" transform="rotate(-90 16 %d)" text-anchor="middle">%s</text>' % (
        top + height / 2, top + height / 2, svg_escape(ylabel)))
    for a in allocs:
        pts = [(xs[i], top + height - height * v / ymax) for i, v in enumerate(series.get(a, [])) if v]
        if pts:
            o.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                color(a), " ".join("%.1f,%.1f" % p for p in pts)))
            for p in pts:
                o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (p[0], p[1], color(a)))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o))


def medians(results, group, key, metric=False):
    """{case: {alloc: median}} over successful runs."""
    out = {}
    for case, per in results.cases.get(group, {}).items():
        for alloc, runs in per.items():
            vals = [(r["metrics"].get(key) if metric else r.get(key)) for r in runs if r.get("ok")]
            out.setdefault(case, {})[alloc] = median(vals)
    return out


def fmt_val(v, unit):
    if v is None:
        return "FAIL"
    if unit == "ns":
        return "%.1f ns" % v if v < 100 else "%.0f ns" % v
    if unit == "s":
        return "%.3f s" % v if v < 10 else "%.2f s" % v
    if unit == "MiB":
        return "%.1f MiB" % (v / 1024.0)
    if unit == "rps":
        return "%.0f/s" % v
    if unit == "count":
        return "%.0f" % v
    return "%.3g" % v


BASE_OF = {}  # variant name -> its base allocator (set by write_report)
BASE_ENV = {}  # variant name -> its extra environment (set by write_report)


def ratio_table(cases, allocs, vals, unit, higher_better=False):
    """Markdown table: value, ratio to glibc, ratio to the best other allocator (variants
    are compared with the other allocators, never with their own base or other variants)."""
    lines = ["| case | " + " | ".join(allocs) + " |", "|---|" + "---|" * len(allocs)]
    ratios = {a: [] for a in allocs}
    best_ratios = {a: [] for a in allocs}
    for c in cases:
        row = vals.get(c, {})
        if not any(row.get(a) is not None for a in allocs):
            continue
        cells = []
        for a in allocs:
            v = row.get(a)
            if v is None:
                cells.append("FAIL" if a in row else "-")
                continue
            g = row.get("glibc")
            others = [row.get(b) for b in allocs if b != a and b != BASE_OF.get(a) and b not in BASE_OF
                      and row.get(b)]
            if higher_better:
                rg = (g / v) if g else None       # <1 = better than glibc, as for times
                best = max(others) if others else None
                rb = (best / v) if best else None
            else:
                rg = (v / g) if g else None
                best = min(others) if others else None
                rb = (v / best) if best else None
            if rg:
                ratios[a].append(rg)
            if rb:
                best_ratios[a].append(rb)
            cells.append("%s (%s · %s)" % (fmt_val(v, unit), "%.2f" % rg if rg else "-", "%.2f" % rb if rb else "-"))
        lines.append("| %s | %s |" % (c, " | ".join(cells)))
    cells = []
    for a in allocs:
        g1, g2 = geomean(ratios[a]), geomean(best_ratios[a])
        cells.append("(%s · %s)" % ("%.2f" % g1 if g1 else "-", "%.2f" % g2 if g2 else "-"))
    lines.append("| **geomean** | %s |" % " | ".join(cells))
    return "\n".join(lines), {a: (geomean(ratios[a]), geomean(best_ratios[a])) for a in allocs}


def case_order(results, group):
    return list(results.cases.get(group, {}).keys())


def write_report(opts, main, scaling, out_md, plot_dir):
    os.makedirs(plot_dir, exist_ok=True)
    rel = os.path.relpath(plot_dir, os.path.dirname(os.path.abspath(out_md)))
    L = []
    meta = main["meta"] if main else scaling["meta"]
    res = Results.from_json(main["results"]) if main else Results()
    allocs = main["meta"]["allocators"] if main else scaling["meta"]["allocators"]
    variants = meta.get("variants", {}) if main else {}
    BASE_OF.clear()
    BASE_OF.update({n: v["base"] for n, v in variants.items()})
    BASE_ENV.clear()
    BASE_ENV.update({n: v["env"] for n, v in variants.items()})
    for i, n in enumerate(variants):
        COLORS.setdefault(n, VARIANT_COLORS[i % len(VARIANT_COLORS)])
    baseline = None
    bpath = getattr(opts, "baseline", None)
    if main and bpath and os.path.exists(bpath):
        with open(bpath) as f:
            baseline = json.load(f)
    L.append("# libmalloc benchmarks\n")
    L.append("Generated by `bench/run.py` (issue 3); every number below comes from the run described here. "
             "Rewrite it with the command under *How to reproduce*; do not edit numbers by hand.\n")
    if main:
        L += machine_section(main["meta"], "Machine and versions")
        L += status_section(main["meta"], res)
        L += goals_section(res, allocs, variants, scaling, baseline)
        L.append("## How measured\n")
        L.append(
            "- Each case runs as a separate process under each allocator: glibc with no preload, the others with "
            "`LD_PRELOAD=<library>` (redis-server: glibc through `bench/libglibc_shim.so`, since Debian's "
            "redis-server links jemalloc). Rounds are interleaved: for each case, %s, repeated %d times; "
            "tables show the **median** of the rounds.\n" % (" ".join(allocs), meta["rounds"]))
        if meta.get("pin_cpu") is not None:
            L.append("- Single-threaded cases (micro benchmarks without threads:N, the workloads but larson, prodcons "
                     "and threads_churn, python, sqlite, burst_idle) run pinned to CPU %d, every allocator on the "
                     "same one, so that which CPU a process lands on cannot favour one allocator (on the shared "
                     "2-vCPU machine of this project's reports, one vCPU once ran pair/64 1.6x slower than the other "
                     "for minutes, and processes started one after another landed on either vCPU in streaks). "
                     "Multi-threaded cases are not pinned.\n" % meta["pin_cpu"])
        L.append("- Wall time, CPU time (user+sys) and peak RSS (`ru_maxrss`) come from `lm_bench_rusage` "
                 "(bench/rusage.cpp, static), which forks, execs the program and collects `wait4()`'s rusage.\n")
        L.append("- Micro benchmarks: Google Benchmark (`lm_bench_micro`, Debian's libbenchmark, which calls "
                 "itself a DEBUG build: its loop overhead is the same for every allocator), one process per "
                 "allocator and round; "
                 "the figure is ns per allocation+free, from `items_per_second` (multi-threaded ones: aggregate "
                 "throughput over wall time, so lower is better everywhere).\n")
        L.append("- Cells read `value (ratio to glibc · ratio to the best of the other three)`; below 1.00 is "
                 "better (for redis req/s the ratios are inverted so that below 1.00 is still better). "
                 "The geomean row is over the cases of the table.\n")
        L.append("- Workloads and real programs print a checksum that depends only on the work; the runner "
                 "compares it across allocators and rounds (mismatch = loud error, non-zero exit).\n")
        if "memory" in res.cases:
            L.append("- The memory group (burst and idle, issue 6) is timed by design: its idle phase is 5 s of wall "
                     "time, so its wall time says nothing; it records RSS over time (from `/proc/self/statm`), "
                     "the burst's own duration and CPU time. It runs %d round(s) per allocator.\n"
                     % meta.get("memory_rounds", 1))
        if variants:
            L.append("- Variants are the same library with extra environment, measured in the same interleaved "
                     "rounds as the allocators: " + "; ".join(
                         "`%s` = %s with `%s` (%s)" % (n, v["base"], " ".join("%s=%s" % kv for kv in v["env"].items()),
                                                      ", ".join(v["groups"])) for n, v in variants.items())
                     + ". A variant's ratio to the best of the others leaves out its own base allocator.\n")
        L.append("- The machine is shared with other developers' builds and tests (see the load average above): "
                 "quick mode is meant for trends, and differences under ~10% are noise.\n")
        L += summary_section(res, allocs)
        L += commands_section(main["meta"], res)
        L += group_sections(res, allocs, plot_dir, rel, variants)
        L += memory_section(res, group_cols(res, allocs, variants, "memory"), plot_dir, rel)
    if scaling:
        L += scaling_section(scaling, plot_dir, rel)
    else:
        L.append("## Scaling (1-16 threads)\n")
        L.append("Not run yet. On a machine with 16 cores: `bench/run.py --full --groups scaling` (or the bundle's "
                 "`run-scaling.sh`, see the top of bench/run.py), then copy `results-scaling.json` to "
                 "docs/bench/ and run `bench/run.py --report-only`.\n")
    with open(out_md, "w") as f:
        f.write("\n".join(L) + "\n")
    log("wrote %s and plots in %s" % (out_md, plot_dir))


def machine_section(meta, heading, real=True):
    m = meta["machine"]
    L = ["## %s\n" % heading,
         "- Date: %s; mode `%s`, %d rounds; load average at the start %s (1, 5, 15 min)" % (
             m["date"], meta["mode"], meta["rounds"], m.get("loadavg", "not recorded")),
         "- CPU: %s, %d cores; memory %s; kernel %s; %s" % (m["cpu"], m["cores"], m["memory"], m["kernel"], m["os"])]
    v = m["versions"]
    L.append("- Versions: glibc (libc6) %s, jemalloc (libjemalloc2) %s, mimalloc (libmimalloc2.0) %s, "
             "Google Benchmark %s, libmalloc %s; %s" % (
                 v.get("libc6"), v.get("libjemalloc2"), v.get("libmimalloc2.0"), v.get("libbenchmark1debian"),
                 v.get("libmalloc"), v.get("compiler")))
    if real:
        L.append("- Real programs: python3 %s, sqlite3 %s, redis-server %s" % (
            v.get("python3"), v.get("sqlite3"), v.get("redis-server")))
    if v.get("note"):
        L.append("- %s" % v["note"])
    if m.get("loader"):
        L.append("- Programs ran through the dynamic loader `%s --library-path ...`" % m["loader"])
    L.append("- Libraries: " + ", ".join("%s = `%s`" % (a, p or "(none, glibc)") for a, p in meta["libs"].items()))
    L.append("")
    return L


def status_section(meta, res):
    L = ["## Status\n"]
    bad = False
    for a, why in meta.get("missing", {}).items():
        L.append("- **MISSING: %s** — %s; it is left out of every table." % (a, why))
        bad = True
    for n in meta.get("notes", []):
        L.append("- %s" % n)
    for m in res.mismatches:
        if m.get("reference"):
            L.append("- CHECKSUM MISMATCH of a reference variant (not counted) in %s/%s: %s" % (
                m["group"], m["case"], m["detail"]))
            continue
        L.append("- **CHECKSUM MISMATCH** in %s/%s: %s" % (m["group"], m["case"], m["detail"]))
        bad = True
    for f in res.failures:
        if f["alloc"] in REFERENCE_VARIANTS:
            L.append("- FAILURE of a reference variant (not counted) %s/%s under %s, round %d: %s — `%s%s`" % (
                f["group"], f["case"], f["alloc"], f["round"] + 1, f["why"],
                "".join("%s=%s " % kv for kv in f.get("env", {}).items()), f["argv"]))
            continue
        L.append("- **FAILURE** %s/%s under %s, round %d: %s — `%s%s`" % (
            f["group"], f["case"], f["alloc"], f["round"] + 1, f["why"],
            "".join("%s=%s " % kv for kv in f.get("env", {}).items()), f["argv"]))
        bad = True
    if not bad:
        L.append("- All allocators present; no crash, no checksum mismatch (all checksums agree).")
    L.append("")
    return L


def summary_section(res, allocs):
    """Geometric means per group: the one-glance view of the tables below."""
    rows = []
    for g, key, label in (("micro", "ns_per_op", "micro: time per operation"),
                          ("workloads", "wall_s", "workloads: wall time"),
                          ("workloads", "cpu_s", "workloads: CPU time"),
                          ("workloads", "maxrss_kb", "workloads: peak RSS"),
                          ("real", "wall_s", "real programs: wall time"),
                          ("real", "cpu_s", "real programs: CPU time"),
                          ("real", "maxrss_kb", "real programs: peak RSS")):
        if g not in res.cases:
            continue
        vals = medians(res, g, key)
        _, gm = ratio_table(case_order(res, g), allocs, vals, "s")
        rows.append("| %s | %s |" % (label, " | ".join(
            "%s · %s" % ("%.2f" % gm[a][0] if gm[a][0] else "-", "%.2f" % gm[a][1] if gm[a][1] else "-")
            for a in allocs)))
    if not rows:
        return []
    return ["## Summary\n",
            "Geometric mean over each group's cases of the ratio to glibc · the ratio to the best of the other "
            "three allocators (below 1.00 is better).\n",
            "| group | " + " | ".join(allocs) + " |", "|---|" + "---|" * len(allocs)] + rows + [""]


def commands_section(meta, res):
    L = ["## How to reproduce\n",
         "Debian packages: `meson ninja-build g++ libbenchmark-dev libjemalloc-dev libmimalloc-dev python3 sqlite3 "
         "redis-server redis-tools` (the runner needs python3's standard library only and writes the SVG plots "
         "itself; GNU time is not needed; the ASan runtime of the redzone comparison is libasan8, which g++ "
         "installs).\n",
         "The everyday command is `bench/run.py --quick` (`--full` for more rounds and larger counts; it runs "
         "`meson setup`/`ninja` in build/ when needed). This report came from:\n", "```", meta["command"], "```\n",
         "Each program below was run as `lm_bench_rusage -o OUT -- PROGRAM ARGS` with no preload (glibc) or "
         "`LD_PRELOAD=<library>` (variants: plus their environment, see *How measured*); binaries were in `%s`.\n"
         % meta.get("bench_dir", "build/bench"), "```"]
    for (g, c), cmd in sorted(res.commands.items()):
        L.append("%-10s %-16s %s" % (g, c, cmd))
    L.append("```\n")
    return L


GROUP_TITLES = {"micro": "Micro benchmarks (ns per operation)", "workloads": "Workloads", "real": "Real programs"}


def group_cols(res, allocs, variants, group):
    """The columns of a group: the allocators, then the variants that ran in it."""
    seen = set()
    for per in res.cases.get(group, {}).values():
        seen |= set(per)
    return allocs + [n for n in variants if n in seen]


def group_sections(res, base_allocs, plot_dir, rel, variants=None):
    L = []
    variants = variants or {}
    allocs = base_allocs
    if "micro" in res.cases:
        cases = case_order(res, "micro")
        vals = medians(res, "micro", "ns_per_op")
        crashed = {f["alloc"] for f in res.failures if f["group"] == "micro"}
        for c in cases:
            for a in crashed:
                vals[c].setdefault(a, None)  # shown as FAIL, not as absent
        L.append("## %s\n" % GROUP_TITLES["micro"])
        table, _ = ratio_table(cases, allocs, vals, "ns")
        L.append(table + "\n")
        svg_bars(os.path.join(plot_dir, "micro-time.svg"), "Micro benchmarks: time per operation, ratio to glibc",
                 cases, allocs, vals, "time relative to glibc (shorter is better)")
        L.append("![micro benchmarks, time relative to glibc](%s/micro-time.svg)\n" % rel)
    for g in ("workloads", "real"):
        if g not in res.cases:
            continue
        allocs = group_cols(res, base_allocs, variants, g)
        cases = case_order(res, g)
        L.append("## %s\n" % GROUP_TITLES[g])
        for c in cases:
            if (g, c) in res.desc:
                L.append("- `%s`: %s" % (c, res.desc[(g, c)]))
        L.append("")
        wall = medians(res, g, "wall_s")
        cpu = medians(res, g, "cpu_s")
        rss = medians(res, g, "maxrss_kb")
        tables = [("Wall time", wall, "s"), ("CPU time (user+sys)", cpu, "s"), ("Peak RSS", rss, "MiB")]
        if g == "workloads":
            # First touches of fresh pages cost 12-20 us each here (DESIGN.md): the fault count explains
            # much of the time of the large-block cases.
            tables.append(("Minor page faults", medians(res, g, "minflt"), "count"))
        for title, vals, unit in tables:
            L.append("### %s: %s\n" % (GROUP_TITLES[g], title))
            L.append(ratio_table(cases, allocs, vals, unit)[0] + "\n")
        if g == "workloads" and "frag" in res.cases[g]:
            L.append("### Fragmentation workload: RSS at each step\n")
            sub = {}
            for k in ("phase3_rss_kb", "survivor_rss_kb", "final_rss_kb"):
                sub[k.replace("_kb", "")] = medians(res, g, k, metric=True).get("frag", {})
            L.append(ratio_table(list(sub.keys()), allocs, sub, "MiB")[0] + "\n")
            L.append("(`phase3_rss`: survivors plus the new blocks live; `survivor_rss`: after the new blocks "
                     "are freed; `final_rss`: after everything is freed, no malloc_trim.)\n")
        if g == "workloads" and "large" in res.cases[g]:
            fr = medians(res, g, "final_rss_kb", metric=True).get("large", {})
            mf = medians(res, g, "minflt").get("large", {})
            L.append("Large-block workload, RSS after all buffers are freed: " + ", ".join(
                "%s %s" % (a, fmt_val(fr.get(a), "MiB")) for a in allocs if a in fr) +
                     "; minor page faults: " + ", ".join("%s %s" % (a, "%.0f" % mf[a] if mf.get(a) else "-")
                                                         for a in allocs if a in mf) + ".\n")
        if g == "real" and "redis" in res.cases[g]:
            rps = {"redis": medians(res, g, "rps", metric=True).get("redis", {})}
            L.append("### redis-benchmark throughput (geomean of the 8 tests' requests/s)\n")
            L.append(ratio_table(["redis"], allocs, rps, "rps", higher_better=True)[0] + "\n")
        svg_bars(os.path.join(plot_dir, "%s-time.svg" % g), "%s: wall time, ratio to glibc" % GROUP_TITLES[g],
                 cases, allocs, wall, "wall time relative to glibc (shorter is better)")
        svg_bars(os.path.join(plot_dir, "%s-rss.svg" % g), "%s: peak RSS, ratio to glibc" % GROUP_TITLES[g],
                 cases, allocs, rss, "peak RSS relative to glibc (shorter is better)")
        L.append("![%s wall time](%s/%s-time.svg)\n" % (g, rel, g))
        L.append("![%s peak RSS](%s/%s-rss.svg)\n" % (g, rel, g))
        if g == "workloads":
            L += redzone_section(res, allocs)
    return L


def scaling_section(scaling, plot_dir, rel):
    meta = scaling["meta"]
    res = Results.from_json(scaling["results"])
    allocs = meta["allocators"]
    threads = meta["threads"]
    L = ["## Scaling (1-16 threads)\n"]
    L += machine_section(meta, "Scaling machine", real=False)[1:]
    L += status_section(meta, res)[1:]
    L.append("Command: `%s`. Median of %d interleaved rounds. Throughput is operations per second of wall "
             "time, all threads together (larson: slot replacements; prodcons: messages; micro: allocations). "
             "The work per thread is fixed, so perfect scaling doubles throughput with the threads, up to the "
             "core count (%d here). prodcons with T threads runs max(1, T/2) producer/consumer pairs.\n" % (
                 meta["command"], meta["rounds"], meta["machine"]["cores"]))
    series_all = {}
    wall = medians(res, "scaling", "wall_s")
    ops = medians(res, "scaling", "ops", metric=True)
    for name in ("larson", "prodcons"):
        series_all[name] = {a: [] for a in allocs}
        for t in threads:
            c = "%s/%d" % (name, t)
            for a in allocs:
                w, n = wall.get(c, {}).get(a), ops.get(c, {}).get(a)
                series_all[name][a].append(n / w if w and n else None)
    micro = medians(res, "scaling-micro", "ns_per_op")
    for name in ("pair_mt/64", "xthread/64", "xthread/8192"):
        series_all[name] = {a: [] for a in allocs}
        for t in threads:
            c = "%s/t%d" % (name, t)
            for a in allocs:
                v = micro.get(c, {}).get(a)
                series_all[name][a].append(1e9 / v if v else None)
    for name, series in series_all.items():
        if not any(v for s in series.values() for v in s):
            continue
        L.append("### %s\n" % name)
        L.append("Million operations per second (ratio to glibc at the same thread count · speed-up over the "
                 "allocator's own smallest thread count).\n")
        L.append("| threads | " + " | ".join(allocs) + " |")
        L.append("|---|" + "---|" * len(allocs))
        for i, t in enumerate(threads):
            row = {a: series[a][i] for a in allocs}
            if not any(row.values()):
                continue
            g = row.get("glibc")
            cells = []
            for a in allocs:
                v = row[a]
                if not v:
                    cells.append("-")
                    continue
                base = next((x for x in series[a] if x), None)
                cells.append("%.2f (%s · %.2f)" % (v / 1e6, "%.2f" % (v / g) if g else "-", v / base if base else 0))
            L.append("| %d | %s |" % (t, " | ".join(cells)))
        L.append("")
        fname = "scaling-%s.svg" % name.replace("/", "-")
        svg_lines(os.path.join(plot_dir, fname), "%s: throughput vs threads" % name, threads, allocs,
                  {a: [v / 1e6 if v else None for v in vs] for a, vs in series.items()}, "million ops/s")
        L.append("![%s scaling](%s/%s)\n" % (name, rel, fname))
    return L


def med(res, group, case, alloc, key, metric=False):
    runs = res.cases.get(group, {}).get(case, {}).get(alloc, [])
    return median([(r["metrics"].get(key) if metric else r.get(key)) for r in runs if r.get("ok")])


def verdict(value, target, lower_better=True):
    """'met' or how far off, for a ratio against its target."""
    if value is None:
        return "not measured"
    if lower_better:
        if value > 2 * target:
            return "missed: %.1fx the target" % (value / target)
        return "**met**" if value <= target else "missed by %.0f%%" % ((value / target - 1) * 100)
    return "**met**" if value >= target else "missed by %.0f%%" % ((1 - value / target) * 100)


def median_series(runs):
    """[(ms, KiB)] median over rounds per sample time."""
    by_t = {}
    for r in runs:
        if r.get("ok"):
            for t, kb in r.get("series", []):
                by_t.setdefault(t, []).append(kb)
    return [(t, median(v)) for t, v in sorted(by_t.items())]


def goals_section(res, allocs, variants, scaling, baseline):
    """The headline: each measured goal of issues 4, 5 and 6, its figure and whether it is met."""
    rows = []
    lm, mi, gl = "libmalloc", "mimalloc", "glibc"
    peers = [a for a in ("glibc", "jemalloc", "mimalloc") if a in allocs]
    if lm not in allocs:
        return ["## Goals\n", "libmalloc did not run: no goal can be checked.\n"]
    wl = res.cases.get("workloads", {})
    wl_cases = [c for c in wl if lm in wl[c]]
    if wl_cases and mi in allocs:
        r = [med(res, "workloads", c, lm, "wall_s") / med(res, "workloads", c, mi, "wall_s") for c in wl_cases
             if med(res, "workloads", c, lm, "wall_s") and med(res, "workloads", c, mi, "wall_s")]
        gm = geomean(r)
        rows.append(("4", "workloads: geomean of libmalloc's wall time ÷ mimalloc's (%d cases)" % len(r),
                     "%.2f (per case %.2f-%.2f)" % (gm, min(r), max(r)) if gm else "-", "≤ 1.00", verdict(gm, 1.0)))
    if wl_cases and gl in allocs:
        r = [med(res, "workloads", c, lm, "maxrss_kb") / med(res, "workloads", c, gl, "maxrss_kb") for c in wl_cases
             if med(res, "workloads", c, lm, "maxrss_kb") and med(res, "workloads", c, gl, "maxrss_kb")]
        gm = geomean(r)
        rows.append(("4", "workloads: geomean of libmalloc's peak RSS ÷ glibc's", "%.2f" % gm if gm else "-",
                     "≤ 1.00", verdict(gm, 1.0)))
    micro = res.cases.get("micro", {})
    pairs = [c for c in micro if re.fullmatch(r"pair/(\d+)", c) and 16 <= int(c.split("/")[1]) <= 1024]
    if pairs and mi in allocs:
        r = {c: med(res, "micro", c, lm, "ns_per_op") / med(res, "micro", c, mi, "ns_per_op") for c in pairs
             if med(res, "micro", c, lm, "ns_per_op") and med(res, "micro", c, mi, "ns_per_op")}
        gm = geomean(list(r.values()))
        worst = max(r, key=r.get) if r else None
        rows.append(("4", "single-thread malloc/free pair, 16-1024 B (%d sizes): libmalloc's time ÷ mimalloc's" % len(r),
                     "geomean %.2f (%.2f-%.2f; worst %s)" % (gm, min(r.values()), max(r.values()), worst) if gm else "-",
                     "≤ 1.00", verdict(gm, 1.0)))
    for c in ("larson", "prodcons"):
        if c in wl and mi in allocs:
            a, b = med(res, "workloads", c, lm, "wall_s"), med(res, "workloads", c, mi, "wall_s")
            m = re.search(r"threads=(\d+)", res.commands.get(("workloads", c), ""))
            v = b / a if a and b else None
            rows.append(("4", "%s at %s threads: libmalloc's throughput ÷ mimalloc's (same work: time ratio "
                              "inverted)" % (c, m.group(1) if m else "?"),
                         "%.2f" % v if v else "-", "≥ 1.00", verdict(v, 1.0, lower_better=False)))
    if scaling and mi in scaling["meta"]["allocators"] and lm in scaling["meta"]["allocators"]:
        sres = Results.from_json(scaling["results"])
        top = max(scaling["meta"]["threads"])
        for c in ("larson", "prodcons"):
            cc = "%s/%d" % (c, top)
            a, b = med(sres, "scaling", cc, lm, "wall_s"), med(sres, "scaling", cc, mi, "wall_s")
            na, nb = med(sres, "scaling", cc, lm, "ops", True), med(sres, "scaling", cc, mi, "ops", True)
            v = (na / a) / (nb / b) if a and b and na and nb else None
            rows.append(("4", "%s at %d threads on the %d-core machine (Scaling section, libmalloc %s): throughput "
                              "÷ mimalloc's" % (c, top, scaling["meta"]["machine"]["cores"],
                                                scaling["meta"]["machine"]["versions"].get("libmalloc", "?").split(" ")[0]),
                         "%.2f" % v if v else "-", "≥ 1.00",
                         verdict(v, 1.0, lower_better=False)))
    if "frag" in wl and peers:
        for key, metric, label in (("maxrss_kb", False, "peak"), ("final_rss_kb", True, "final")):
            vals = {a: med(res, "workloads", "frag", a, key, metric) for a in peers + [lm]}
            best = min((v, a) for a, v in vals.items() if a != lm and v) if any(vals[a] for a in peers) else None
            v = vals[lm] / best[0] if best and vals[lm] else None
            rows.append(("4", "fragmentation workload, %s RSS: libmalloc ÷ the smallest of the three (%s, %s)" % (
                label, best[1] if best else "-", fmt_val(best[0], "MiB") if best else "-"),
                "%.2f (%s)" % (v, fmt_val(vals[lm], "MiB")) if v else "-", "≤ 1.00", verdict(v, 1.0)))
    bi = res.cases.get("memory", {}).get("burst_idle", {})
    if lm in bi and gl in bi:
        gtrim = med(res, "memory", "burst_idle", gl, "trim_rss_kb", True)
        fin = med(res, "memory", "burst_idle", lm, "final_rss_kb", True)
        trim = med(res, "memory", "burst_idle", lm, "trim_rss_kb", True)
        when = next((t for t, kb in median_series(bi[lm]) if gtrim and kb is not None and kb <= 2 * gtrim), None)
        v = fin / gtrim if fin and gtrim else None
        rows.append(("6", "burst and idle: libmalloc's RSS after 5 s idle, no malloc_trim ÷ glibc's after "
                          "malloc_trim(0) (%s)" % fmt_val(gtrim, "MiB"),
                     "%.2f (%s; %s)" % (v, fmt_val(fin, "MiB"), "≤ 2x from %.1f s of idle on" % (when / 1000.0)
                                        if when is not None else "never ≤ 2x in the idle phase") if v else "-",
                     "≤ 2.00", verdict(v, 2.0)))
        v = trim / gtrim if trim and gtrim else None
        rows.append(("6", "burst and idle: libmalloc's RSS after malloc_trim(0) ÷ glibc's after malloc_trim(0)",
                     "%.2f (%s)" % (v, fmt_val(trim, "MiB")) if v else "-", "≤ 1.00", verdict(v, 1.0)))
    if baseline and wl_cases and gl in allocs:
        bres = Results.from_json(baseline["results"])
        bver = baseline["meta"]["machine"]["versions"].get("libmalloc", "?").split(" ")[0]
        now = geomean([med(res, "workloads", c, lm, "wall_s") / med(res, "workloads", c, gl, "wall_s")
                       for c in wl_cases if med(res, "workloads", c, lm, "wall_s") and med(res, "workloads", c, gl, "wall_s")])
        bc = [c for c in bres.cases.get("workloads", {}) if c in wl_cases]
        before = geomean([med(bres, "workloads", c, lm, "wall_s") / med(bres, "workloads", c, gl, "wall_s")
                          for c in bc if med(bres, "workloads", c, lm, "wall_s") and med(bres, "workloads", c, gl, "wall_s")])
        if now and before:
            ch = now / before
            rows.append(("6", "workloads: libmalloc's wall time ÷ glibc's (geomean), now vs before issue 6 (%s, "
                              "docs/bench/results-baseline.json, same cases)" % bver,
                         "%.2f now, %.2f before (%+.0f%%)" % (now, before, (ch - 1) * 100), "no worse (±10% noise)",
                         "**met**" if ch <= 1.10 else "missed: %.0f%% slower relative to glibc" % ((ch - 1) * 100)))
    rz = [n for n, v in variants.items() if "redzone=1" in v["env"].get("LIBMALLOC_OPTIONS", "")]
    if rz:
        n = rz[0]
        r = {c: med(res, "workloads", c, n, "wall_s") / med(res, "workloads", c, lm, "wall_s") for c in wl_cases
             if med(res, "workloads", c, n, "wall_s") and med(res, "workloads", c, lm, "wall_s")}
        failed = sorted({f["case"] for f in res.failures if f["alloc"] == n})
        if r:
            worst = max(r, key=r.get)
            rows.append(("5", "redzone mode: wall time ÷ fast mode's, per workload (%d cases%s)" % (
                len(r), "; failed: " + ", ".join(failed) if failed else ""),
                "geomean %.2f, worst %.2f (%s)" % (geomean(list(r.values())), r[worst], worst), "≤ 3.00 each",
                verdict(r[worst], 3.0) + ("; not measured on " + ", ".join(failed) if failed else "")))
            a = {c: med(res, "workloads", c, ASAN_VARIANT, "wall_s") / med(res, "workloads", c, lm, "wall_s")
                 for c in r if ASAN_VARIANT in variants and med(res, "workloads", c, ASAN_VARIANT, "wall_s")}
            if a:
                aw = max(a, key=a.get)
                rows.append(("5", "for reference, not a goal: ASan's runtime preloaded the same way (see the redzone "
                                  "section), wall time ÷ fast mode's, per workload (%d cases)" % len(a),
                             "geomean %.2f, worst %.2f (%s); redzone mode's time ÷ ASan's: geomean %.2f" % (
                                 geomean(list(a.values())), a[aw], aw,
                                 geomean([r[c] / a[c] for c in a])), "-", "-"))
        else:
            rows.append(("5", "redzone mode: wall time ÷ fast mode's", "no successful run", "≤ 3.00", "not measured"))
    L = ["## Goals (issues 4, 5 and 6)\n",
         "Each goal as the issues state it, from this run's medians (ratios of the same run, so the machine's "
         "speed cancels out; quick mode on a shared machine: ~10% is noise).\n",
         "| issue | goal | measured | target | verdict |", "|---|---|---|---|---|"]
    L += ["| %s | %s | %s | %s | %s |" % row for row in rows]
    L.append("")
    return L


def redzone_section(res, allocs):
    """Issue 5: redzone mode's time and peak RSS against the fast mode and glibc (and against
    ASan's runtime preloaded the same way, when it ran)."""
    rz = [a for a in allocs if a in BASE_OF and "redzone" in a]
    if not rz or "libmalloc" not in allocs:
        return []
    n = rz[0]
    asan = ASAN_VARIANT if ASAN_VARIANT in allocs else None
    L = ["### Redzone mode against the fast mode (issue 5)\n",
         "`%s`: libmalloc with redzones, shadow bytes and the quarantine at its default size. Goal: at most 3x the "
         "fast mode's time on each workload.\n" % n]
    head = ["wall ÷ fast", "CPU ÷ fast", "wall ÷ glibc", "peak RSS ÷ fast", "peak RSS ÷ glibc"]
    if asan:
        L.append("`%s`: GCC's AddressSanitizer runtime (%s) preloaded into the same uninstrumented programs "
                 "(`ASAN_OPTIONS=%s`): what a user without a rebuild would otherwise run. Its allocator puts "
                 "redzones and shadow around every block and holds freed blocks in a 256 MiB quarantine, as redzone "
                 "mode does, and fills the first 4 KiB of each new block; without compiler instrumentation it "
                 "checks the ranges of the libc calls it intercepts (memcpy, strcpy, strlen, ...: redzone mode "
                 "checks those too) and double, bad and mismatched frees, but it writes no pattern into redzones "
                 "or freed blocks, so an overflow or a write after free made by the program's own stores goes "
                 "unreported (checked on this machine: overflows by 1 and by 5 bytes), where redzone mode finds "
                 "it at free or when the block leaves the quarantine. The last two columns compare the two "
                 "tools.\n" % (asan, BASE_OF.get(asan, ASAN_LIB), BASE_ENV.get(asan, {}).get("ASAN_OPTIONS", "")))
        head += ["ASan wall ÷ fast", "redzone wall ÷ ASan's"]
    L += ["| case | %s |" % " | ".join(head), "|---|%s" % ("---|" * len(head))]
    cols = {k: [] for k in range(len(head))}
    for c in case_order(res, "workloads"):
        v = {k: med(res, "workloads", c, n, k) for k in ("wall_s", "cpu_s", "maxrss_kb")}
        f = {k: med(res, "workloads", c, "libmalloc", k) for k in ("wall_s", "cpu_s", "maxrss_kb")}
        g = {k: med(res, "workloads", c, "glibc", k) for k in ("wall_s", "cpu_s", "maxrss_kb")}
        if v["wall_s"] is None:
            L.append("| %s | FAIL |%s" % (c, " |" * (len(head) - 1)))
            continue
        div = lambda a, b: a / b if a and b else None
        rr = [div(v["wall_s"], f["wall_s"]), div(v["cpu_s"], f["cpu_s"]), div(v["wall_s"], g["wall_s"]),
              div(v["maxrss_kb"], f["maxrss_kb"]), div(v["maxrss_kb"], g["maxrss_kb"])]
        if asan:
            a = med(res, "workloads", c, asan, "wall_s")
            rr += [div(a, f["wall_s"]), div(v["wall_s"], a)]
        for k, x in enumerate(rr):
            if x:
                cols[k].append(x)
        L.append("| %s | %s |" % (c, " | ".join("%.2f" % x if x else "-" for x in rr)))
    L.append("| **geomean** | %s |" % " | ".join("%.2f" % geomean(cols[k]) if geomean(cols[k]) else "-"
                                                 for k in range(len(head))))
    L.append("")
    return L


def svg_rss_time(path, title, allocs, series, peak, trim, goal_kb=None):
    """RSS over the idle phase: one line per allocator (variants dashed), the peak drawn at
    the left of t=0 and the value after malloc_trim(0) at the right of the last sample."""
    left, top, width, height = 84, 64, 600, 320
    tmax = max([t for s in series.values() for t, _ in s] + [1000])
    vals = [kb for s in series.values() for _, kb in s if kb] + [v for v in peak.values() if v] + \
           [v for v in trim.values() if v]
    top_v = max(vals + [1]) / 1024.0
    mag = 10 ** math.floor(math.log10(top_v))
    ystep = next(m * mag for m in (0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10) if top_v / (m * mag) <= 5)
    ymax = ystep * math.ceil(top_v / ystep)
    top += 14 * ((len(allocs) - 1) // 4)
    span = tmax * 1.2  # -10%: peak, 0..tmax: idle, +10%: after trim
    X = lambda t: left + width * (t + tmax * 0.1) / span
    Y = lambda kb: top + height - height * (kb / 1024.0) / ymax
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
         'font-size="11">' % (left + width + 30, top + height + 50),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="10" y="18" font-size="14" font-weight="bold">%s</text>' % svg_escape(title)]
    o += legend(allocs, 10, 30)
    k = 0
    while k * ystep <= ymax + 1e-9:
        y = top + height - height * k * ystep / ymax
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (left, y, left + width, y))
        o.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (left - 4, y + 4, round(k * ystep, 6)))
        k += 1
    step = 1000 if tmax >= 2000 else 100
    for t in range(0, int(tmax) + 1, step):
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (X(t), top, X(t), top + height))
        o.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>' % (X(t), top + height + 15, t / 1000.0))
    o.append('<text x="%.1f" y="%d" text-anchor="middle">peak</text>' % (X(-tmax * 0.05), top + height + 15))
    o.append('<text x="%.1f" y="%d" text-anchor="middle">trim</text>' % (X(tmax * 1.05), top + height + 15))
    o.append('<text x="%d" y="%d" text-anchor="middle">seconds of idle after the frees (peak: end of the burst; '
             'trim: after malloc_trim(0))</text>' % (left + width / 2, top + height + 32))
    o.append('<text x="16" y="%d" transform="rotate(-90 16 %d)" text-anchor="middle">RSS (MiB)</text>' % (
        top + height / 2, top + height / 2))
    if goal_kb:
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#000" stroke-dasharray="2,3"/>' % (
            left, Y(goal_kb), left + width, Y(goal_kb)))
        o.append('<text x="%d" y="%.1f" text-anchor="end" font-size="9">goal: 2x glibc after trim</text>' % (
            left + width - 2, Y(goal_kb) - 3))
    for a in allocs:
        dash = ' stroke-dasharray="6,3"' if a in BASE_OF else ""
        pts = [(X(t), Y(kb)) for t, kb in series.get(a, []) if kb is not None]
        if not pts:
            continue
        if peak.get(a):
            o.append('<polyline fill="none" stroke="%s" stroke-width="1" stroke-dasharray="1,2" points="%.1f,%.1f '
                     '%.1f,%.1f"/>' % (color(a), X(-tmax * 0.05), Y(peak[a]), pts[0][0], pts[0][1]))
            o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (X(-tmax * 0.05), Y(peak[a]), color(a)))
        o.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>' % (
            color(a), dash, " ".join("%.1f,%.1f" % p for p in pts), svg_escape(a)))
        if trim.get(a):
            o.append('<polyline fill="none" stroke="%s" stroke-width="1" stroke-dasharray="1,2" points="%.1f,%.1f '
                     '%.1f,%.1f"/>' % (color(a), pts[-1][0], pts[-1][1], X(tmax * 1.05), Y(trim[a])))
            o.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (X(tmax * 1.05), Y(trim[a]), color(a)))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o))


def memory_section(res, allocs, plot_dir, rel):
    """Issue 6: the burst-and-idle workload, RSS over time."""
    g, c = "memory", "burst_idle"
    per = res.cases.get(g, {}).get(c)
    if not per:
        return []
    allocs = [a for a in allocs if a in per]
    L = ["## Giving memory back (burst and idle)\n"]
    if (g, c) in res.desc:
        L.append("`lm_wl_burst_idle` (bench/workloads/burst_idle.cpp): %s. RSS is read from `/proc/self/statm`. "
                 "Issue 6's goal: libmalloc falls by itself, without malloc_trim, to at most twice what glibc "
                 "reaches with malloc_trim(0), within the 5 s; after malloc_trim(0) it is at or below glibc.\n"
                 % res.desc[(g, c)])
    m = lambda a, k: med(res, g, c, a, k, True)
    gtrim = m("glibc", "trim_rss_kb") if "glibc" in per else None
    L.append("| allocator | burst: alloc+write / free | CPU (whole run) | peak | after the frees | 1 s idle | "
             "5 s idle, no trim | after malloc_trim(0) | 5 s idle ÷ glibc after trim | after trim ÷ glibc after "
             "trim | ≤ 2x glibc-after-trim from |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    series, peak, trim = {}, {}, {}
    for a in allocs:
        series[a] = median_series(per[a])
        peak[a], trim[a] = m(a, "peak_rss_kb"), m(a, "trim_rss_kb")
        if peak[a] is None:
            L.append("| %s | FAIL |||||||||| " % a)
            continue
        fin = m(a, "final_rss_kb")
        when = next((t for t, kb in series[a] if gtrim and kb is not None and kb <= 2 * gtrim), None)
        L.append("| %s | %.2f s / %.3f s | %.2f s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            a, m(a, "alloc_s"), m(a, "free_s"), med(res, g, c, a, "cpu_s"), fmt_val(peak[a], "MiB"),
            fmt_val(m(a, "freed_rss_kb"), "MiB"), fmt_val(m(a, "idle1_rss_kb"), "MiB"), fmt_val(fin, "MiB"),
            fmt_val(trim[a], "MiB"), "%.2f" % (fin / gtrim) if gtrim else "-",
            "%.2f" % (trim[a] / gtrim) if gtrim else "-",
            ("%.1f s" % (when / 1000.0)) if when is not None else "never"))
    L.append("")
    L.append("(*burst*: the time to allocate and write the %.0f MiB, and to free 98%% of the blocks; the rest of the "
             "run is the fixed 5 s idle phase. *≤ 2x … from*: the first sample, in seconds of idle, at or below "
             "twice glibc's RSS after malloc_trim(0); the samples are 100 ms apart. Dashed lines in the plot are "
             "variants; the dotted segments join the peak and the value after malloc_trim(0) to the idle "
             "phase.)\n" % (m(allocs[0], "burst_mb") or 0))
    if any("purge=free" in a for a in allocs):
        L.append("With `purge=free` the pages are given back with MADV_FREE: the kernel takes them only when it runs "
                 "short of memory, so RSS stays put on a machine with memory to spare; the figures above show what "
                 "the process holds, not what the kernel could reclaim.\n")
    fname = "memory-rss.svg"
    svg_rss_time(os.path.join(plot_dir, fname), "Burst and idle: RSS after freeing 98% of a 1.4 GiB burst",
                 allocs, series, peak, trim, 2 * gtrim if gtrim else None)
    L.append("![RSS over the idle phase](%s/%s)\n" % (rel, fname))
    return L


# ----------------------------------------------------------------------------- bundle

def make_bundle(opts, bench_dir, libs):
    dest = os.path.abspath(opts.bundle)
    lib_dir = os.path.join(dest, "lib")
    os.makedirs(lib_dir, exist_ok=True)
    progs = ["lm_bench_micro", "lm_bench_rusage", "lm_bench_redzone_probe"] + ["lm_wl_" + w for w in WORKLOADS]
    for p in progs:
        src = os.path.join(bench_dir, p)
        if os.path.exists(src):
            shutil.copy2(src, dest)
    shutil.copy2(os.path.join(bench_dir, "libglibc_shim.so"), lib_dir)
    shutil.copy2(os.path.abspath(__file__), os.path.join(dest, "run.py"))
    bundled_libs = {}
    needed = set()
    for a, p in libs.items():
        if p and os.path.exists(p):
            shutil.copy2(p, lib_dir)
            bundled_libs[a] = os.path.basename(p)
    for f in [os.path.join(dest, p) for p in progs] + [os.path.join(lib_dir, x) for x in os.listdir(lib_dir)]:
        if not os.path.exists(f):
            continue
        for line in sh(["ldd", f]).splitlines():
            m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+ld-linux\S*)", line)
            if m:
                needed.add(m.group(1))
    for n in needed:
        shutil.copy2(os.path.realpath(n), os.path.join(lib_dir, os.path.basename(n)))
    with open(os.path.join(dest, "bundle.json"), "w") as f:
        json.dump({"libs": bundled_libs}, f)
    v = versions()
    if opts.libmalloc_rev:
        v["libmalloc"] = opts.libmalloc_rev
    with open(os.path.join(dest, "versions.json"), "w") as f:
        json.dump(v, f)
    script = os.path.join(dest, "run-scaling.sh")
    with open(script, "w") as f:
        f.write("""#!/bin/sh
# Runs the scaling sweep with the carried binaries and libraries (any x86-64 Linux
# with python3). Extra arguments go to run.py, e.g. --quick or --threads 1,2,4,8,16.
here=$(cd "$(dirname "$0")" && pwd)
export LM_BENCH_LOADER="$here/lib/ld-linux-x86-64.so.2"
export LM_BENCH_LIBRARY_PATH="$here/lib"
exec python3 "$here/run.py" --bench-dir "$here" --results-dir "$here/results" --groups scaling %s "$@"
""" % " ".join("--lib %s=\"$here/lib/%s\"" % (a, b) for a, b in bundled_libs.items()))
    os.chmod(script, 0o755)
    total = sum(os.path.getsize(os.path.join(r, x)) for r, _, fs in os.walk(dest) for x in fs)
    log("bundle written to %s (%.1f MiB): run %s there" % (dest, total / 1048576.0, script))


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", const="quick", dest="mode", help="a few minutes (default)")
    mode.add_argument("--full", action="store_const", const="full", dest="mode", help="more rounds, larger counts")
    mode.add_argument("--smoke", action="store_const", const="smoke", dest="mode",
                      help="tiny counts, no report; non-zero exit on crash or checksum mismatch")
    ap.add_argument("--scaling", action="store_true", help="also run the thread sweeps (group 'scaling')")
    ap.add_argument("--groups", help="comma-separated subset of micro,workloads,real,memory,scaling")
    ap.add_argument("--threads", default="1,2,4,8,16", help="thread counts of the scaling sweep")
    ap.add_argument("--rounds", type=int, help="rounds per case (default: smoke 1, quick 3, full 5)")
    ap.add_argument("--allocators", default=",".join(ALLOCATORS), help="subset and order of allocators")
    ap.add_argument("--lib", action="append", default=[], metavar="NAME=PATH",
                    help="library of an allocator (jemalloc, mimalloc, libmalloc)")
    ap.add_argument("--variant", action="append", default=[], type=parse_variant,
                    metavar="[GROUPS/]NAME=BASE:VAR=VALUE",
                    help="an allocator variant: BASE's library with extra environment (replaces the defaults)")
    ap.add_argument("--no-variants", action="store_true", help="run no allocator variants")
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"), help="meson build dir (default build/)")
    ap.add_argument("--bench-dir", help="pre-built bench binaries; no meson/ninja is run")
    ap.add_argument("--no-build", action="store_true", help="use --build-dir as is, do not run ninja")
    ap.add_argument("--results-dir", default=os.path.join(REPO, "docs", "bench"),
                    help="where results-*.json and the plots go (default docs/bench)")
    ap.add_argument("--report", default=os.path.join(REPO, "docs", "benchmarks.md"), help="report to write")
    ap.add_argument("--no-report", action="store_true", help="do not write the report")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from saved results")
    ap.add_argument("--baseline", default=os.path.join(REPO, "docs", "bench", "results-baseline.json"),
                    help="earlier results to compare libmalloc's workload times with (issue 6: no slower than "
                         "before); default docs/bench/results-baseline.json")
    ap.add_argument("--bundle", metavar="DIR", help="write a self-contained bundle for another machine and exit")
    ap.add_argument("--pin-cpu", type=int, default=None, metavar="CPU",
                    help="CPU the single-threaded cases run on (default: the first this process may use; "
                         "-1: none pinned)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds after which a run counts as hung")
    ap.add_argument("--variant-timeout", type=int, default=300,
                    help="the same for variants (redzone mode may be slow, never 100x slow)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder of raw outputs")
    ap.add_argument("--libmalloc-rev", help="what to call the libmalloc measured in the report (default: git rev "
                    "of this checkout)")
    opts = ap.parse_args()
    opts.mode = opts.mode or "quick"
    allowed = os.sched_getaffinity(0)
    if opts.pin_cpu is None:
        opts.pin_cpu = min(allowed)
    elif opts.pin_cpu < 0:
        opts.pin_cpu = None
    elif opts.pin_cpu not in allowed:
        ap.error("--pin-cpu %d: not a CPU this process may run on (%s)" % (
            opts.pin_cpu, ",".join(str(c) for c in sorted(allowed))))
    if IN_BUNDLE and not opts.bench_dir:
        opts.bench_dir = HERE

    if opts.report_only:
        return report_from_saved(opts)

    groups = opts.groups.split(",") if opts.groups else (
        ["micro", "workloads", "real", "memory"] + (["scaling"] if opts.scaling else []))
    rounds = opts.rounds or {"smoke": 1, "quick": 3, "full": 5}[opts.mode]
    bench_dir, built_lm, lm_why, notes = ensure_built(opts)

    # Allocator libraries: --lib, then environment, then defaults.
    libs = {"glibc": None, "jemalloc": DEFAULT_LIBS["jemalloc"], "mimalloc": DEFAULT_LIBS["mimalloc"],
            "libmalloc": built_lm}
    for a in ("jemalloc", "mimalloc", "libmalloc"):
        if os.environ.get("LM_BENCH_" + a.upper()):
            libs[a] = os.environ["LM_BENCH_" + a.upper()]
    for kv in opts.lib:
        k, _, v = kv.partition("=")
        libs[k] = os.path.abspath(v)

    if opts.bundle:
        make_bundle(opts, bench_dir, libs)
        return 0

    tmp = tempfile.mkdtemp(prefix="lm-bench-")
    runner = Runner(opts, bench_dir, libs, tmp)
    runner.shim = os.path.join(bench_dir, "libglibc_shim.so")
    if not os.path.exists(runner.shim):
        runner.shim = os.path.join(bench_dir, "lib", "libglibc_shim.so")
    if not os.path.exists(runner.rusage):
        loud("%s is missing: nothing can be measured" % runner.rusage)
        return 2

    # Which allocators can run at all.
    allocs, missing = [], {}
    for a in opts.allocators.split(","):
        p = libs.get(a, "")
        if a == "libmalloc" and not p and lm_why:
            missing[a] = lm_why
            loud("MISSING ALLOCATOR %s: %s; continuing without it" % (a, lm_why))
            continue
        if a != "glibc" and (not p or not os.path.exists(p)):
            missing[a] = "library not found at %s" % p
            loud("MISSING ALLOCATOR %s: %s is not there; continuing without it" % (a, p))
            continue
        probe = runner.run(a, os.path.join(bench_dir, "lm_wl_strbuild"), ["appends=1000", "live=16"], timeout=60)
        if not probe["ok"]:
            missing[a] = "fails to run a trivial program (%s): %s" % (describe_failure(probe),
                                                                      probe["stderr_tail"][-300:].strip())
            loud("BROKEN ALLOCATOR %s: %s; continuing without it" % (a, missing[a]))
            continue
        allocs.append(a)
    log("allocators: %s%s" % (" ".join(allocs), ("; missing: " + ", ".join(missing)) if missing else ""))

    # Variants: same library, extra environment. Probed like the allocators; a redzone
    # variant must also report lm_bench_redzone_probe's overflow, else its mode is not there.
    variants = {}  # name -> {"base", "env", "groups"}
    wanted = [] if opts.no_variants else (opts.variant or DEFAULT_VARIANTS)
    if opts.mode == "smoke" and not opts.variant:
        # The smoke run checks libmalloc (CI runs it): no reference tool, which
        # could hang a run until its timeout where it breaks at start-up.
        wanted = [v for v in wanted if v[1] not in REFERENCE_VARIANTS]
    for vgroups, name, base, venv in wanted:
        if not any(g in groups for g in vgroups):
            continue
        if base not in allocs and not (base.startswith("/") and os.path.exists(base)):
            missing[name] = "its base allocator %s is missing" % base
            loud("MISSING VARIANT %s: its base allocator %s is missing; continuing without it" % (name, base))
            continue
        libs[name] = libs[base] if base in allocs else base  # BASE: an allocator's name or a library's path
        runner.variant_env[name] = venv
        envs = " ".join("%s=%s" % kv for kv in venv.items())
        probe = runner.run(name, os.path.join(bench_dir, "lm_wl_strbuild"), ["appends=1000", "live=16"], timeout=60)
        if not probe["ok"]:
            missing[name] = "%s with %s fails to run a trivial program (%s): %s" % (
                base, envs, describe_failure(probe), probe["stderr_tail"][-300:].strip())
            loud("BROKEN VARIANT %s: %s; continuing without it" % (name, missing[name]))
            continue
        if "redzone=1" in venv.get("LIBMALLOC_OPTIONS", ""):
            exe = os.path.join(bench_dir, "lm_bench_redzone_probe")
            rz = runner.run(name, exe, [], timeout=60) if os.path.exists(exe) else None
            if rz is None:
                loud("%s is missing: cannot tell whether redzone mode is there; measuring %s anyway" % (exe, name))
            elif "heap-buffer-overflow" not in rz["stderr_tail"]:
                missing[name] = ("%s with %s does not report an overflow by one byte (lm_bench_redzone_probe: %s, "
                                 "stderr %r): redzone mode is not there yet" % (
                                     base, envs, "ok" if rz["ok"] else describe_failure(rz),
                                     rz["stderr_tail"][-200:].strip()))
                loud("VARIANT NOT THERE %s: %s; continuing without it" % (name, missing[name]))
                continue
        variants[name] = {"base": base, "env": venv, "groups": [g for g in vgroups if g in groups]}
    if variants:
        log("variants: %s" % "; ".join("%s (%s + %s, groups %s)" % (
            n, v["base"], " ".join("%s=%s" % kv for kv in v["env"].items()), ",".join(v["groups"]))
            for n, v in variants.items()))

    def with_variants(group):
        return allocs + [n for n, v in variants.items() if group in v["groups"]]

    cmdline = "bench/run.py " + shlex.join(sys.argv[1:])
    memory_rounds = opts.rounds or (3 if opts.mode == "full" else 1)
    meta = {"mode": opts.mode, "rounds": rounds, "allocators": allocs, "missing": missing, "notes": notes,
            "pin_cpu": opts.pin_cpu,
            "libs": {a: libs[a] for a in allocs}, "machine": machine_info(bench_dir), "command": cmdline,
            "bench_dir": bench_dir, "variants": variants, "memory_rounds": memory_rounds}
    if opts.libmalloc_rev:
        meta["machine"]["versions"]["libmalloc"] = opts.libmalloc_rev
    results = Results()
    scaling_results = Results()
    t0 = time.time()
    try:
        if "micro" in groups:
            run_micro(runner, results, allocs, opts, rounds, micro_args(opts.mode))
        if "workloads" in groups:
            run_workloads(runner, results, with_variants("workloads"), rounds, workload_cases(opts.mode), "workloads")
        if "real" in groups:
            if runner.loader:
                loud("LM_BENCH_LOADER is set: real programs belong to this machine's userland; group skipped")
            else:
                run_real(runner, results, allocs, opts, rounds, opts.mode)
        if "memory" in groups:
            run_workloads(runner, results, with_variants("memory"), memory_rounds, memory_cases(opts.mode), "memory")
        if "scaling" in groups:
            threads = scaling_threads(opts)
            tl = ",".join(str(t) for t in threads)
            run_micro(runner, scaling_results, allocs, opts, rounds,
                      ["--lm_threads=" + tl, "--benchmark_filter=^(pair_mt/64|xthread/(64|8192))/",
                       "--benchmark_min_time=%s" % {"smoke": "0.001", "quick": "0.05", "full": "0.2"}[opts.mode]],
                      group="scaling-micro")
            run_workloads(runner, scaling_results, allocs, rounds, scaling_cases(opts.mode, threads), "scaling")
    finally:
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log("raw outputs kept in %s" % tmp)
    log("total %.0f s" % (time.time() - t0))

    own = [f for f in results.failures if f["alloc"] not in REFERENCE_VARIANTS]
    bad = own or [m for m in results.mismatches if not m.get("reference")] or scaling_results.failures or \
        scaling_results.mismatches
    if opts.mode != "smoke":
        os.makedirs(opts.results_dir, exist_ok=True)
        main_doc = scaling_doc = None
        if results.cases:
            main_doc = {"meta": meta, "results": results.to_json()}
            with open(os.path.join(opts.results_dir, "results-%s.json" % opts.mode), "w") as f:
                json.dump(main_doc, f, indent=1)
        if scaling_results.cases:
            smeta = dict(meta, threads=scaling_threads(opts))
            scaling_doc = {"meta": smeta, "results": scaling_results.to_json()}
            with open(os.path.join(opts.results_dir, "results-scaling.json"), "w") as f:
                json.dump(scaling_doc, f, indent=1)
        if not opts.no_report and not IN_BUNDLE:
            report_from_saved(opts, main_doc, scaling_doc)

    summary = []
    for r in (results, scaling_results):
        summary += ["FAILURE %s/%s under %s: %s%s" % (f["group"], f["case"], f["alloc"], f["why"],
                                                      " (reference, not counted)" if f["alloc"] in REFERENCE_VARIANTS
                                                      else "") for f in r.failures]
        summary += ["CHECKSUM MISMATCH %s/%s: %s%s" % (m["group"], m["case"], m["detail"],
                                                       " (reference, not counted)" if m.get("reference") else "")
                    for m in r.mismatches]
    if missing:
        log("note: allocators missing from this run: " + ", ".join("%s (%s)" % kv for kv in missing.items()))
    if bad:
        loud("benchmark run found problems:\n    " + "\n    ".join(summary))
        return 1
    ref = [f for f in results.failures if f["alloc"] in REFERENCE_VARIANTS]
    if ref:
        log("note: failures of reference variants, not counted: " + "; ".join(
            "%s/%s under %s: %s" % (f["group"], f["case"], f["alloc"], f["why"]) for f in ref))
    log("OK: %d allocator(s), no crash, checksums agree" % len(allocs))
    return 0


def report_from_saved(opts, main_doc=None, scaling_doc=None):
    rd = opts.results_dir
    if main_doc is None:
        cands = [os.path.join(rd, "results-%s.json" % m) for m in ("quick", "full")]
        cands = [c for c in cands if os.path.exists(c)]
        if cands:
            with open(max(cands, key=os.path.getmtime)) as f:
                main_doc = json.load(f)
    if scaling_doc is None and os.path.exists(os.path.join(rd, "results-scaling.json")):
        with open(os.path.join(rd, "results-scaling.json")) as f:
            scaling_doc = json.load(f)
    if not main_doc and not scaling_doc:
        loud("no saved results in %s" % rd)
        return 2
    write_report(opts, main_doc, scaling_doc, opts.report, rd)
    return 0


if __name__ == "__main__":
    sys.exit(main())

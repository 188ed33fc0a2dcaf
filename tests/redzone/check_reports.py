#!/usr/bin/env python3
"""check_reports.py: runs deliberately buggy programs in redzone mode and
checks each report against the contract in DESIGN.md ("Redzone mode
reports"): the first report line names the KIND and the bad address, the
block's address, size and the bad byte's offset are named, frames read
`#N 0xADDR in FUNCTION (MODULE+0xOFFSET)`, there is a shadow map in ASan's
layout, and the process aborts (or, with halt_on_error=0, continues).

The program prints `EXPECT kind=K addr=0x.. block=0x.. size=N [access=R:S]`
on stderr just before its bug; addresses are compared with that line.

usage: check_reports.py GROUP PROGRAM [--preload LIB] [MODE...]
"""
import os
import re
import signal
import subprocess
import sys

FRAME = re.compile(r"^    #\d+ 0x[0-9a-f]+ in \S.* \(.+\+0x[0-9a-f]+\)$")
SHADOW_ROW = re.compile(r"^(=>|  )0x[0-9a-f]+:( |\[)[0-9a-f.]{2}")

# mode -> (extra options, where it is found, frame function expected in the current stack)
MODES = {
    "overflow1-small": ("", "found by free()"),
    "overflow16-small": ("", "found by free()"),
    "overflow-span": ("", "found by free()"),
    "overflow1-heap": ("", "found by free()"),
    "overflow16-heap": ("", "found by free()"),
    "overflow1-mmap": ("", "found by free()"),
    "overflow16-mmap": ("", "found by free()"),
    "underflow-small": ("", "found by free()"),
    "underflow-mmap": ("", "found by free()"),
    "underflow-header-next": ("", "found by free()"),
    "underflow-header-prev": ("", "found by free()"),
    "underflow-header-state": ("", ""),
    "underflow-header-magic": ("", ""),
    "overflow-heap-check-link": ("", "found by libmalloc_heap_check()"),
    "overflow-at-exit": ("", "found at exit"),
    "overflow-heap-check": ("", "found by libmalloc_heap_check()"),
    "overflow-realloc": ("", "found by realloc()"),
    "overflow-after-inplace-realloc": ("", "found by free()"),
    "uaf-exit": ("", "found at exit"),
    "uaf-quarantine": (":quarantine_mb=1", "found when the block left quarantine"),
    "uaf-fork-child": ("", "found at exit"),
    "uaf-cross-thread": (":quarantine_mb=1", "found when the block left quarantine"),
    "uaf-recycled": (":quarantine_mb=1", "found when the block left quarantine"),
    "uaf-usable-size": ("", "malloc_usable_size() called on"),
    "double-free": ("", "attempting double-free"),
    "bad-free-stack": ("", "is located in the stack of thread T0"),
    "bad-free-interior": ("", "16 bytes inside of 40-byte region"),
    "new-array-free": ("", "(operator new [] vs free)"),
    "malloc-delete": ("", "(malloc vs operator delete)"),
    "new-delete-array": ("", "(operator new vs operator delete[])"),
    "new-delete-array-dtor": ("", "8 bytes below the block: delete[] of an object from a single new"),
    "new-delete-array-dtor-aligned": ("", "64 bytes below the block: delete[] of an object from a single new"),
    "new-delete-array-interior": ("", "bytes inside of 512-byte region"),
    "leak": (":detect_leaks=1", "Direct leak of 1234 byte(s)"),
    "leak-self": (":detect_leaks=1", "Direct leak of 48 byte(s)"),
}
STACK_ALLOC = ["malloc", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign", "valloc",
               "pvalloc", "new", "new-array", "new-nothrow", "new-aligned", "new-aligned-nothrow"]
STACK_FREE = ["free", "new", "new-sized", "new-array", "new-array-sized", "new-aligned", "new-aligned-sized"]
for fn in STACK_ALLOC:
    MODES["stack-alloc-" + fn] = ("", "allocated by thread T0 here:")
for fn in STACK_FREE:
    MODES["stack-free-" + fn] = ("", "freed by thread T0 here:")
# Stack modes: the stacks' first frame must be the program's function that
# called the entry point (rz_bugs.cpp: rz_allocate_via, rz_free_via).
FIRST_FRAME = {"allocated by thread T0 here:": " in rz_allocate_via (", "freed by thread T0 here:": " in rz_free_via ("}
GROUPS = {
    "overflow": [m for m in MODES if m.startswith(("overflow", "underflow"))],
    "free": ["uaf-exit", "uaf-quarantine", "uaf-fork-child", "uaf-cross-thread", "uaf-recycled", "uaf-usable-size", "double-free",
             "bad-free-stack", "bad-free-interior"],
    "mismatch-leak": ["new-array-free", "malloc-delete", "new-delete-array", "new-delete-array-dtor",
                      "new-delete-array-dtor-aligned", "new-delete-array-interior", "leak", "leak-self"],
    "linked": ["overflow1-small", "overflow16-mmap", "uaf-quarantine", "uaf-cross-thread", "double-free",
               "bad-free-interior", "new-array-free", "leak"],
    "halt0": ["overflow1-small", "uaf-quarantine", "uaf-recycled", "uaf-usable-size", "double-free", "bad-free-stack", "malloc-delete",
              "overflow-heap-check", "underflow-header-next", "overflow-heap-check-link", "new-delete-array-dtor",
              "new-delete-array-interior"],
    "kasan": ["read-overflow", "read-overflow-huge", "write-underflow", "read-after-free"],
    "stacks": [m for m in MODES if m.startswith("stack-")],
}
# Damage found in a redzone: how far it went, as offsets from the block's
# start (the one-byte writes: from the bad byte to itself).
EXTENT = {"overflow-span": (40, 55)}
ONE_BYTE = ["overflow1-small", "overflow16-small", "overflow1-heap", "overflow16-heap", "overflow1-mmap",
            "overflow16-mmap", "underflow-small", "underflow-mmap"]
KASAN_WHERE = {"read-overflow": "", "read-overflow-huge": "", "write-underflow": "", "read-after-free": ""}

failures = []


def fail(mode, msg, err):
    failures.append(f"{mode}: {msg}")
    sys.stderr.write(f"FAIL {mode}: {msg}\n--- stderr:\n{err[-4000:]}\n---\n")


def check(program, mode, preload, halt):
    extra, where = MODES.get(mode, ("", KASAN_WHERE.get(mode, "")))
    env = dict(os.environ)
    env["LIBMALLOC_OPTIONS"] = "redzone=1" + extra + ("" if halt else ":halt_on_error=0")
    env["MALLOC_PERTURB_"] = "0"
    if preload:
        env["LD_PRELOAD"] = preload
    try:
        r = subprocess.run([program, mode], env=env, capture_output=True, text=True, timeout=50)
    except subprocess.TimeoutExpired:
        fail(mode, "timed out", "")
        return
    err = r.stderr
    m = re.search(r"^EXPECT kind=(\S+) addr=(\S+) block=(\S+) size=(\d+)(?: access=(\w+):(\d+))?$", err, re.M)
    if not m:
        fail(mode, "no EXPECT line (did the program run?)", err)
        return
    kind, addr, block, size = m.group(1), int(m.group(2), 16), m.group(3), int(m.group(4))
    lines = err.splitlines()
    errors = [i for i, l in enumerate(lines) if "ERROR: libmalloc:" in l]
    if not errors:
        fail(mode, "no report", err)
        return
    # DESIGN.md: the first line of every report is its ERROR line (an
    # ASan-style separator line of '=' was printed above it).
    for i in errors:
        if i > 0 and lines[i - 1].startswith("====="):
            fail(mode, f"a line precedes the ERROR line of a report: {lines[i - 1]!r}", err)
    first = lines[errors[0]]
    want = f"ERROR: libmalloc: {kind} on address {addr:#x}"
    if want not in first:
        fail(mode, f"first report line {first!r} lacks {want!r}", err)
        return
    report = "\n".join(lines[errors[0]:])
    if where and where not in report:
        fail(mode, f"report lacks {where!r}", err)
    if mode in EXTENT or mode in ONE_BYTE:
        lo, hi = EXTENT.get(mode, (addr - int(block, 16),) * 2)
        extent = f"offsets {lo} to {hi} from the block's start"
        if extent not in report:
            fail(mode, f"report lacks the damage's extent {extent!r}", err)
    if m.group(5):
        access = f"{m.group(5)} of size {m.group(6)} at {addr:#x} thread T0"
        if access not in report:
            fail(mode, f"report lacks the access line {access!r}", err)
    if block != "(nil)":
        b = int(block, 16)
        if kind == "memory-leak":
            offset = 0
        else:
            offset = addr - b
        located = f"block {b:#x}, size {size}: the address is at offset {offset} from its start"
        if located not in report:
            fail(mode, f"report lacks {located!r}", err)
        region = f"{size}-byte region [{b:#x},{b + size:#x})"
        if region not in report:
            fail(mode, f"report lacks {region!r}", err)
        if "allocated by thread T0 here:" not in report:
            fail(mode, "no allocation stack", err)
    if mode.startswith("stack-"):
        for title, fn in FIRST_FRAME.items():
            if title in lines and title in report:
                at = lines.index(title, errors[0])
                if at + 1 >= len(lines) or fn not in lines[at + 1]:
                    fail(mode, f"the first frame under {title!r} is not{fn}...", err)
        current = lines[errors[0] + 2] if len(lines) > errors[0] + 2 else ""
        if mode.startswith("stack-free-") and " in rz_free_via (" not in current:
            fail(mode, "the current stack's first frame is not rz_free_via", err)
    # SUMMARY names the report's first frame, as ASan's does (for a block
    # found freed at exit that is the free, not the allocation).
    first_frame = next((l for l in lines[errors[0]:] if l.startswith("    #0 ")), None)
    summary = next((l for l in lines[errors[0]:] if l.startswith("SUMMARY: libmalloc: ")), None)
    if first_frame and summary and kind != "memory-leak":
        where_at = re.search(r"\((\S+\+0x[0-9a-f]+)\)$", first_frame)
        if not where_at or f"({where_at.group(1)})" not in summary:
            fail(mode, f"SUMMARY {summary!r} does not name the first frame {first_frame!r}", err)
    frames = [l for l in lines[errors[0]:] if l.startswith("    #")]
    if not frames or not all(FRAME.match(f) for f in frames):
        fail(mode, f"bad or missing frames: {frames[:3]}", err)
    if not any(" in main (" in f for f in frames):
        fail(mode, "no frame names main", err)
    # libmalloc's own functions are no frame of the program's (linked into
    # a -static program, a stale return address of its start-up showed).
    own = [f for f in frames if " in _ZN2lm" in f]
    if own:
        fail(mode, f"libmalloc's own frames in the report: {own[:3]}", err)
    rows = [l for l in lines[errors[0]:] if SHADOW_ROW.match(l)]
    if "Shadow bytes around the buggy address:" not in report or len(rows) != 11 * len(errors) \
            or sum(1 for l in rows if l.startswith("=>")) != len(errors) or "[" not in "".join(rows):
        fail(mode, "no shadow map in ASan's layout", err)
    aborted = r.returncode == -signal.SIGABRT
    if halt:
        if not aborted or "ABORTING" not in report:
            fail(mode, f"did not abort (status {r.returncode})", err)
        if "CONTINUED" in err and kind not in ("memory-leak",) and "at exit" not in where:
            fail(mode, "ran on past the report", err)
    else:
        if r.returncode != 0 or "CONTINUED" not in err:
            fail(mode, f"did not continue with halt_on_error=0 (status {r.returncode})", err)
    if not failures or not failures[-1].startswith(mode):
        print(f"ok: {mode}{'' if halt else ' (halt_on_error=0)'}")


def check_off(program, mode, preload, option):
    """With `option` (a report switched off), mode runs to its end with no report."""
    env = dict(os.environ)
    env["LIBMALLOC_OPTIONS"] = "redzone=1:" + option
    env["MALLOC_PERTURB_"] = "0"
    if preload:
        env["LD_PRELOAD"] = preload
    r = subprocess.run([program, mode], env=env, capture_output=True, text=True, timeout=50)
    if "ERROR: libmalloc:" in r.stderr or r.returncode != 0 or "CONTINUED" not in r.stderr:
        fail(mode, f"with {option}: a report or no clean exit (status {r.returncode})", r.stderr)
    else:
        print(f"ok: {mode} ({option}: no report)")


def main():
    args = sys.argv[1:]
    group, program = args[0], args[1]
    preload = None
    if len(args) > 3 and args[2] == "--preload":
        preload = args[3]
    halt = group != "halt0"
    for mode in GROUPS[group]:
        check(program, mode, preload, halt)
    if group == "mismatch-leak":
        check_off(program, "malloc-delete", preload, "alloc_dealloc_mismatch=0")
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

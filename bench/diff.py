#!/usr/bin/env python3
"""bench/diff.py: what changed for libmalloc between two bench/run.py results.

    bench/diff.py OLD.json NEW.json [--threshold 1.3]
    bench/diff.py <(git show HEAD:docs/bench/results-quick.json) docs/bench/results-quick.json

Compares, case by case, libmalloc's median relative to the geometric mean of
the medians of glibc, jemalloc and mimalloc in the same run (so that the two
machines' or moments' speeds cancel out, and one peer's own noise, glibc's
prodcons swinging 1.2-2.3 s, counts a third): ns per
operation for micro cases; wall time, peak RSS and minor faults for the
others. Prints every case whose ratio moved by more than the threshold
either way, worst first, and exits 1 if one got worse. Run it before
publishing a new docs/benchmarks.md: a realloc case 37x slower than in the
previous report was published once without anyone noticing.

Quick mode on a shared machine moves single micro cases by up to ~1.5x from
noise alone: rerun what this flags before believing it.
"""
import argparse
import json
import statistics
import sys

PEERS = ("glibc", "jemalloc", "mimalloc")
SUBJECT = "libmalloc"
METRICS = {"micro": ["ns_per_op"], "workloads": ["wall_s", "maxrss_kb", "minflt"],
           "real": ["wall_s", "maxrss_kb"], "memory": ["maxrss_kb"]}


def medians(path):
    with open(path) as f:
        cases = json.load(f)["results"]["cases"]
    out = {}
    for group, by_case in cases.items():
        for case, by_alloc in by_case.items():
            for metric in METRICS.get(group, []):
                per = {}
                for alloc in PEERS + (SUBJECT,):
                    vals = [r[metric] for r in by_alloc.get(alloc, []) if r.get("ok") and r.get(metric)]
                    if vals:
                        per[alloc] = statistics.median(vals)
                peers = [per[a] for a in PEERS if per.get(a, 0) > 0]
                if SUBJECT in per and peers:
                    out[(group, case, metric)] = per[SUBJECT] / statistics.geometric_mean(peers)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--threshold", type=float, default=1.3, help="flag a ratio that moved by more than this factor")
    args = ap.parse_args()
    old, new = medians(args.old), medians(args.new)
    moved = []
    for key in sorted(set(old) & set(new)):
        change = new[key] / old[key] if old[key] > 0 else float("inf")
        if change > args.threshold or change < 1 / args.threshold:
            moved.append((change, key))
    moved.sort(reverse=True)
    for change, (group, case, metric) in moved:
        word = "worse" if change > 1 else "better"
        print("%-6s %6.2fx  %-10s %-28s %-10s libmalloc/peers %.3f -> %.3f" %
              (word, change if change > 1 else 1 / change, group, case, metric, old[(group, case, metric)],
               new[(group, case, metric)]))
    only = sorted(set(new) - set(old))
    if only:
        print("new cases: " + ", ".join("%s %s" % (g, c) for g, c, m in only if m == METRICS[g][0]))
    if not moved:
        print("no case moved by more than %.2fx" % args.threshold)
    return 1 if any(change > 1 for change, _ in moved) else 0


if __name__ == "__main__":
    sys.exit(main())

"""bench/real/py_alloc.py: an allocation-heavy Python program for the benchmark runner.

Run with PYTHONMALLOC=malloc (and PYTHONHASHSEED=0) so every object goes through the
preloaded malloc instead of pymalloc's arenas. Builds and drops dicts, lists, strings,
tuples and class instances, round-trips JSON and sorts; prints `checksum: <hex>`, which
depends only on the work (argument: number of rounds).
"""
import json
import sys
import zlib


class Node:
    __slots__ = ("left", "right", "val")

    def __init__(self, left, right, val):
        self.left = left
        self.right = right
        self.val = val


def tree(depth, val):
    if depth == 0:
        return Node(None, None, val)
    return Node(tree(depth - 1, 2 * val), tree(depth - 1, 2 * val + 1), val)


def walk(n):
    total = 0
    stack = [n]
    while stack:
        x = stack.pop()
        total += x.val
        if x.left is not None:
            stack.append(x.left)
            stack.append(x.right)
    return total


def one_round(r):
    acc = 0
    d = {}
    for i in range(20000):
        d["k%d_%d" % (r, i)] = [i, str(i) * (i % 7), (i, r), {"x": i % 13}]
    s = json.dumps(d, sort_keys=True)
    acc = zlib.crc32(s.encode(), acc)
    back = json.loads(s)
    acc = zlib.crc32(str(len(back)).encode(), acc)
    words = sorted(("%x" % (i * 2654435761 % 1000003)) * (1 + i % 5) for i in range(30000))
    acc = zlib.crc32("".join(words[::97]).encode(), acc)
    acc = zlib.crc32(str(walk(tree(14, 1))).encode(), acc)
    parts = []
    for i in range(20000):
        parts.append("line %d: %s\n" % (i, "ab" * (i % 11)))
    text = "".join(parts)
    acc = zlib.crc32(text.upper().encode(), acc)
    del d, back, words, parts, text
    return acc


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    acc = 0
    for r in range(rounds):
        acc = zlib.crc32(("%08x" % one_round(r)).encode(), acc)
    print("checksum: %08x" % acc)


if __name__ == "__main__":
    main()

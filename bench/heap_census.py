# bench/heap_census.py: where a libmalloc process's resident heap pages go. A gdb script:
#
#   CENSUS_PRELOAD=build/libmalloc.so gdb -q -batch -x bench/heap_census.py --args PROGRAM ARGS...
#
# (CENSUS_PRELOAD: set as the program's LD_PRELOAD, not gdb's; leave it out for a program
# linked with libmalloc.)
# It runs PROGRAM until the function named by CENSUS_BREAK (default malloc_trim) returns,
# then classifies every resident page of [heap] (from /proc/PID/pagemap; needs root for
# nothing, the present bit is readable by the process's owner):
#   slab SIZE live | no-live   a slab page of that class with / without a live object on it
#                              (live: carved, not on the slab's free list, not parked)
#   heap:KINDS                 a heap page, by the kinds of heap blocks that overlap it:
#                              used, free(big|small), span-hdr (the boundary tag of a span)
# It also counts the resident page-map leaf pages and descriptor-region pages. It reads libmalloc's internals
# (lm::pagemap::g_root with its 4-byte entries, lm::slab::g_desc_base and the entry encoding
# of slab_of() in src/slab/slab.h, the Slab descriptor layout there, and the heap chunk
# layout of src/heap/heap.h): keep the constants below in step with those headers.
# Made to find issue 6's memory after malloc_trim (docs/architecture.md, "Slab pages").
import collections
import os
import shlex
import struct

import gdb

# src/slab/slab.h Slab: free_list at 8 (links encoded: see free_set), first 16, size 32 (u32), in_use 36, carved 40;
# unit_shift 59 (u8), per_unit 60 (u16); capacity 72 (u32), base 80, purged[2] at 88.
SLAB_FREE_LIST, SLAB_FIRST, SLAB_SIZE, SLAB_UNIT = 8, 16, 32, 59
SLAB_CAPACITY, SLAB_BASE, SLAB_PURGED = 72, 80, 88
PAGE = 4096
# src/pagemap/pagemap.h: a leaf per GiB, 4-byte entries; kLargeHead = 2, larger entries are
# descriptor slot indexes: descriptor = g_desc_base + (entry << DESC_SHIFT).
LEAF_SHIFT, LEAF_ENTRIES, ENTRY_BYTES = 30, 1 << 18, 4
LARGE_HEAD, DESC_SHIFT = 2, 7


def main():
    gdb.execute("set pagination off")
    gdb.execute("set breakpoint pending on")
    if os.environ.get("CENSUS_PRELOAD"):
        gdb.execute("set environment LD_PRELOAD=" + os.path.abspath(os.environ["CENSUS_PRELOAD"]))
    gdb.execute("break " + os.environ.get("CENSUS_BREAK", "malloc_trim"))
    # gdb runs this script before it takes --args's arguments, and `run > FILE`
    # would replace them anyway: pass them to run, from gdb's own command line.
    with open("/proc/self/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
    args = argv[argv.index("--args") + 2:] if "--args" in argv else []
    gdb.execute("run %s > /dev/null" % " ".join(shlex.quote(a) for a in args))
    gdb.execute("finish")
    inf = gdb.selected_inferior()
    pid = inf.pid

    def rd(a, n):
        return inf.read_memory(a, n).tobytes()

    def q64(a):
        return struct.unpack("<Q", rd(a, 8))[0]

    maps = open("/proc/%d/maps" % pid).read().splitlines()
    heap_lines = [l for l in maps if l.endswith("[heap]")]
    if not heap_lines:
        print("no [heap] mapping")
        return
    hs, he = [int(x, 16) for x in heap_lines[0].split()[0].split("-")]
    root = int(gdb.parse_and_eval("(unsigned long)&'lm::pagemap::g_root'"))
    desc_base = q64(int(gdb.parse_and_eval("(unsigned long)&'lm::slab::g_desc_base'")))
    leaves = {}  # root slot -> leaf address

    def entry(a):
        i = a >> LEAF_SHIFT
        if i not in leaves:
            leaves[i] = q64(root + 8 * i)
        if not leaves[i]:
            return 0
        at = leaves[i] + ENTRY_BYTES * ((a >> 12) & (LEAF_ENTRIES - 1))
        return struct.unpack("<I", rd(at, ENTRY_BYTES))[0]

    def desc(e):
        return desc_base + (e << DESC_SHIFT)

    def present_pages(lo, nbytes):
        with open("/proc/%d/pagemap" % pid, "rb") as pm:
            pm.seek((lo // PAGE) * 8)
            raw = pm.read(nbytes // PAGE * 8)
        return sum((struct.unpack_from("<Q", raw, 8 * k)[0] >> 63) & 1 for k in range(len(raw) // 8))

    # Leaf and descriptor-region residency first: reading a page-map entry
    # through gdb maps the page it lies on (as the zero page, which
    # /proc/PID/pagemap reports present), so counting after the census would
    # count the census's own reads.
    leaf_pages = 0
    for slot in range(hs >> LEAF_SHIFT, ((he - 1) >> LEAF_SHIFT) + 1):
        leaf = q64(root + 8 * slot)
        if leaf:
            leaf_pages += present_pages(leaf, LEAF_ENTRIES * ENTRY_BYTES)
    # The descriptor region's read-write part: the mapping that starts at g_desc_base.
    desc_pages = 0
    for l in maps:
        lo, hi = [int(x, 16) for x in l.split()[0].split("-")]
        if desc_base and lo == desc_base:
            desc_pages = present_pages(lo, hi - lo)

    npages = (he - hs) // PAGE
    with open("/proc/%d/pagemap" % pid, "rb") as pm:
        pm.seek((hs // PAGE) * 8)
        raw = pm.read(npages * 8)
    resident = [(struct.unpack_from("<Q", raw, 8 * i)[0] >> 63) & 1 for i in range(npages)]

    # Heap chunks, walked from the first plausible header (src/heap/heap.h Chunk:
    # prev_size, head = size | flags; bit 0 of the next head: this chunk in use).
    mem = rd(hs, he - hs)

    def head(a):
        return struct.unpack_from("<Q", mem, a - hs + 8)[0]

    a = hs
    while a + 16 <= he and ((head(a) & ~15) == 0 or (head(a) & ~15) > he - hs):
        a += 16
    chunks = []
    while a + 16 <= he:
        size = head(a) & ~15
        if size == 0 or a + size > he:
            break
        nxt = a + size
        chunks.append((a, size, (head(nxt) & 1) if nxt + 16 <= he else 1))
        a = nxt
    starts = [c[0] for c in chunks]

    free_lists = {}

    def free_set(desc):
        """Addresses of the objects on the slab's free list."""
        if desc not in free_lists:
            got, p, steps = set(), q64(desc + SLAB_FREE_LIST), 0
            while p and steps < 70000:
                got.add(p)
                # Links are encoded (slab.cpp set_link): slot >> 12 xor next.
                p, steps = (p >> 12) ^ q64(p), steps + 1
            free_lists[desc] = got
        return free_lists[desc]

    import bisect
    census = collections.Counter()
    for i in range(npages):
        if not resident[i]:
            continue
        pa = hs + i * PAGE
        e = entry(pa)
        if e > LARGE_HEAD:
            d = rd(desc(e), 128)
            first = struct.unpack_from("<Q", d, SLAB_FIRST)[0]
            size, in_use, carved = struct.unpack_from("<III", d, SLAB_SIZE)
            capacity = struct.unpack_from("<I", d, SLAB_CAPACITY)[0]
            shift, per = struct.unpack_from("<BH", d, SLAB_UNIT)
            base = struct.unpack_from("<Q", d, SLAB_BASE)[0]
            purged = struct.unpack_from("<QQ", d, SLAB_PURGED)
            free = free_set(desc(e))

            def obj_at(k):  # src/slab/slab.h object_at
                return first + ((k // per) << shift) + (k % per) * size

            def parked(k):
                b = obj_at(k) - base
                return any((purged[pg // 64] >> (pg % 64)) & 1 for pg in range(b // PAGE, (b + size - 1) // PAGE + 1))

            live = False
            # The objects that may overlap this page: its own when page packed.
            k = (pa - base) // PAGE * per if shift == 12 else max(0, (pa - first) // size)
            while not live and k < carved and obj_at(k) < pa + PAGE:
                a = obj_at(k)
                live = a + size > pa and a not in free and not parked(k)
                k += 1
            census["slab %5d %s" % (size, "live" if live else "no-live")] += 1
            continue
        j = max(0, bisect.bisect_right(starts, pa) - 1)
        kinds = set()
        while j < len(chunks) and chunks[j][0] < pa + PAGE:
            c, size, used = chunks[j]
            if c + size > pa:
                span_entry = entry((c + 16 + PAGE - 1) & ~(PAGE - 1))
                if used and span_entry > LARGE_HEAD:
                    kinds.add("span-hdr")
                else:
                    kinds.add("used" if used else "free(%s)" % ("big" if size >= 65536 else "small"))
            j += 1
        census["heap:" + "+".join(sorted(kinds))] += 1

    total = sum(resident)
    print("[heap] resident: %d pages, %.2f MiB; page-map leaves touched by the heap: %d pages, %.2f MiB;"
          " descriptor region: %d pages, %.2f MiB"
          % (total, total * PAGE / 2.0**20, leaf_pages, leaf_pages * PAGE / 2.0**20,
             desc_pages, desc_pages * PAGE / 2.0**20))
    for k, v in sorted(census.items()):
        print("%-36s %7d pages %8.2f MiB" % (k, v, v * PAGE / 2.0**20))


main()

#!/usr/bin/env bash
# python.sh: CPython on libmalloc (PYTHONMALLOC=malloc, so every object goes
# through malloc): dicts, lists, json, re, a 100k-item sort, threads.
source "$(dirname "$0")/common.sh"
need python3
PY=$(python3_path)

cat >"$WORK/work.py" <<'PYEOF'
import hashlib, json, random, re, threading, collections

rng = random.Random(1234)
items = [rng.randrange(10**9) for _ in range(100_000)]
words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randrange(1, 12))) for _ in range(50_000)]
print("sorted", sorted(items)[:3], sorted(items)[-3:], len(set(items)))
print("words", sorted(words, key=lambda w: (len(w), w))[:5])

counts = collections.Counter(words)
table = {w: [i, w * 3, {"n": i}] for i, w in enumerate(words)}
print("dict", len(table), counts.most_common(3))

doc = json.dumps({"items": items[:20_000], "words": words[:20_000], "nested": [table[w] for w in words[:2000]]})
back = json.loads(doc)
print("json", len(doc), back["items"][:3] == items[:3], hashlib.sha256(doc.encode()).hexdigest()[:16])

text = " ".join(words)
pat = re.compile(r"\b(a\w*j)\b")
print("re", len(pat.findall(text)), re.sub(r"[aeiou]", "", text)[:40])

results = [None] * 8
def work(k):
    local = {}
    for i in range(40_000):
        local[(k, i % 5000)] = str(i) * (i % 7)
    results[k] = sum(len(v) for v in local.values())
threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print("threads", results)

big = [bytearray(rng.randrange(100, 400_000)) for _ in range(200)]
print("big", sum(len(b) for b in big))
s = ""
for i in range(20_000):
    s += str(i)
print("concat", len(s), s[-10:])
PYEOF

compare_runs python env PYTHONMALLOC=malloc PYTHONHASHSEED=0 "$PY" "$WORK/work.py"

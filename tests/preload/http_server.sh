#!/usr/bin/env bash
# http_server.sh: a threaded server on libmalloc: python3's
# ThreadingHTTPServer on 127.0.0.1 (an ephemeral port), preloaded, answers
# 16 concurrent clients (not preloaded) that check every response. The
# clients' summary must match the one from an unpreloaded server.
source "$(dirname "$0")/common.sh"
need python3
PY=$(python3_path)

cat >"$WORK/server.py" <<'PYEOF'
import hashlib, json, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/shutdown":
            self.reply(b"bye")
            threading.Thread(target=self.server.shutdown).start()
            return
        n = int(self.path.strip("/"))
        data = {"n": n, "squares": [i * i for i in range(n % 2000)], "text": "x" * (n * 37 % 100000)}
        body = json.dumps(data).encode()
        self.reply(body + hashlib.sha256(body).hexdigest().encode())
    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
server.server_close()
print("server done")
PYEOF

cat >"$WORK/client.py" <<'PYEOF'
import hashlib, json, sys, threading, urllib.request
port = int(sys.argv[1])
CLIENTS, REQUESTS = 16, 40
results = [None] * CLIENTS
def client(k):
    ok = size = 0
    for r in range(REQUESTS):
        n = k * 1000 + r * 17
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{n}", timeout=30) as resp:
            raw = resp.read()
        body, digest = raw[:-64], raw[-64:]
        data = json.loads(body)
        good = (hashlib.sha256(body).hexdigest().encode() == digest and data["n"] == n
                and data["squares"] == [i * i for i in range(n % 2000)] and len(data["text"]) == n * 37 % 100000)
        ok += good
        size += len(raw)
    results[k] = (ok, size)
threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
for t in threads: t.start()
for t in threads: t.join(120)
print("responses ok:", sum(r[0] for r in results if r), "of", CLIENTS * REQUESTS)
print("bytes:", sum(r[1] for r in results if r))
urllib.request.urlopen(f"http://127.0.0.1:{port}/shutdown", timeout=30).read()
PYEOF

# serve_and_query MODE: starts the server (preloaded when MODE=preload),
# runs the clients against it, waits for the server to exit.
serve_and_query() {
  local mode=$1 portfile=$WORK/port.$1 pid port waited=0
  if [[ $mode == preload ]]; then
    timeout -k 5 120 env LD_PRELOAD="$LIB" PYTHONMALLOC=malloc "$PY" "$WORK/server.py" "$portfile" \
      >"$WORK/server.$mode.out" 2>"$WORK/server.$mode.err" &
  else
    timeout -k 5 120 env PYTHONMALLOC=malloc "$PY" "$WORK/server.py" "$portfile" \
      >"$WORK/server.$mode.out" 2>"$WORK/server.$mode.err" &
  fi
  pid=$!
  BACKGROUND_PIDS+=("$pid")
  until [[ -s $portfile ]]; do
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/server.$mode.err" >&2; fail "$mode server died at start"; }
    ((waited++ < 200)) || fail "$mode server did not start within 20s"
    sleep 0.1
  done
  port=$(cat "$portfile")
  timeout -k 5 150 "$PY" "$WORK/client.py" "$port" >"$WORK/client.$mode.out" ||
    fail "clients of the $mode server failed (status $?)"
  local rc=0
  wait "$pid" || rc=$?
  [[ $rc -eq 0 ]] || { cat "$WORK/server.$mode.err" >&2; fail "the $mode server exited with status $rc"; }
  grep -qx "server done" "$WORK/server.$mode.out" || fail "the $mode server did not finish cleanly"
}

serve_and_query plain
serve_and_query preload
cat "$WORK/client.preload.out"
grep -qx "responses ok: 640 of 640" "$WORK/client.preload.out" || fail "wrong responses from the preloaded server"
cmp -s "$WORK/client.plain.out" "$WORK/client.preload.out" ||
  fail "client output differs: $(diff "$WORK/client.plain.out" "$WORK/client.preload.out")"
[[ ! -s $WORK/server.preload.err ]] || { cat "$WORK/server.preload.err" >&2; fail "the preloaded server wrote to stderr"; }
echo "ok: threaded http server"

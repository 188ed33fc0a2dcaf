#!/usr/bin/env bash
# redis.sh: redis-server on libmalloc (127.0.0.1, a free port, no
# persistence), driven by redis-cli checks and redis-benchmark (clients not
# preloaded), then a BGSAVE (a fork of the threaded server) whose dump an
# unpreloaded server must load with the same digest, then SHUTDOWN NOSAVE.
# The checks' output must match a run against an unpreloaded server.
source "$(dirname "$0")/common.sh"
need redis-server redis-cli redis-benchmark python3
PY=$(python3_path)

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

checks() {
  local port=$1
  local cli=(timeout 30 redis-cli -h 127.0.0.1 -p "$port")
  awk 'BEGIN {
    for (i = 1; i <= 2000; i++) {
      pad = sprintf("%*s", i % 300, ""); gsub(/ /, "x", pad)
      printf "SET key:%d value-%d-%s\n", i, i, pad
      printf "RPUSH list:%d %d %d %d\n", i % 50, i, i * 2, i * 3
      printf "HSET hash:%d f%d %d\n", i % 20, i, i * i
    } }' | "${cli[@]}" | sort | uniq -c
  "${cli[@]}" DBSIZE
  "${cli[@]}" GET key:1234 | md5sum
  "${cli[@]}" STRLEN key:299
  "${cli[@]}" LLEN list:7
  "${cli[@]}" LRANGE list:7 0 5
  "${cli[@]}" HLEN hash:3
  "${cli[@]}" HGET hash:3 f1003
  "${cli[@]}" INCRBY counter 41
  "${cli[@]}" APPEND key:1 "-appended"
  "${cli[@]}" GET key:1
  awk 'BEGIN { for (i = 3; i <= 2000; i += 3) print "DEL key:" i }' | "${cli[@]}" | sort | uniq -c
  "${cli[@]}" DBSIZE
}

# start_redis MODE PORT DIR: starts a server on PORT with DIR as its working
# directory (preloaded when MODE=preload), in the background, and waits until
# it answers PING; sets SERVER_PID.
start_redis() {
  local mode=$1 port=$2 dir=$3 waited=0 prefix=()
  [[ $mode == preload ]] && prefix=(env LD_PRELOAD="$LIB")
  timeout -k 5 200 "${prefix[@]}" redis-server --bind 127.0.0.1 --port "$port" --save '' \
    --appendonly no --daemonize no --dir "$dir" --loglevel warning --enable-debug-command local \
    >"$WORK/redis.$mode.$port.log" 2>&1 &
  SERVER_PID=$!
  BACKGROUND_PIDS+=("$SERVER_PID")
  until [[ $(timeout 5 redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null) == PONG ]]; do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/redis.$mode.$port.log" >&2; fail "$mode redis-server died at start"; }
    ((waited++ < 100)) || fail "$mode redis-server did not answer within 10s"
    sleep 0.1
  done
}

# stop_redis MODE PORT: SHUTDOWN NOSAVE; the server must exit with status 0.
stop_redis() {
  local mode=$1 port=$2 rc=0
  timeout 10 redis-cli -h 127.0.0.1 -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  wait "$SERVER_PID" || rc=$?
  [[ $rc -eq 0 ]] || { tail -n 20 "$WORK/redis.$mode.$port.log" >&2; fail "the $mode redis-server exited with status $rc"; }
}

# bgsave_roundtrip PORT: the preloaded server forks (BGSAVE, with its
# background threads running) and its child, on libmalloc, writes the
# dataset; a plain server started on that file must hold the same data.
bgsave_roundtrip() {
  local port=$1 cli=(timeout 10 redis-cli -h 127.0.0.1 -p "$1") waited=0 digest copy_port copy_digest
  local saved_pid=$SERVER_PID
  [[ $("${cli[@]}" BGSAVE) == "Background saving started" ]] || fail "BGSAVE did not start"
  until "${cli[@]}" INFO persistence | tr -d '\r' | grep -qx 'rdb_bgsave_in_progress:0'; do
    ((waited++ < 300)) || fail "BGSAVE did not finish within 30s"
    sleep 0.1
  done
  "${cli[@]}" INFO persistence | tr -d '\r' | grep -qx 'rdb_last_bgsave_status:ok' ||
    fail "BGSAVE failed: $(tail -n 5 "$WORK/redis.preload.$port.log")"
  digest=$("${cli[@]}" DEBUG DIGEST)
  [[ $digest =~ ^[0-9a-f]{40}$ && $digest != 0000000000000000000000000000000000000000 ]] ||
    fail "no digest from the preloaded server: $digest"
  copy_port=$(free_port)
  start_redis plain "$copy_port" "$WORK"
  copy_digest=$(timeout 10 redis-cli -h 127.0.0.1 -p "$copy_port" DEBUG DIGEST)
  stop_redis plain "$copy_port"
  SERVER_PID=$saved_pid
  [[ $copy_digest == "$digest" ]] ||
    fail "the dump the forked child wrote holds other data: digest $copy_digest, server $digest"
  echo "BGSAVE round trip: digest $digest"
}

# run_redis MODE: starts a server (preloaded when MODE=preload), runs the
# checks and, for MODE=preload, the benchmark and a BGSAVE round trip; shuts
# the server down.
run_redis() {
  local mode=$1 port
  port=$(free_port)
  start_redis "$mode" "$port" "$WORK"
  checks "$port" >"$WORK/checks.$mode.out" || fail "redis-cli checks failed against the $mode server"
  if [[ $mode == preload ]]; then
    timeout 150 redis-benchmark -h 127.0.0.1 -p "$port" -q -n 20000 -c 20 \
      -t ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange,mset \
      >"$WORK/bench.out" 2>&1 || { cat "$WORK/bench.out" >&2; fail "redis-benchmark failed"; }
    tr '\r' '\n' <"$WORK/bench.out" | grep 'requests per second' | tail -n 20
    [[ $(tr '\r' '\n' <"$WORK/bench.out" | grep -c 'requests per second') -ge 14 ]] ||
      fail "redis-benchmark did not complete every test"
    [[ $(timeout 5 redis-cli -h 127.0.0.1 -p "$port" GET key:1) == value-1-x-appended ]] ||
      fail "key:1 changed or lost after the benchmark"
    bgsave_roundtrip "$port"
  fi
  stop_redis "$mode" "$port"
}

run_redis plain
run_redis preload
cmp -s "$WORK/checks.plain.out" "$WORK/checks.preload.out" ||
  fail "redis-cli output differs: $(diff "$WORK/checks.plain.out" "$WORK/checks.preload.out")"
cat "$WORK/checks.preload.out"
echo "ok: redis-server"

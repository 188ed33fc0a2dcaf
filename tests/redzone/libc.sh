#!/usr/bin/env bash
# libc.sh: redzone mode reports a bug made through libc's memory and string
# functions at the call (src/redzone/intercept.cpp): kind, address (the
# first bad byte), access, size, the function called and the caller's frame;
# the fortified (__*_chk) entry points likewise (and a fortified build's
# clean run through them reports nothing); a library loaded by dlopen after
# start-up too, bound now or lazily (patched at a later stack walk, or at a
# thread's 64th capture from places seen before); `intercept=0` turns it off (an overflow is then found when the
# block is freed); a clean run prints the same as without redzone mode.
# usage: libc.sh RZ_LIBC RZ_LIBC_FORTIFIED RZ_LIBC_LIB /path/to/libmalloc.so
set -euo pipefail
PROG=$1 FORT=$2 DLLIB=$3 LIB=$4
WORK=$(mktemp -d /tmp/lm_rzlibc.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export TMPDIR=$WORK  # (what a mode leaves there goes with it)
fails=0

# check PROGRAM MODE KIND OFFSET ACCESS SIZE FUNC [OPTIONS]: SIZE "-" for a
# read whose length depends on the memory after the block.
check() {
  local prog=$1 mode=$2 kind=$3 offset=$4 access=$5 size=$6 func=$7 opts=${8:-}
  local rc=0
  LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1${opts:+:$opts} timeout 50 "$prog" "$mode" "$DLLIB" \
    >"$WORK/out" 2>"$WORK/err" || rc=$?
  local block
  block=$(sed -n 's/^block //p' "$WORK/out" | tail -n 1)  # (a mode may name another block after the first)
  local want
  want=$(printf '0x%x' $((block + offset)))
  local first second frame
  first=$(sed -n 1p "$WORK/err")
  second=$(sed -n 2p "$WORK/err")
  frame=$(sed -n 3p "$WORK/err")
  local why=""
  [[ $rc -ne 0 ]] || why="exit status 0"
  [[ $first == *"ERROR: libmalloc: $kind on address $want "* ]] || why="$why; first line"
  if [[ $size == - ]]; then
    [[ $second == "$access of size "*" at $want thread T0, by the program's call to $func" ]] || why="$why; second line"
  else
    [[ $second == "$access of size $size at $want thread T0, by the program's call to $func" ]] || why="$why; second line"
  fi
  local caller=main
  [[ $mode == dlopen* ]] && caller=rz_libc_bug
  [[ $mode == vsprintf ]] && caller=vformat
  [[ $frame == *" in $caller ("* ]] || why="$why; frame #0 is not $caller"
  if [[ -n $why ]]; then
    echo "FAIL: $(basename "$prog") $mode:$why (want $kind at $want, $access of size $size, $func)" >&2
    head -n 12 "$WORK/err" >&2
    fails=$((fails + 1))
  else
    echo "ok: $(basename "$prog") $mode: $kind at block+$offset, $access, $func"
  fi
}

check "$PROG" memcpy heap-buffer-overflow 16 WRITE 17 memcpy
check "$PROG" memmove heap-buffer-overflow 16 WRITE 18 memmove
check "$PROG" memset heap-buffer-overflow 16 WRITE 20 memset
check "$PROG" strcpy heap-buffer-overflow 16 WRITE 17 strcpy
check "$PROG" stpcpy heap-buffer-overflow 16 WRITE 18 stpcpy
check "$PROG" strncpy heap-buffer-overflow 16 WRITE 20 strncpy
check "$PROG" strcat heap-buffer-overflow 16 WRITE 8 strcat
check "$PROG" strlen heap-buffer-overflow 16 READ - strlen
check "$PROG" memcmp heap-buffer-overflow 16 READ 17 memcmp
check "$PROG" strdup heap-buffer-overflow 16 READ - strdup
check "$PROG" uaf-memset heap-use-after-free 0 WRITE 4 memset
check "$PROG" uaf-strlen heap-use-after-free 0 READ - strlen
check "$PROG" dlopen heap-buffer-overflow 16 WRITE 24 memset
check "$PROG" dlopen-seen heap-buffer-overflow 16 WRITE 24 memset
check "$PROG" chk-memcpy heap-buffer-overflow 16 WRITE 17 __memcpy_chk
check "$PROG" chk-memset heap-buffer-overflow 16 WRITE 20 __memset_chk
check "$PROG" chk-strcpy heap-buffer-overflow 16 WRITE 17 __strcpy_chk
check "$PROG" chk-strncpy heap-buffer-overflow 16 WRITE 20 __strncpy_chk
check "$PROG" sprintf heap-buffer-overflow 16 WRITE 17 sprintf
check "$PROG" vsprintf heap-buffer-overflow 16 WRITE 17 vsprintf
check "$PROG" snprintf heap-buffer-overflow 16 WRITE 20 snprintf
check "$PROG" chk-sprintf heap-buffer-overflow 16 WRITE 17 __sprintf_chk
check "$PROG" fgets heap-buffer-overflow 16 WRITE 20 fgets
check "$PROG" fread heap-buffer-overflow 16 WRITE 20 fread
check "$PROG" read heap-buffer-overflow 16 WRITE 20 read
check "$PROG" chk-read heap-buffer-overflow 16 WRITE 20 __read_chk
check "$PROG" memchr heap-buffer-overflow 16 READ 17 memchr
check "$PROG" strchr heap-buffer-overflow 16 READ - strchr
check "$PROG" strstr heap-buffer-overflow 16 READ - strstr
check "$PROG" strcmp heap-buffer-overflow 16 READ 17 strcmp
check "$PROG" strncmp heap-buffer-overflow 16 READ 17 strncmp
check "$PROG" strcasecmp heap-buffer-overflow 16 READ 17 strcasecmp
check "$PROG" uaf-strcmp heap-use-after-free 0 READ 1 strcmp
check "$PROG" table heap-buffer-overflow 16 READ 17 strcmp
check "$PROG" write heap-buffer-overflow 16 READ 20 write
check "$PROG" fwrite heap-buffer-overflow 16 READ 20 fwrite
check "$PROG" fputs heap-buffer-overflow 16 READ - fputs
check "$PROG" memccpy heap-buffer-overflow 16 WRITE 20 memccpy
check "$PROG" recv heap-buffer-overflow 16 WRITE 20 recv
check "$PROG" chk-recv heap-buffer-overflow 16 WRITE 20 __recv_chk
check "$PROG" getline heap-buffer-overflow 16 WRITE 31 getline
check "$PROG" writev heap-buffer-overflow 16 READ 20 writev
check "$PROG" sendmsg heap-buffer-overflow 16 READ 20 sendmsg
check "$PROG" readv heap-buffer-overflow 16 WRITE 26 readv
check "$PROG" recvmsg heap-buffer-overflow 16 WRITE 26 recvmsg
check "$PROG" strtol heap-buffer-overflow 16 READ 17 strtol
check "$PROG" strtol-space heap-buffer-overflow 16 READ 17 strtol
check "$PROG" atoi heap-buffer-overflow 16 READ 17 atoi
check "$PROG" strtod heap-buffer-overflow 16 READ 17 strtod
check "$PROG" sscanf heap-buffer-overflow 16 READ - sscanf
check "$PROG" sscanf-s heap-buffer-overflow 16 WRITE 22 sscanf
check "$PROG" sscanf-d heap-buffer-overflow 16 WRITE 4 sscanf
check "$PROG" sscanf-c heap-buffer-overflow 16 WRITE 20 sscanf
check "$PROG" sscanf-Ls heap-buffer-overflow 16 WRITE 28 sscanf
check "$PROG" printf heap-buffer-overflow 16 READ - printf
check "$PROG" fprintf-precision heap-buffer-overflow 16 READ 20 fprintf
check "$PROG" printf-n heap-buffer-overflow 16 WRITE 4 printf
check "$PROG" asprintf heap-buffer-overflow 16 READ - asprintf
check "$PROG" chk-printf heap-buffer-overflow 16 READ - __printf_chk
check "$PROG" uaf-printf heap-use-after-free 0 READ - printf
check "$PROG" open heap-buffer-overflow 16 READ - open
check "$PROG" chk-open heap-buffer-overflow 16 READ - __open_2
check "$PROG" fopen heap-buffer-overflow 16 READ - fopen
check "$PROG" rename heap-buffer-overflow 16 READ - rename
check "$PROG" readlink heap-buffer-overflow 16 WRITE - readlink
check "$PROG" stat heap-buffer-overflow 136 WRITE 144 stat
check "$PROG" uaf-stat heap-use-after-free 0 READ - stat
check "$PROG" uaf-truncate heap-use-after-free 0 READ - truncate64  # (meson builds with -D_FILE_OFFSET_BITS=64)
check "$PROG" qsort heap-buffer-overflow 16 READ 20 qsort
check "$PROG" wcslen heap-buffer-overflow 16 READ - wcslen
check "$PROG" wcscpy heap-buffer-overflow 16 WRITE 20 wcscpy
check "$PROG" wmemset heap-buffer-overflow 16 WRITE 20 wmemset
check "$PROG" wcscmp heap-buffer-overflow 16 READ 20 wcscmp
check "$PROG" sendmmsg heap-buffer-overflow 16 READ 20 sendmmsg
check "$PROG" recvmmsg heap-buffer-overflow 16 WRITE 26 recvmmsg
check "$PROG" sendmmsg-len heap-buffer-overflow 56 WRITE 4 sendmmsg
check "$PROG" recvmmsg-len heap-buffer-overflow 56 WRITE 4 recvmmsg
check "$PROG" recvmmsg-name heap-buffer-overflow 16 WRITE 27 recvmmsg
check "$PROG" memmem heap-buffer-overflow 16 READ 20 memmem
check "$PROG" strcasestr heap-buffer-overflow 16 READ - strcasestr
check "$PROG" wcsstr heap-buffer-overflow 16 READ - wcsstr
check "$PROG" strtok heap-buffer-overflow 16 WRITE - strtok
check "$PROG" strsep heap-buffer-overflow 16 WRITE - strsep
check "$PROG" getcwd heap-buffer-overflow 16 WRITE - getcwd
check "$PROG" strerror_r heap-buffer-overflow 16 WRITE 20 strerror_r
check "$PROG" inet_ntop heap-buffer-overflow 16 WRITE 40 inet_ntop
check "$PROG" pipe heap-buffer-overflow 16 WRITE 8 pipe
check "$PROG" poll heap-buffer-overflow 16 WRITE 24 poll
check "$PROG" clock_gettime heap-buffer-overflow 16 WRITE 16 clock_gettime
check "$PROG" localtime_r heap-buffer-overflow 16 WRITE 56 localtime_r
check "$PROG" strftime heap-buffer-overflow 16 WRITE 20 strftime
check "$PROG" mkfifo heap-buffer-overflow 16 READ - mkfifo
check "$PROG" uaf-utime heap-use-after-free 0 READ - utime
check "$PROG" statvfs heap-buffer-overflow 16 WRITE 112 statvfs
check "$PROG" fscanf heap-buffer-overflow 16 WRITE 30 fscanf
check "$PROG" execv-argv heap-buffer-overflow 16 READ 24 execv
check "$PROG" execve-path heap-buffer-overflow 16 READ 17 execve
check "$PROG" execl-arg heap-buffer-overflow 16 READ 17 execl
check "$PROG" execle-envp heap-buffer-overflow 16 READ 24 execle
check "$PROG" execl-environ heap-use-after-free 0 READ 1 execl
check "$PROG" exec-inner heap-buffer-overflow 16 READ 9 execv
check "$PROG" uaf-spawn heap-use-after-free 0 READ 1 posix_spawn
check "$PROG" getsockname heap-buffer-overflow 16 WRITE 27 getsockname
check "$PROG" accept heap-buffer-overflow 16 WRITE 27 accept
check "$PROG" getpeername-heaplen heap-buffer-overflow 16 WRITE 27 getpeername
check "$PROG" connect heap-buffer-overflow 16 READ 110 connect
check "$PROG" getsockopt heap-buffer-overflow 16 WRITE 12 getsockopt
check "$PROG" sendmsg-header heap-buffer-overflow 48 READ 56 sendmsg
check "$PROG" epoll_wait heap-buffer-overflow 16 WRITE 24 epoll_wait
check "$PROG" select heap-buffer-overflow 16 READ 32 select  # (EBADF: the redzone read as descriptors)
check "$PROG" getenv heap-buffer-overflow 16 READ - getenv
check "$PROG" setenv heap-buffer-overflow 16 READ - setenv
check "$PROG" putenv heap-buffer-overflow 16 READ - putenv
check "$PROG" strcoll heap-buffer-overflow 16 READ 17 strcoll
check "$PROG" strxfrm heap-buffer-overflow 16 WRITE 21 strxfrm
check "$PROG" iconv heap-buffer-overflow 16 WRITE 20 iconv
check "$PROG" getnameinfo heap-buffer-overflow 16 READ 28 getnameinfo
check "$PROG" setvbuf heap-buffer-overflow 16 WRITE 64 setvbuf
check "$PROG" fnmatch heap-buffer-overflow 16 READ - fnmatch
check "$PROG" regexec heap-buffer-overflow 16 WRITE 32 regexec
check "$PROG" strptime heap-buffer-overflow 16 WRITE 56 strptime
check "$PROG" mbstowcs heap-buffer-overflow 16 WRITE 84 mbstowcs
check "$PROG" getpwuid_r heap-buffer-overflow 16 WRITE 48 getpwuid_r

# intercept=0: no check at the call; the overflow is found at free.
rc=0
LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:intercept=0 timeout 50 "$PROG" memcpy >"$WORK/out" 2>"$WORK/err" || rc=$?
if [[ $rc -eq 0 ]] || grep -q "call to" "$WORK/err" || ! grep -q "found by free()" "$WORK/err"; then
  echo "FAIL: intercept=0: status $rc, want the overflow found by free() and no call checked" >&2
  head -n 5 "$WORK/err" >&2
  fails=$((fails + 1))
else
  echo "ok: intercept=0: found by free(), not at the call"
fi

# halt_on_error=0: the program goes on after the report, with the errno
# the call set (strtol's ERANGE).
rc=0
LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:halt_on_error=0 timeout 50 "$PROG" strtol-erange >"$WORK/out" 2>"$WORK/err" ||
  rc=$?
if ! grep -q "^erange kept$" "$WORK/out" || ! grep -q "by the program's call to strtol" "$WORK/err"; then
  echo "FAIL: strtol-erange: status $rc, want the report and errno ERANGE kept" >&2
  cat "$WORK/out" >&2
  head -n 5 "$WORK/err" >&2
  fails=$((fails + 1))
else
  echo "ok: strtol-erange: reported, errno kept"
fi

# Clean: the same output as without redzone mode, no report.
for prog in "$PROG" "$FORT"; do
  timeout 50 "$prog" clean >"$WORK/plain" 2>&1
  rc=0
  LD_PRELOAD=$LIB LIBMALLOC_OPTIONS=redzone=1:detect_leaks=1 timeout 50 "$prog" clean >"$WORK/rz" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]] || ! cmp -s "$WORK/plain" "$WORK/rz"; then
    echo "FAIL: $(basename "$prog") clean: status $rc" >&2
    diff "$WORK/plain" "$WORK/rz" | head -n 20 >&2 || true
    fails=$((fails + 1))
  else
    echo "ok: $(basename "$prog") clean: $(cat "$WORK/plain")"
  fi
done

[[ $fails -eq 0 ]] || { echo "$fails check(s) failed" >&2; exit 1; }

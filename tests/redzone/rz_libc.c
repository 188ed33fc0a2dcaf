// rz_libc.c: bugs made through libc's memory and string functions, which
// redzone mode checks at the call (src/redzone/intercept.cpp). Each mode
// prints "block ADDR" (the 16-byte block it misuses) and then makes one bad
// call; `clean` uses every checked function within bounds and prints what
// they computed. Built -O0 -fno-builtin (the calls must be calls), and once
// more -O2 -D_FORTIFY_SOURCE=3, whose clean run goes through the __*_chk
// forms the compiler emits (tests/redzone/libc.sh).
#define _GNU_SOURCE  // memrchr, strchrnul
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <iconv.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <regex.h>
#include <spawn.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>
#include <wchar.h>

// Sizes the compiler cannot see through (the fortified build must call the
// _chk forms with the block's size, not fold the bug away).
static size_t opaque(size_t n) {
  volatile size_t v = n;
  return v;
}

static char* hidden(char* p) {
  char* volatile v = p;
  return v;
}

__attribute__((noinline)) static void* new_site(void) { return malloc(opaque(24)); }
__attribute__((noinline)) static void* old_site(void) { return malloc(opaque(24)); }

// Allocations and frees whose stacks the stack-capture cache has seen.
__attribute__((noinline)) static void seen_places(int times) {
  for (int i = 0; i < times; ++i) free(old_site());
}

static char* block(void) {
  char* p = malloc(opaque(16));
  printf("block %p\n", (void*)p);
  fflush(stdout);
  return p;
}

// The fortified entry points (-D_FORTIFY_SOURCE), called directly: with the
// destination's size passed larger than the block, libc's own check passes
// and only redzone mode's can see the overflow.
void* __memcpy_chk(void*, const void*, size_t, size_t);
void* __memset_chk(void*, int, size_t, size_t);
char* __strcpy_chk(char*, const char*, size_t);
char* __strncpy_chk(char*, const char*, size_t, size_t);
int __sprintf_chk(char*, int, size_t, const char*, ...);
int __printf_chk(int, const char*, ...);
ssize_t __read_chk(int, void*, size_t, size_t);
int __open_2(const char*, int);
ssize_t __recv_chk(int, void*, size_t, size_t, int);

// A connected socket pair with `n` bytes of digits and letters waiting at
// the returned end.
static int sent(size_t n) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) exit(3);
  if (send(sv[1], "0123456789abcdefghijklmnopqrstuvwxyz", n, 0) != (ssize_t)n) exit(3);
  return sv[0];
}

// Data initialised with a function's address (a relocation of the data,
// not a GOT slot): checked too, and still equal to the function's address
// as the code takes it.
typedef int (*compare_fn)(const char*, const char*);
static const compare_fn compare_table[] = {strcmp, strcasecmp};

// A file holding `text` (a line of 29 digits and letters), at its start.
static FILE* text_file(void) {
  FILE* f = tmpfile();
  fputs("0123456789abcdefghijklmnopqrs\nsecond line\n", f);
  rewind(f);
  return f;
}

// An abstract-namespace address (no file, unique to this process): its
// length is 27 bytes (the family, the leading 0 and 24 characters).
static socklen_t abstract_address(struct sockaddr_un* a, const char* tag) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "rz_libc_%-8.8s_%07d", tag, (int)(getpid() % 10000000));
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + 24);
}

// A listener, bound to `tag`'s address, with a client bound to another
// connected to it; *client gets the client's descriptor.
static int listening(const char* tag, int* client) {
  struct sockaddr_un la, ca;
  socklen_t ll = abstract_address(&la, tag), cl = abstract_address(&ca, "client");
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  *client = socket(AF_UNIX, SOCK_STREAM, 0);
  if (ls < 0 || *client < 0 || bind(ls, (struct sockaddr*)&la, ll) != 0 || listen(ls, 4) != 0 ||
      bind(*client, (struct sockaddr*)&ca, cl) != 0 || connect(*client, (struct sockaddr*)&la, ll) != 0)
    exit(3);
  return ls;
}

// Sockets' addresses and options, event waits and select, each with its
// memory in exact-size heap blocks. The lengths the kernel reads and
// rewrites sit on the stack, at a heap block's start, inside a heap struct,
// and in a global (not checked); copies cut short (room for 8 bytes of a
// 27-byte address) write only the room. Prints one line.
static socklen_t global_len;
static void sockets_clean(void) {
  struct sockaddr_un* la = malloc(opaque(sizeof *la));
  struct sockaddr_un* ca = malloc(opaque(sizeof *ca));
  socklen_t ll = abstract_address(la, "listen");
  socklen_t cl = abstract_address(ca, "client2");
  int ls = socket(AF_UNIX, SOCK_STREAM, 0), cs = socket(AF_UNIX, SOCK_STREAM, 0), cs2 = socket(AF_UNIX, SOCK_STREAM, 0);
  int* on = malloc(opaque(sizeof(int)));
  *on = 1;
  int r1 = bind(ls, (struct sockaddr*)la, ll) == 0 && listen(ls, 4) == 0;
  int r2 = bind(cs, (struct sockaddr*)ca, cl) == 0 && setsockopt(cs, SOL_SOCKET, SO_PASSCRED, on, sizeof *on) == 0;
  int r3 = connect(cs, (struct sockaddr*)la, ll) == 0 && connect(cs2, (struct sockaddr*)la, ll) == 0;
  struct conn {
    struct sockaddr_un peer;
    socklen_t len;
  }* c = malloc(opaque(sizeof(struct conn)));
  c->len = sizeof c->peer;
  int as = accept(ls, (struct sockaddr*)&c->peer, &c->len);
  int peer_ok = c->len == cl && memcmp(c->peer.sun_path, ca->sun_path, 25) == 0;
  printf("%d %d %d %d %d ", r1, r2, r3, as >= 0, peer_ok);
  c->len = sizeof c->peer;
  int as2 = accept4(ls, (struct sockaddr*)&c->peer, &c->len, SOCK_CLOEXEC);
  printf("%d %u ", as2 >= 0, (unsigned)c->len);  // an unbound client: the family alone
  char* cut = malloc(opaque(8));
  socklen_t cut_len = 8;
  int g1 = getsockname(cs, (struct sockaddr*)cut, &cut_len);
  socklen_t* heap_len = malloc(opaque(sizeof(socklen_t)));
  *heap_len = 8;
  int g2 = getpeername(as, (struct sockaddr*)cut, heap_len);
  c->len = 8;
  int g3 = getpeername(cs, (struct sockaddr*)cut, &c->len);
  global_len = 8;
  int g4 = getsockname(ls, (struct sockaddr*)cut, &global_len);
  printf("%d %u %d %u %d %u %d %u ", g1, (unsigned)cut_len, g2, (unsigned)*heap_len, g3, (unsigned)c->len, g4,
         (unsigned)global_len);
  // A wild length: the kernel's EFAULT, nothing read by a check.
  int g5 = getsockname(ls, (struct sockaddr*)cut, (socklen_t*)hidden((char*)8));
  printf("%d %d ", g5, errno == EFAULT);
  struct ucred* cred = malloc(opaque(sizeof(struct ucred)));
  *heap_len = sizeof *cred;
  int o1 = getsockopt(as, SOL_SOCKET, SO_PEERCRED, cred, heap_len);
  int cred_ok = o1 == 0 && *heap_len == sizeof *cred && cred->pid == getpid();
  int* type = malloc(opaque(sizeof(int)));
  socklen_t type_len = sizeof(int);
  int o2 = getsockopt(cs, SOL_SOCKET, SO_TYPE, type, &type_len);
  printf("%d %d %d ", cred_ok, o2, *type == SOCK_STREAM);
  // Datagrams: an address each way, a descriptor passed in control data.
  struct sockaddr_un* da = malloc(opaque(sizeof *da));
  struct sockaddr_un* ea = malloc(opaque(sizeof *ea));
  socklen_t dl = abstract_address(da, "dgramrx");
  socklen_t el = abstract_address(ea, "dgramtx");
  int rx = socket(AF_UNIX, SOCK_DGRAM, 0), tx = socket(AF_UNIX, SOCK_DGRAM, 0);
  int d1 = bind(rx, (struct sockaddr*)da, dl) == 0 && bind(tx, (struct sockaddr*)ea, el) == 0;
  ssize_t d2 = sendto(tx, "hello", 5, 0, (struct sockaddr*)da, dl);
  struct sockaddr_un* from = malloc(opaque(sizeof *from));
  socklen_t from_len = sizeof *from;
  char* buf = malloc(opaque(8));
  ssize_t d3 = recvfrom(rx, buf, 8, 0, (struct sockaddr*)from, &from_len);
  printf("%d %zd %zd %d ", d1, d2, d3, from_len == el && memcmp(from->sun_path, ea->sun_path, 25) == 0);
  struct msghdr* m = malloc(opaque(sizeof *m));
  struct iovec* iov = malloc(opaque(sizeof *iov));
  char* ctl = malloc(opaque(CMSG_SPACE(sizeof(int))));
  memset(m, 0, sizeof *m);
  memcpy(buf, "world", 5);
  iov->iov_base = buf;
  iov->iov_len = 5;
  m->msg_name = da;
  m->msg_namelen = dl;
  m->msg_iov = iov;
  m->msg_iovlen = 1;
  m->msg_control = ctl;
  m->msg_controllen = CMSG_SPACE(sizeof(int));
  struct cmsghdr* cm = CMSG_FIRSTHDR(m);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &tx, sizeof(int));
  ssize_t d4 = sendmsg(tx, m, 0);
  memset(m, 0, sizeof *m);
  memset(buf, 0, 8);
  m->msg_name = from;
  m->msg_namelen = sizeof *from;
  m->msg_iov = iov;
  m->msg_iovlen = 1;
  m->msg_control = ctl;
  m->msg_controllen = CMSG_SPACE(sizeof(int));
  ssize_t d5 = recvmsg(rx, m, 0);
  cm = CMSG_FIRSTHDR(m);
  int passed = -1;
  if (cm && cm->cmsg_type == SCM_RIGHTS) memcpy(&passed, CMSG_DATA(cm), sizeof passed);
  printf("%zd %zd %.5s %d %d %d ", d4, d5, buf, m->msg_namelen == el, passed >= 0, (int)m->msg_controllen);
  if (passed >= 0) close(passed);
  // A wild msghdr: the kernel's EFAULT.
  ssize_t d6 = recvmsg(rx, (struct msghdr*)hidden((char*)8), MSG_DONTWAIT);
  printf("%zd %d ", d6, errno == EFAULT);
  // Two datagrams by the batch and back: the mmsghdr array, the iovecs and
  // the address (27 bytes) each in a block of their size, the rooms for the
  // sender's address exactly as large as it.
  struct mmsghdr* mv = malloc(opaque(2 * sizeof *mv));
  struct iovec* mio = malloc(opaque(2 * sizeof *mio));
  char* to = malloc(opaque(dl));
  char* rooms = malloc(opaque(2 * el));
  char* mbuf = malloc(opaque(6));
  memcpy(to, da, dl);
  memcpy(mbuf, "onetwo", 6);
  memset(mv, 0, 2 * sizeof *mv);
  for (int i = 0; i < 2; ++i) {
    mio[i].iov_base = mbuf + 3 * i;
    mio[i].iov_len = 3;
    mv[i].msg_hdr.msg_name = to;
    mv[i].msg_hdr.msg_namelen = dl;
    mv[i].msg_hdr.msg_iov = &mio[i];
    mv[i].msg_hdr.msg_iovlen = 1;
  }
  int mm1 = sendmmsg(tx, mv, 2, 0);
  memset(mv, 0, 2 * sizeof *mv);
  memset(mbuf, 0, 6);
  for (int i = 0; i < 2; ++i) {
    mv[i].msg_hdr.msg_name = rooms + el * i;
    mv[i].msg_hdr.msg_namelen = el;
    mv[i].msg_hdr.msg_iov = &mio[i];
    mv[i].msg_hdr.msg_iovlen = 1;
  }
  int mm2 = recvmmsg(rx, mv, 2, MSG_DONTWAIT, NULL);
  printf("%d %d %.6s %u %u %d ", mm1, mm2, mbuf, mv[0].msg_len, mv[1].msg_len,
         mv[1].msg_hdr.msg_namelen == el && memcmp(rooms + el + 2, ea->sun_path, 25) == 0);
  free(mbuf);
  free(rooms);
  free(to);
  free(mio);
  free(mv);
  // Two readable descriptors: epoll reports both, then one; select and
  // pselect see one.
  if (sendto(tx, "again", 5, 0, (struct sockaddr*)da, dl) != 5 || write(cs, "x", 1) != 1) exit(3);
  int ep = epoll_create1(0);
  struct epoll_event* ev = malloc(opaque(sizeof *ev));
  ev->events = EPOLLIN;
  ev->data.u64 = 1;
  int e1 = epoll_ctl(ep, EPOLL_CTL_ADD, rx, ev);
  ev->data.u64 = 2;
  int e2 = epoll_ctl(ep, EPOLL_CTL_ADD, as, ev);
  struct epoll_event* evs = malloc(opaque(2 * sizeof *evs));
  int e3 = epoll_wait(ep, evs, 2, 1000);
  int e4 = epoll_ctl(ep, EPOLL_CTL_DEL, rx, NULL);
  int e5 = epoll_pwait(ep, evs, 2, 1000, NULL);
  printf("%d %d %d %d %d %d ", e1, e2, e3, e4, e5, (int)evs[0].data.u64);
  fd_set* rs = malloc(opaque(sizeof(fd_set)));
  FD_ZERO(rs);
  FD_SET(as, rs);
  struct timeval* stv = malloc(opaque(sizeof *stv));
  stv->tv_sec = 1;
  stv->tv_usec = 0;
  int s1 = select(as + 1, rs, NULL, NULL, stv);
  int s2 = FD_ISSET(as, rs) != 0;
  struct timespec* sts = malloc(opaque(sizeof *sts));
  sts->tv_sec = 1;
  sts->tv_nsec = 0;
  sigset_t* mask = malloc(opaque(sizeof(sigset_t)));
  sigemptyset(mask);
  int s3 = pselect(as + 1, rs, NULL, NULL, sts, mask);
  printf("%d %d %d\n", s1, s2, s3);
  close(ep);
  close(rx);
  close(tx);
  close(as2);
  close(as);
  close(cs2);
  close(cs);
  close(ls);
  free(mask);
  free(sts);
  free(stv);
  free(rs);
  free(evs);
  free(ev);
  free(ctl);
  free(iov);
  free(m);
  free(buf);
  free(from);
  free(ea);
  free(da);
  free(type);
  free(cred);
  free(heap_len);
  free(cut);
  free(c);
  free(on);
  free(ca);
  free(la);
}

// The environment, collation, iconv and numeric name service, with exact-
// size heap strings and buffers (and cut ones: strxfrm with less room than
// it needs, iconv stopping with E2BIG). Prints one line.
static void text_clean(void) {
  char* name = strdup("RZ_LIBC_VAR");
  char* value = strdup("heap value");
  char* pair = strdup("RZ_LIBC_PUT=put");
  int e1 = setenv(name, value, 1);
  const char* got = getenv(name);
  int e2 = got && strcmp(got, "heap value") == 0;
  int e3 = putenv(pair);
  got = secure_getenv("RZ_LIBC_PUT");
  int e4 = got && strcmp(got, "put") == 0;
  int e5 = unsetenv("RZ_LIBC_PUT");
  int e6 = unsetenv(name);
  int e7 = setenv(hidden(""), hidden(NULL), 1);  // EINVAL: the value not read
  printf("%d %d %d %d %d %d %d ", e1, e2, e3, e4, e5, e6, e7);
  char* a = strdup("collate");
  char* b = strdup("collated");
  char* xf = malloc(opaque(8));  // "collate" and its terminator
  size_t x1 = strxfrm(xf, a, 8);
  char* short_xf = malloc(opaque(4));
  size_t x2 = strxfrm(short_xf, b, 4);  // room for 4 of 9: cut
  printf("%d %zu %s %zu ", strcoll(a, b) < 0, x1, xf, x2);
  iconv_t cd = iconv_open("UTF-16LE", "ASCII");
  char* in = malloc(opaque(5));
  memcpy(in, "iconv", 5);
  char* out = malloc(opaque(10));
  char* ip = in;
  char* op = out;
  size_t il = 5, ol = 10;
  size_t c1 = iconv(cd, &ip, &il, &op, &ol);
  char* small = malloc(opaque(4));
  ip = in;
  op = small;
  il = 5;
  ol = 4;
  size_t c2 = iconv(cd, &ip, &il, &op, &ol);  // E2BIG after 2 characters
  int big = errno == E2BIG;
  size_t c3 = iconv(cd, NULL, NULL, NULL, NULL);
  iconv_close(cd);
  printf("%zu %d %zd %d %zu %zu ", c1, out[8] == 'v', (ssize_t)c2, big, il, c3);
  char* node = strdup("127.0.0.1");
  char* service = strdup("80");
  struct addrinfo* hints = malloc(opaque(sizeof *hints));
  memset(hints, 0, sizeof *hints);
  hints->ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints->ai_family = AF_INET;
  hints->ai_socktype = SOCK_STREAM;
  struct addrinfo* res = NULL;
  int g1 = getaddrinfo(node, service, hints, &res);
  struct sockaddr_in* sin = malloc(opaque(sizeof *sin));
  if (g1 == 0) memcpy(sin, res->ai_addr, sizeof *sin);
  char* host = malloc(opaque(10));  // "127.0.0.1"
  char* serv = malloc(opaque(3));   // "80"
  int g2 = g1 == 0 ? getnameinfo((struct sockaddr*)sin, sizeof *sin, host, 10, serv, 3, NI_NUMERICHOST | NI_NUMERICSERV) : -1;
  // A sockaddr_storage's length for the 16-byte sockaddr_in (glibc reads 16).
  int g3 = g1 == 0 ? getnameinfo((struct sockaddr*)sin, sizeof(struct sockaddr_storage), host, 10, NULL, 0,
                                 NI_NUMERICHOST) : -1;
  printf("%d ", g3);
  printf("%d %d %s %s\n", g1, g2, g2 == 0 ? host : "-", g2 == 0 ? serv : "-");
  if (res) freeaddrinfo(res);
  free(serv);
  free(host);
  free(sin);
  free(hints);
  free(service);
  free(node);
  free(small);
  free(out);
  free(in);
  free(short_xf);
  free(xf);
  free(b);
  free(a);
  free(pair);  // (no longer in the environment)
  free(value);
  free(name);
}

// Strings that end at a page's end, before an inaccessible page, compared
// with equal heap strings: the check's word-at-a-time loop must not load
// across (prints how many compared equal: 3 per length).
static int compare_at_page_end(void) {
  char* m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED || mprotect(m + 4096, 4096, PROT_NONE) != 0) exit(3);
  int equal = 0;
  for (size_t len = 0; len < 24; ++len) {
    char* end = m + 4096 - 1 - len;  // the string at end, its terminator at the page's last byte
    for (size_t k = 0; k < len; ++k) end[k] = (char)('a' + k % 7);
    end[len] = 0;
    char* h = malloc(opaque(len + 1));
    memcpy(h, end, len + 1);
    equal += strcmp(end, h) == 0;
    equal += strncmp(h, end, opaque(64)) == 0;
    equal += strcoll(end, h) == 0;
    free(h);
  }
  munmap(m, 8192);
  return equal;
}

// stdio buffers, matching, strptime, multibyte conversions and user and
// group entries, with exact-size heap objects (and a conversion cut short).
// Prints one line.
static void more_clean(void) {
  printf("%d ", compare_at_page_end());
  FILE* f = tmpfile();
  char* fbuf = malloc(opaque(64));
  int b1 = setvbuf(f, fbuf, _IOFBF, 64);
  fputs("buffered by the program's block\n", f);
  fflush(f);
  fclose(f);
  f = tmpfile();
  char* sbuf = malloc(opaque(BUFSIZ));
  setbuf(f, sbuf);
  fputs("x", f);
  fclose(f);
  f = tmpfile();
  setbuffer(f, fbuf, 64);
  fputs("y", f);
  fclose(f);
  char* mem = malloc(opaque(32));
  FILE* m = fmemopen(mem, 32, "w+");
  fputs("in memory", m);
  fflush(m);
  int b2 = strcmp(mem, "in memory") == 0;
  fclose(m);
  printf("%d %d ", b1, b2);
  char* pat = strdup("*.c");
  char* name = strdup("main.c");
  int m1 = fnmatch(pat, name, 0);
  regex_t* re = malloc(opaque(sizeof(regex_t)));
  char* rpat = strdup("(a+)(b)");
  int m2 = regcomp(re, rpat, REG_EXTENDED);
  regmatch_t* pm = malloc(opaque(3 * sizeof(regmatch_t)));
  char* subject = strdup("xaab");
  int m3 = regexec(re, subject, 3, pm, 0);
  printf("%d %d %d %d %d ", m1, m2, m3, (int)pm[1].rm_so, (int)pm[2].rm_eo);
  pm[0].rm_so = 1;  // REG_STARTEND: "aab" of "xaabz..." without a terminator read
  pm[0].rm_eo = 4;
  char* part = malloc(opaque(4));
  memcpy(part, "xaab", 4);
  int m4 = regexec(re, part, 1, pm, REG_STARTEND);
  regfree(re);
  int m5 = regcomp(re, "b", REG_NOSUB);
  int m6 = regexec(re, subject, 5, pm, 0);  // (REG_NOSUB: pmatch, of 3, not written)
  regfree(re);
  printf("%d %d %d ", m4, m5, m6);
  char* when = strdup("2024-02-29 12:34");
  char* wfmt = strdup("%Y-%m-%d %H:%M");
  struct tm* tm = malloc(opaque(sizeof(struct tm)));
  memset(tm, 0, sizeof *tm);
  char* end = strptime(when, wfmt, tm);
  printf("%d %d ", end != NULL && *end == 0, tm->tm_mday);
  char* narrow = strdup("wide");
  wchar_t* wide = malloc(opaque(5 * sizeof(wchar_t)));
  size_t w1 = mbstowcs(wide, narrow, 5);
  size_t w2 = mbstowcs(NULL, narrow, 0);
  wchar_t* cut = malloc(opaque(2 * sizeof(wchar_t)));
  size_t w3 = mbstowcs(cut, narrow, 2);  // room for 2 of 4: no terminator
  char* back = malloc(opaque(5));
  size_t w4 = wcstombs(back, wide, 5);
  // A source without a terminator, cut short: in UTF-8 the second
  // character's two bytes do not fit in the one left, and wcstombs stops
  // before it (1), reading no further.
  wchar_t* unended = malloc(opaque(2 * sizeof(wchar_t)));
  unended[0] = L'a';
  unended[1] = 0xe9;
  char* two = malloc(opaque(2));
  int utf8 = setlocale(LC_CTYPE, "C.UTF-8") != NULL;
  size_t w5 = utf8 ? wcstombs(two, unended, 2) : 1;
  setlocale(LC_CTYPE, "C");
  FILE* bad = tmpfile();
  int w6 = setvbuf(bad, two, 12345, 4096);  // an invalid mode: the buffer not used
  fclose(bad);
  free(two);
  free(unended);
  printf("%zu %zu %zu %zu %s %zu %d ", w1, w2, w3, w4, back, w5, w6 != 0);
  struct passwd* pw = malloc(opaque(sizeof(struct passwd)));
  struct passwd** pres = malloc(opaque(sizeof(struct passwd*)));
  char* pbuf = malloc(opaque(4096));
  int p1 = getpwuid_r(getuid(), pw, pbuf, 4096, pres);
  int p2 = p1 == 0 && *pres == pw && pw->pw_uid == getuid();
  char* root = strdup("root");
  int p3 = getpwnam_r(root, pw, pbuf, 4096, pres);
  int p4 = p3 == 0 && (*pres == NULL || pw->pw_uid == 0);
  struct group* gr = malloc(opaque(sizeof(struct group)));
  struct group** gres = malloc(opaque(sizeof(struct group*)));
  int p5 = getgrgid_r(getgid(), gr, pbuf, 4096, gres);
  int p6 = getgrnam_r(root, gr, pbuf, 4096, gres);
  printf("%d %d %d %d %d %d\n", p1, p2, p3, p4, p5, p6);
  free(gres);
  free(gr);
  free(root);
  free(pbuf);
  free(pres);
  free(pw);
  free(back);
  free(cut);
  free(wide);
  free(narrow);
  free(tm);
  free(wfmt);
  free(when);
  free(part);
  free(subject);
  free(pm);
  free(rpat);
  free(re);
  free(name);
  free(pat);
  free(mem);
  free(sbuf);
  free(fbuf);
}

static int by_value(const void* a, const void* b) {
  int x = *(const int*)a, y = *(const int*)b;
  return (x > y) - (x < y);
}
static int by_value_r(const void* a, const void* b, void* sign) {
  return *(int*)sign * by_value(a, b);
}

static int vscan(const char* s, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsscanf(s, fmt, ap);
  va_end(ap);
  return n;
}

static int vformat(char* d, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsprintf(d, fmt, ap);
  va_end(ap);
  return n;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "clean";
  char src[64];
  memset(src, 'a', sizeof src);
  src[63] = 0;
  if (!strcmp(mode, "clean")) {
    char* p = malloc(opaque(16));
    char* q = malloc(opaque(32));
    memcpy(p, src, opaque(15));
    p[15] = 0;
    memmove(p + 1, p, opaque(14));
    memset(q, 'b', opaque(31));
    q[31] = 0;
    strcpy(q, p);
    strcat(q, "xy");
    strncat(q, "123456", opaque(3));
    char* d = strdup(q);
    char* nd = strndup(q, opaque(4));
    strncpy(p, "pq", opaque(16));
    printf("%zu %zu %d %s %s %s %s\n", strlen(q), strnlen(q, opaque(8)), memcmp(p, "pq", opaque(3)) == 0, q, d,
           nd, stpcpy(p, "st") - 2);
    char* line = malloc(opaque(32));
    FILE* f = text_file();
    size_t got = fread(line, 1, opaque(10), f);
    if (!fgets(line, 32, f)) return 4;
    printf("%zu %s", got, line);
    int fds[2];
    if (pipe(fds) != 0 || write(fds[1], "piped", 5) != 5) return 3;
    printf("%zd ", read(fds[0], line, opaque(32)));
    snprintf(line, opaque(8), "%s", "truncated here");
    printf("%s ", line);
    sprintf(line, "%d-%s", 42, "ok");
    vformat(q, "%s!", line);
    printf("%s\n", q);
    // The searches, comparisons and buffer I/O, within bounds.
    strcpy(q, "key=value; other");
    printf("%s %s %s %s %zu %zu %s %d %d %d %d ", (char*)memchr(q, '=', opaque(16)), strchr(q, ';'),
           strrchr(q, 'e'), strstr(q, "val"), strspn(q, "eky"), strcspn(q, "=;"), strpbrk(q, ";="),
           strcmp(q, "key=value; other") == 0, strncmp(q, "key=v", opaque(5)) == 0,
           strcasecmp(q, "KEY=VALUE; OTHER") == 0, strncasecmp(q, "KEY", opaque(3)) == 0);
    printf("%s %s ", (char*)memrchr(q, 'e', opaque(16)), strchrnul(q, '#') - 5);
    printf("%d %d %d ", compare_table[0] == strcmp, compare_table[1] == strcasecmp,
           compare_table[opaque(1)](q, "KEY=value; OTHER") == 0);
    memccpy(p, q, '=', opaque(16));
    p[4] = 0;
    printf("%s ", p);
    int rs = sent(10);
    printf("%zd ", recv(rs, line, opaque(32), 0));
    close(rs);
    // Vectored: 4 + 10 bytes out, then back into two buffers.
    struct iovec out[2] = {{src, 4}, {q, 10}};
    struct iovec in[2] = {{p, 6}, {line, 8}};
    int vp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, vp) != 0 || writev(vp[1], out, 2) != 14) return 3;
    struct msghdr mh = {.msg_iov = out, .msg_iovlen = 2};
    if (sendmsg(vp[1], &mh, 0) != 14) return 3;
    printf("%zd ", readv(vp[0], in, 2));
    mh.msg_iov = in;
    printf("%zd ", recvmsg(vp[0], &mh, 0));
    close(vp[0]);
    close(vp[1]);
    // Invalid iovec and msghdr pointers: the kernel's EBADF (or EFAULT),
    // not a crash in a check.
    ssize_t bad_v = writev(-1, (struct iovec*)hidden((char*)8), 1);
    int bad_v_errno = errno;
    ssize_t bad_m = sendmsg(-1, (struct msghdr*)hidden((char*)8), 0);
    printf("%zd %d %zd %d ", bad_v, bad_v_errno, bad_m, errno);
    // TCP with MSG_TRUNC discards what it returns, writing nothing into the
    // 16-byte block (loopback; a machine without it prints -1 twice).
    int ls = socket(AF_INET, SOCK_STREAM, 0), cs = socket(AF_INET, SOCK_STREAM, 0), as = -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (bind(ls, (struct sockaddr*)&sa, sizeof sa) == 0 && listen(ls, 1) == 0 &&
        getsockname(ls, (struct sockaddr*)&sa, &sl) == 0 && connect(cs, (struct sockaddr*)&sa, sizeof sa) == 0)
      as = accept(ls, NULL, NULL);
    ssize_t discarded = -1, rest = -1;
    if (as >= 0 && send(cs, src, 40, 0) == 40) {
      discarded = recv(as, hidden(p), opaque(30), MSG_TRUNC | MSG_WAITALL);
      rest = recv(as, line, opaque(10), MSG_WAITALL);
    }
    printf("%zd %zd ", discarded, rest);
    close(as);
    close(cs);
    close(ls);
    // MSG_TRUNC: the datagram's length (40), of which 16 bytes were written.
    int dg[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) != 0 || send(dg[1], src, 40, 0) != 40) return 3;
    printf("%zd ", recv(dg[0], p, opaque(16), MSG_PEEK | MSG_TRUNC));
    printf("%zd ", recvfrom(dg[0], p, opaque(16), MSG_TRUNC, NULL, NULL));
    close(dg[0]);
    close(dg[1]);
    FILE* sink = fopen("/dev/null", "w");
    int null_fd = open("/dev/null", O_WRONLY);
    if (!sink || null_fd < 0) return 3;
    printf("%zd %zu %d\n", write(null_fd, q, opaque(16)), fwrite(q, 1, opaque(16), sink), fputs(q, sink) >= 0);
    fclose(sink);
    close(null_fd);
    // Numbers, formatted input, sorting, wide strings, message batches.
    strcpy(q, " -123abc");
    char* end = NULL;
    long l = strtol(q, &end, 10);
    printf("%ld %s ", l, end);
    printf("%lu %lld %llu ", strtoul(q + 2, NULL, 16), strtoll(q, NULL, 0), strtoull("77", NULL, 8));
    printf("%jd %ju %d %ld %lld ", strtoimax(q, NULL, 10), strtoumax(q + 2, NULL, 10), atoi(q), atol(q), atoll(q));
    strcpy(q, "2.5e3x");
    double dv = strtod(q, &end);
    printf("%g %s %g %Lg %g ", dv, end, (double)strtof(q, NULL), strtold(q, NULL), atof(q));
    // No digits: the end is the start. A bad base: EINVAL, the end untouched.
    strcpy(q, "  +");
    end = NULL;
    l = strtol(q, &end, 10);
    printf("%ld %d ", l, end == q);
    errno = 0;
    end = NULL;
    l = strtol(q, &end, 99);
    printf("%ld %d %d ", l, errno == EINVAL, end == NULL);
    int i1 = 0, i2 = 0;
    char word[8];
    strcpy(q, "12 34 word");
    int scanned = sscanf(q, "%d %d %7s", &i1, &i2, word);
    printf("%d %d %s %d ", scanned, i1 + i2, word, vscan(q, "%d", &i1));
    // sscanf's stores into heap objects of exactly their sizes, every kind.
    int* si = malloc(opaque(sizeof(int)));
    double* sd = malloc(opaque(sizeof(double)));
    long double* sld = malloc(opaque(sizeof(long double)));
    float* sf = malloc(opaque(sizeof(float)));
    signed char* sc = malloc(opaque(1));
    short* ss = malloc(opaque(sizeof(short)));
    size_t* sz = malloc(opaque(sizeof(size_t)));
    void** sp = malloc(opaque(sizeof(void*)));
    char* sword = malloc(opaque(5));
    char* sset = malloc(opaque(4));
    char* s3 = malloc(opaque(3));
    char** sm = malloc(opaque(sizeof(char*)));
    // (%ms is POSIX, not ISO C: the format is not a literal)
    const char* every = hidden("%d %lf %Lf %f %hhd %hd %zu %p %4s %[a-c] %3c%*c %ms");
    int sgot = sscanf("-7 2.5 1.25 0.5 12 300 99 0x10 word abc xyz! alloc", every, si, sd, sld, sf, sc, ss, sz, sp, sword,
                      sset, s3, sm);
    printf("%d %d %g %Lg %g %d %d %zu %p %s %s %.3s %s ", sgot, *si, *sd, *sld, (double)*sf, (int)*sc, (int)*ss, *sz, *sp,
           sword, sset, s3, *sm);
    printf("%d ", sscanf("5", "%d %hd", si, ss));  // stops early: only the first stored
    // %*n takes no argument; "%5c" of a 2-character input stores 2; glibc's
    // ' and I flags, "%5%", and L (as ll) making %s wide.
    char* two = malloc(opaque(2));
    wchar_t* wide7 = malloc(opaque(7 * sizeof(wchar_t)));
    int sn = sscanf("12 abc", hidden("%*n%d %3s"), si, sword);
    int sc2 = sscanf("ab", "%5c", two);
    int sfl = sscanf("7 8 % wxyzab", hidden("%'d %Ihd %5% %Ls"), si, ss, wide7);
    printf("%d %s %d %.2s %d %d %ls ", sn, sword, sc2, two, sfl, *si, wide7);
    free(wide7);
    free(two);
    free(*sm);
    free(sm);
    free(s3);
    free(sset);
    free(sword);
    free(sp);
    free(sz);
    free(ss);
    free(sc);
    free(sf);
    free(sld);
    free(sd);
    free(si);
    int* nums = malloc(opaque(5 * sizeof(int)));
    int sign = -1;
    for (int i = 0; i < 5; ++i) nums[i] = (i * 7) % 5;
    qsort(nums, opaque(5), sizeof(int), by_value);
    printf("%d%d%d%d%d ", nums[0], nums[1], nums[2], nums[3], nums[4]);
    qsort_r(nums, opaque(5), sizeof(int), by_value_r, &sign);
    qsort(nums, 1, opaque(64), by_value);  // one element: not read
    printf("%d%d%d%d%d ", nums[0], nums[1], nums[2], nums[3], nums[4]);
    wchar_t* w = malloc(opaque(8 * sizeof(wchar_t)));
    wchar_t* w2 = malloc(opaque(8 * sizeof(wchar_t)));
    wcscpy(w, L"abc");
    wcscat(w, L"de");
    wcsncpy(w2, w, opaque(8));
    wmemset(w2 + 5, L'z', opaque(2));
    w2[7] = 0;
    wchar_t* wd = wcsdup(w2);
    wmemmove(w2 + 1, w2, opaque(3));
    wmemcpy(w, w2, opaque(2));
    printf("%zu %zu %d %d %d %d %d %d ", wcslen(wd), wcsnlen(wd, opaque(4)), wcscmp(w, L"aacde") == 0,
           wcsncmp(wd, L"abcX", opaque(3)) == 0, wmemcmp(w, L"aa", opaque(2)) == 0,
           (int)(wcschr(wd, L'z') - wd), (int)(wcsrchr(wd, L'z') - wd), wcschr(wd, L'q') == NULL);
    free(wd);
    free(w2);
    free(w);
    free(nums);
    int mp[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, mp) != 0) return 3;
    struct iovec mo[2] = {{src, 3}, {q, 5}}, mi[2] = {{p, 4}, {line, 4}};
    struct mmsghdr mm = {.msg_hdr = {.msg_iov = mo, .msg_iovlen = 2}};
    printf("%d ", sendmmsg(mp[1], &mm, 1, 0));
    mm.msg_hdr.msg_iov = mi;
    printf("%d %u ", recvmmsg(mp[0], &mm, 1, 0, NULL), mm.msg_len);
    close(mp[0]);
    close(mp[1]);
    size_t cap = 0;
    char* got_line = NULL;
    FILE* g = text_file();
    printf("%zd ", getline(&got_line, &cap, g));
    fputs(got_line, stdout);
    free(got_line);
    fclose(g);
    // printf's arguments: every conversion steps over its argument by type
    // (ints, doubles and long doubles come from three different places of
    // a va_list), so the strings after them are the right ones.
    char* hs = malloc(opaque(6));
    memcpy(hs, "heap!", 6);
    wchar_t* hw = malloc(opaque(3 * sizeof(wchar_t)));
    wcscpy(hw, L"wi");
    int* count = malloc(opaque(sizeof(int)));
    signed char* small = malloc(opaque(1));
    printf("%d %5.2f %s %Lg %-7s| %lld %hhd %zu %c %ls %.3s %*d %.*s %lc %%\n", 42, 2.5, hs, (long double)1.25, hs,
           (long long)-7, (signed char)3, (size_t)9, 'k', hw, hs, 4, 5, 2, hs, (wint_t)L'z');
    printf("ab%n%hhn|%s\n", count, small, hs);
    printf("%d %d ", *count, (int)*small);
    const char* positional = hidden("%2$s %1$s\n");  // (ISO C has no positional arguments: not a literal)
    fprintf(stdout, positional, "positional", hs);    // not walked ($)
    char* made = NULL;
    printf("%d ", asprintf(&made, "<%s %g %s>", hs, 0.5, hs));
    printf("%s ", made);
    fflush(stdout);
    dprintf(1, "%s%c", hs, ' ');
    printf("%.0s%s%s\n", hs, hidden(NULL), hs);  // a null %s prints "(null)"
    // glibc reads %qf and %llf as long doubles (and %Ls as a wide string),
    // prints "%5%" as a % with no argument, and fails a null format.
    printf(hidden("%d %d %d %d %d %qf %llf %5% %s %Ls\n"), 1, 2, 3, 4, 5, (long double)1, (long double)2, hs, hw);
    errno = 0;
    int nf = snprintf(hs, 6, hidden(NULL));
    printf("%d %d %d\n", nf, errno == EINVAL, printf(hidden(NULL)));
    // Paths on the heap, in bounds: a directory of our own, a file in it
    // made, stat'ed into a heap struct, renamed, linked, read back, removed.
    char* dir = malloc(opaque(64));
    snprintf(dir, 64, "/tmp/rz_libc.%d", (int)getpid());
    char* file = malloc(opaque(80));
    char* other = malloc(opaque(80));
    snprintf(file, 80, "%s/f", dir);
    snprintf(other, 80, "%s/g", dir);
    struct stat* st = malloc(opaque(sizeof(struct stat)));
    char* target = malloc(opaque(100));
    int fd = (mkdir(dir, 0700) == 0) ? open(file, O_CREAT | O_WRONLY, 0600) : -1;
    printf("%d %zd ", fd >= 0, fd >= 0 ? write(fd, "xyz", 3) : -1);
    if (fd >= 0) close(fd);
    int sr = stat(file, st);
    printf("%d %lld ", sr, (long long)st->st_size);
    printf("%d ", access(file, R_OK));
    printf("%d ", rename(file, other));
    printf("%d ", lstat(other, st));
    printf("%d ", symlink(other, file));
    printf("%d ", fstatat(AT_FDCWD, file, st, 0));
    ssize_t tl = readlink(file, target, opaque(100));
    printf("%d ", tl > 0 && (size_t)tl == strlen(other) && memcmp(target, other, (size_t)tl) == 0);
    char* resolved = realpath(other, NULL);
    char* into = malloc(opaque(PATH_MAX));
    printf("%d ", resolved && strcmp(resolved, realpath(other, into)) == 0);
    printf("%d ", chmod(other, 0644));
    FILE* ff = fopen(other, "r");
    DIR* dd = opendir(dir);
    int fd2 = openat(AT_FDCWD, other, O_RDONLY);
    printf("%d %d %d ", ff != NULL, dd != NULL, fd2 >= 0);
    if (ff) fclose(ff);
    if (dd) closedir(dd);
    if (fd2 >= 0) close(fd2);
    printf("%d ", unlink(file));
    printf("%d ", unlink(other));
    printf("%d ", rmdir(dir));
    printf("%d ", stat(dir, st));
    {
      // Searches, tokenizers, strings, times and paths of the later hooks,
      // each with heap objects of exactly the size the call reads or writes.
      char* hay = strdup("key=value;other");
      char* word = strdup("OTHER");
      printf("%d %d ", memmem(hay, strlen(hay), "val", 3) == hay + 4, memmem(hay, strlen(hay), "zz", 2) == NULL);
      printf("%d %d ", strcasestr(hay, word) == hay + 10, strcasestr(hay, "nope") == NULL);
      wchar_t* wide = malloc(opaque(6 * sizeof(wchar_t)));
      wcscpy(wide, L"abcde");
      printf("%d %d ", wcsstr(wide, L"cd") == wide + 2, wcsstr(wide, L"x") == NULL);
      char* toks = strdup("a,bb,,ccc");
      char* save = NULL;
      char** savep = malloc(opaque(sizeof(char*)));
      int ntok = 0;
      for (char* t = strtok(toks, ","); t; t = strtok(NULL, ",")) ntok += (int)strlen(t);
      strcpy(toks, "a,bb,,ccc");
      for (char* t = strtok_r(toks, ",", savep); t; t = strtok_r(NULL, ",", savep)) ntok += (int)strlen(t);
      strcpy(toks, "a,bb,,ccc");
      save = toks;
      int nsep = 0;
      for (char* t; (t = strsep(&save, ",")) != NULL;) nsep += 1;
      printf("%d %d ", ntok, nsep);
      char cwd_stack[PATH_MAX];
      if (!getcwd(cwd_stack, sizeof cwd_stack)) return 5;
      char* cwd = malloc(opaque(strlen(cwd_stack) + 1));
      printf("%d ", getcwd(cwd, strlen(cwd_stack) + 1) == cwd && strcmp(cwd, cwd_stack) == 0);
      char host_stack[256];
      if (gethostname(host_stack, sizeof host_stack) != 0) return 5;
      char* host = malloc(opaque(strlen(host_stack) + 1));
      printf("%d ", gethostname(host, strlen(host_stack) + 1) == 0 && strcmp(host, host_stack) == 0);
      char* err = malloc(opaque(20));  // "Unknown error 12345" and its terminator
      printf("%d ", strcmp(strerror_r(12345, err, 20), "Unknown error 12345") == 0);
      printf("%d ", strerror_r(ENOENT, err, 20) != NULL);  // a known one: a string of libc's
      int __xpg_strerror_r(int, char*, size_t);
      char* xerr = malloc(opaque(26));  // "No such file or directory"
      printf("%d ", __xpg_strerror_r(ENOENT, xerr, 26) == 0 && strcmp(xerr, "No such file or directory") == 0);
      unsigned char* addr6 = malloc(opaque(16));
      unsigned char* addr4 = malloc(opaque(4));
      char* text6 = malloc(opaque(sizeof "2001:db8::1"));
      int r1 = inet_pton(AF_INET6, "2001:db8::1", addr6);
      int r2 = inet_pton(AF_INET, "10.1.2.3", addr4);
      printf("%d %d ", r1, r2);
      printf("%d %d ", inet_ntop(AF_INET6, addr6, text6, sizeof "2001:db8::1") != NULL && strcmp(text6, "2001:db8::1") == 0,
             inet_pton(AF_INET, "10.1.2", addr4));
      int* pfd = malloc(opaque(2 * sizeof(int)));
      printf("%d ", pipe(pfd) == 0 && close(pfd[0]) == 0 && close(pfd[1]) == 0);
      printf("%d ", pipe2(pfd, O_CLOEXEC) == 0 && write(pfd[1], "p", 1) == 1);
      struct pollfd* pl = malloc(opaque(2 * sizeof(struct pollfd)));
      pl[0] = (struct pollfd){.fd = pfd[0], .events = POLLIN};
      pl[1] = (struct pollfd){.fd = -1};
      r1 = poll(pl, 2, 1000);
      printf("%d %d ", r1, pl[0].revents == POLLIN);
      struct timespec* ts = malloc(opaque(2 * sizeof(struct timespec)));
      ts[1] = (struct timespec){1, 0};
      printf("%d ", ppoll(pl, 2, ts + 1, NULL));
      close(pfd[0]);
      close(pfd[1]);
      struct timeval* tv = malloc(opaque(2 * sizeof(struct timeval)));
      struct timezone* tz = malloc(opaque(sizeof(struct timezone)));
      time_t* now = malloc(opaque(sizeof(time_t)));
      r1 = clock_gettime(CLOCK_REALTIME, ts);
      r2 = gettimeofday(tv, tz);
      time_t got = time(now);
      printf("%d %d %d ", r1, r2, got == *now);
      *now = 86400 * 365;
      struct tm* tm = malloc(opaque(sizeof(struct tm)));
      char* when = malloc(opaque(26));  // "Fri Jan  1 00:00:00 1971\n" and its terminator
      r1 = gmtime_r(now, tm) == tm && tm->tm_year == 71;
      r2 = localtime_r(now, tm) == tm;
      printf("%d %d ", r1, r2);
      r1 = gmtime(now)->tm_year == 71;
      r2 = localtime(now) != NULL;
      printf("%d %d ", r1, r2);
      gmtime_r(now, tm);
      printf("%s", asctime_r(tm, when));
      printf("%d ", ctime_r(now, when) == when && strlen(when) == 25);
      gmtime_r(now, tm);
      tm->tm_mday += 40;  // normalised by mktime
      r1 = mktime(tm) != (time_t)-1;
      printf("%d %d ", r1, tm->tm_mon);
      char* stamp = malloc(opaque(sizeof "1971-01-01"));
      gmtime_r(now, tm);
      size_t made_len = strftime(stamp, sizeof "1971-01-01", "%Y-%m-%d", tm);
      printf("%zu %s ", made_len, stamp);
      printf("%zu ", strftime(stamp, 4, "%Y-%m-%d", tm));  // too small: 0, nothing checked
      // Paths: under dir again.
      printf("%d ", mkdir(dir, 0700));
      snprintf(file, 80, "%s/f", dir);
      snprintf(other, 80, "%s/g", dir);
      char* fifo = strdup(file);
      // (One call a statement: printf's arguments are evaluated in no set order.)
      r1 = mkfifo(fifo, 0600);
      r2 = remove(fifo);
      printf("%d %d ", r1, r2);
      r1 = mknod(fifo, S_IFIFO | 0600, 0);
      r2 = unlink(fifo);
      printf("%d %d ", r1, r2);
      int dfd = open(dir, O_RDONLY | O_DIRECTORY);
      char* sub = strdup("sub");
      char* sub2 = strdup("sub2");
      r1 = mkdirat(dfd, sub, 0700);
      r2 = renameat(dfd, sub, dfd, sub2);
      int r3 = renameat2(dfd, sub2, dfd, sub, 0);
      printf("%d %d %d ", r1, r2, r3);
      r1 = fchmodat(dfd, sub, 0750, 0);
      r2 = fchownat(dfd, sub, getuid(), getgid(), 0);
      printf("%d %d ", r1, r2);
      r1 = chown(dir, getuid(), getgid());
      r2 = lchown(dir, getuid(), getgid());
      printf("%d %d ", r1, r2);
      int cf = open(fifo, O_CREAT | O_WRONLY, 0600);
      if (cf >= 0) close(cf);
      r1 = linkat(AT_FDCWD, fifo, dfd, sub2, 0);
      r2 = symlinkat(fifo, dfd, "link");
      printf("%d %d ", r1, r2);
      struct utimbuf* ub = malloc(opaque(sizeof(struct utimbuf)));
      ub->actime = ub->modtime = 1000000;
      tv[0] = tv[1] = (struct timeval){1000000, 0};
      ts[0] = ts[1] = (struct timespec){1000000, 0};
      r1 = utime(fifo, ub);
      r2 = utimes(fifo, tv);
      r3 = utimensat(dfd, sub2, ts, 0);
      printf("%d %d %d ", r1, r2, r3);
      struct statfs* sfs = malloc(opaque(sizeof(struct statfs)));
      struct statvfs* svfs = malloc(opaque(sizeof(struct statvfs)));
      struct statx* sx = malloc(opaque(sizeof(struct statx)));
      r1 = statfs(fifo, sfs);
      r2 = statvfs(fifo, svfs);
      r3 = statx(dfd, sub2, 0, STATX_SIZE, sx);
      printf("%d %d %d ", r1, r2, r3);
      printf("%d ", stat(fifo, st) == 0 && st->st_mtime == 1000000);
      r1 = unlinkat(dfd, "link", 0);
      r2 = unlinkat(dfd, sub2, 0);
      r3 = unlinkat(dfd, sub, AT_REMOVEDIR);
      int r4 = remove(fifo);
      printf("%d %d %d %d ", r1, r2, r3, r4);
      close(dfd);
      printf("%d\n", rmdir(dir));
      // scanf from a stream: objects of exactly the size stored.
      FILE* in = text_file();
      char* digits = malloc(opaque(11));
      char* five = malloc(opaque(5));  // %5c: no terminator
      int* num = malloc(opaque(sizeof(int)));
      r1 = fscanf(in, "%10[0-9]%5c", digits, five);
      printf("%d ", r1);
      printf("%s %.5s ", digits, five);
      rewind(in);
      r1 = fscanf(in, "%3d", num);
      printf("%d %d\n", r1, *num);
      fclose(in);
      free(num);
      free(five);
      free(digits);
      free(sx);
      free(svfs);
      free(sfs);
      free(ub);
      free(sub2);
      free(sub);
      free(fifo);
      free(stamp);
      free(when);
      free(tm);
      free(now);
      free(tz);
      free(tv);
      free(ts);
      free(pl);
      free(pfd);
      free(text6);
      free(addr4);
      free(addr6);
      free(xerr);
      free(err);
      free(host);
      free(cwd);
      free(savep);
      free(toks);
      free(wide);
      free(word);
      free(hay);
    }
    // A path the kernel refuses (EFAULT): the check after the call must not
    // read it either.
    char* wild = hidden((char*)8);
    int ow = open(wild, O_RDONLY);
    printf("%d %d ", ow, errno == EFAULT);
    int sw = stat(wild, st);
    printf("%d %d ", sw, errno == EFAULT);
    // Calls that fail with EINVAL before anything reads the path.
    int tw = truncate(wild, -1);
    printf("%d %d ", tw, errno == EINVAL);
    int aw = access(wild, 0x100);
    printf("%d %d ", aw, errno == EINVAL);
    FILE* fw = fopen(wild, hidden("q"));
    printf("%d %d\n", fw == NULL, errno == EINVAL);
    // The first path's lookup fails first (ENOENT): the wild second one is
    // not measured after (review 27).
    int rw = rename("/nonexistent/rz_libc", wild);
    printf("%d %d ", rw, errno == ENOENT);
    rw = linkat(AT_FDCWD, "/nonexistent/rz_libc", AT_FDCWD, wild, 0);
    printf("%d %d ", rw, errno == ENOENT);
    // A null path where the kernel takes none (AT_EMPTY_PATH; Linux 6.11
    // and later accept null): no crash in the check, whatever the kernel says.
    struct statx* sxw = malloc(opaque(sizeof(struct statx)));
    printf("%d ", statx(AT_FDCWD, hidden(NULL), AT_EMPTY_PATH, STATX_SIZE, sxw) <= 0);
    free(sxw);
    // A null format (EOF, EINVAL), a null delimiter at a string's end (NULL,
    // nothing read), poll with more descriptors than allowed (EINVAL,
    // nothing read).
    FILE* tf = text_file();
    int fr = fscanf(tf, hidden(NULL));
    printf("%d %d ", fr, errno == EINVAL);
    fclose(tf);
    char* empty = strdup("");
    char* left = empty;
    int none = strtok(empty, hidden(NULL)) == NULL;
    int whole = strsep(&left, ",") == empty;  // ("": one empty token, then none)
    printf("%d %d %d ", none, whole, strsep(&left, hidden(NULL)) == NULL);
    free(empty);
    // exec and posix_spawn with argv, envp and their strings in exact-size
    // heap blocks; a literal and a stack array are not looked at.
    char** sargv = malloc(opaque(3 * sizeof(char*)));
    sargv[0] = strdup("/bin/echo");
    sargv[1] = strdup("spawned");
    sargv[2] = NULL;
    char** senv = malloc(opaque(2 * sizeof(char*)));
    senv[0] = strdup("RZ_LIBC=1");
    senv[1] = NULL;
    fflush(stdout);
    pid_t child;
    int status = -1;
    int spawned = posix_spawn(&child, sargv[0], NULL, NULL, sargv, senv);
    if (spawned == 0) waitpid(child, &status, 0);
    int spp = posix_spawnp(&child, "echo", NULL, NULL, sargv, senv);
    if (spp == 0) waitpid(child, &status, 0);
    child = fork();
    if (child == 0) {
      execve(sargv[0], sargv, senv);
      _exit(127);
    }
    waitpid(child, &status, 0);
    child = fork();
    if (child == 0) {
      char* lit[] = {"echo", "literal", NULL};
      execvp("echo", lit);
      _exit(127);
    }
    waitpid(child, &status, 0);
    // execl, execlp, execle: strings inside one larger block (an arena, as
    // a shell builds them), each terminated within it.
    char* arena = malloc(opaque(48));
    strcpy(arena, "/bin/echo");
    strcpy(arena + 16, "listed");
    strcpy(arena + 32, "arena");
    child = fork();
    if (child == 0) {
      execl(arena, "echo", arena + 16, arena + 32, (char*)NULL);
      _exit(127);
    }
    waitpid(child, &status, 0);
    child = fork();
    if (child == 0) {
      execlp(arena + 5, arena + 5, arena + 16, "lp", (char*)NULL);
      _exit(127);
    }
    waitpid(child, &status, 0);
    child = fork();
    if (child == 0) {
      execle("/bin/echo", "echo", arena + 32, "le", (char*)NULL, senv);
      _exit(127);
    }
    waitpid(child, &status, 0);
    // A null arg ends the list: what follows it (here a freed string) is
    // not read.
    char* gone = strdup("gone");
    free(gone);
    child = fork();
    if (child == 0) {
      execl("/bin/true", (char*)hidden(NULL), hidden(gone), (char*)NULL);
      _exit(127);
    }
    waitpid(child, &status, 0);
    printf("%d ", status);
    free(arena);
    printf("%d %d %d ", spawned, spp, status);
    free(senv[0]);
    free(senv);
    free(sargv[1]);
    free(sargv[0]);
    free(sargv);
    struct pollfd* one = malloc(opaque(sizeof(struct pollfd)));
    // (Through a pointer: the fortified build's __poll_chk would refuse it.)
    int (*volatile poll_fn)(struct pollfd*, nfds_t, int) = poll;
    int pr = poll_fn(one, opaque((size_t)1 << 30), 0);  // (above the kernel's nr_open, 2**20 by default)
    printf("%d %d\n", pr, errno == EINVAL);
    sockets_clean();
    text_clean();
    more_clean();
    free(one);
    free(into);
    free(resolved);
    free(target);
    free(st);
    free(other);
    free(file);
    free(dir);
    free(made);
    free(small);
    free(count);
    free(hw);
    free(hs);
    fclose(f);
    free(line);
    free(nd);
    free(d);
    free(q);
    free(p);
    return 0;
  }
  if (!strcmp(mode, "dlopen") || !strcmp(mode, "dlopen-seen")) {
    char* p = block();
    void* lib = NULL;
    for (int round = 0; round < 2; ++round) {
      // The second round's captures are the first's again (one call site):
      // stack-capture cache hits, no stack walk.
      seen_places(round == 0 ? 4 : 64);
      if (round == 0 && !(lib = dlopen(argv[2], strcmp(mode, "dlopen") ? RTLD_LAZY : RTLD_NOW))) return 2;
    }
    if (!strcmp(mode, "dlopen")) {
      // An allocation from a new place: its stack walk sees the new module,
      // which then gets checked (intercept.cpp).
      free(new_site());
    }
    // ("dlopen-seen", lazily bound: after the dlopen only places seen
    // before, whose captures hit the stack-capture cache; the loader's own
    // allocations and frees once the module is relocated, or the thread's
    // every 64th cache hit, get it patched.)
    void (*bug)(char*, size_t);
    void* sym = dlsym(lib, "rz_libc_bug");
    memcpy(&bug, &sym, sizeof bug);  // (ISO C has no object-to-function pointer cast)
    bug(p, opaque(24));
    return 0;
  }
  if (!strcmp(mode, "stat")) {
    // The struct stat written into a block 8 bytes too small.
    char* b = malloc(opaque(sizeof(struct stat) - 8));
    printf("block %p\n", (void*)b);
    fflush(stdout);
    return stat("/", (struct stat*)b);
  }
  char* p = block();
  if (!strcmp(mode, "memcpy")) memcpy(p, src, opaque(17));
  else if (!strcmp(mode, "memmove")) memmove(p, src, opaque(18));
  else if (!strcmp(mode, "memset")) memset(p, 0, opaque(20));
  else if (!strcmp(mode, "strcpy")) strcpy(p, "0123456789abcdef");
  else if (!strcmp(mode, "stpcpy")) stpcpy(p, "0123456789abcdefg");
  else if (!strcmp(mode, "strncpy")) strncpy(p, "ab", opaque(20));
  else if (!strcmp(mode, "chk-memcpy")) __memcpy_chk(p, src, opaque(17), opaque(64));
  else if (!strcmp(mode, "chk-memset")) __memset_chk(p, 0, opaque(20), opaque(64));
  else if (!strcmp(mode, "chk-strcpy")) __strcpy_chk(p, "0123456789abcdef", opaque(64));
  else if (!strcmp(mode, "chk-strncpy")) __strncpy_chk(p, "ab", opaque(20), opaque(64));
  else if (!strcmp(mode, "sprintf")) sprintf(p, "%s-%d", "abcdefghij", 12345);
  else if (!strcmp(mode, "vsprintf")) vformat(p, "%s-%d", "abcdefghij", 12345);
  else if (!strcmp(mode, "snprintf")) snprintf(p, opaque(20), "%s", "0123456789abcdefghijklmn");
  else if (!strcmp(mode, "chk-sprintf")) __sprintf_chk(p, 1, opaque(64), "%s-%d", "abcdefghij", 12345);
  else if (!strcmp(mode, "fgets")) {
    if (!fgets(p, (int)opaque(20), text_file())) return 4;
  } else if (!strcmp(mode, "fread")) {
    if (fread(p, 1, opaque(20), text_file()) == 0) return 4;
  }
  else if (!strcmp(mode, "read") || !strcmp(mode, "chk-read")) {
    int fds[2];
    if (pipe(fds) != 0 || write(fds[1], "0123456789abcdefghij", 20) != 20) return 3;
    if (!strcmp(mode, "read") ? read(fds[0], p, opaque(64)) < 0 : __read_chk(fds[0], p, opaque(64), opaque(64)) < 0)
      return 4;
  }
  else if (!strcmp(mode, "strcat")) {
    strcpy(p, "0123456789");
    strcat(p, "abcdefg");
  } else if (!strcmp(mode, "strlen")) {
    memset(p, 'x', opaque(16));
    printf("%zu\n", strlen(p));
  } else if (!strcmp(mode, "memchr")) {
    memset(p, 'x', opaque(16));
    printf("%p\n", memchr(p, 'y', opaque(17)));
  } else if (!strcmp(mode, "strchr")) {
    memset(p, 'x', opaque(16));
    printf("%p\n", (void*)strchr(p, 'y'));
  } else if (!strcmp(mode, "strstr")) {
    memset(p, 'x', opaque(16));
    printf("%p\n", (void*)strstr(p, "y"));
  } else if (!strcmp(mode, "strcmp")) {
    memset(p, 'x', opaque(16));
    printf("%d\n", strcmp(p, "xxxxxxxxxxxxxxxxxxxxxxxx"));
  } else if (!strcmp(mode, "strncmp")) {
    memset(p, 'x', opaque(16));
    printf("%d\n", strncmp(p, "xxxxxxxxxxxxxxxxxxxxxxxx", opaque(20)));
  } else if (!strcmp(mode, "strcasecmp")) {
    memset(p, 'x', opaque(16));
    printf("%d\n", strcasecmp(p, "XXXXXXXXXXXXXXXXXXXXXXXX"));
  } else if (!strcmp(mode, "table")) {
    memset(p, 'x', opaque(16));
    printf("%d\n", compare_table[opaque(0)](p, "xxxxxxxxxxxxxxxxxxxxxxxx"));
  } else if (!strcmp(mode, "uaf-strcmp")) {
    strcpy(p, "abc");
    free(p);
    printf("%d\n", strcmp(hidden(p), "abc"));
    return 0;
  } else if (!strcmp(mode, "write")) {
    int fd = open("/dev/null", O_WRONLY);
    printf("%zd\n", write(fd, p, opaque(20)));
  } else if (!strcmp(mode, "fwrite")) {
    printf("%zu\n", fwrite(p, 1, opaque(20), tmpfile()));
  } else if (!strcmp(mode, "fputs")) {
    memset(p, 'x', opaque(16));
    fputs(p, tmpfile());
  } else if (!strcmp(mode, "writev") || !strcmp(mode, "sendmsg")) {
    struct iovec out[2] = {{src, 4}, {p, opaque(20)}};
    struct msghdr mh = {.msg_iov = out, .msg_iovlen = 2};
    int fd = sent(0);
    printf("%zd\n", !strcmp(mode, "writev") ? writev(fd, out, 2) : sendmsg(fd, &mh, 0));
  } else if (!strcmp(mode, "readv") || !strcmp(mode, "recvmsg")) {
    // 30 bytes: 4 into the stack buffer, 26 into the 16-byte block.
    char head[4];
    struct iovec in[2] = {{head, 4}, {p, opaque(64)}};
    struct msghdr mh = {.msg_iov = in, .msg_iovlen = 2};
    int fd = sent(30);
    printf("%zd\n", !strcmp(mode, "readv") ? readv(fd, in, 2) : recvmsg(fd, &mh, 0));
  } else if (!strcmp(mode, "strtol") || !strcmp(mode, "atoi") || !strcmp(mode, "strtod")) {
    // Sixteen digits and no terminator: the parse reads on into the redzone.
    memset(p, '1', opaque(16));
    if (!strcmp(mode, "strtol")) printf("%ld\n", strtol(p, NULL, 10));
    else if (!strcmp(mode, "atoi")) printf("%d\n", atoi(p));
    else printf("%g\n", strtod(p, NULL));
  } else if (!strcmp(mode, "strtol-space")) {
    // White space only: skipped into the redzone, no number.
    memset(p, ' ', opaque(16));
    printf("%ld\n", strtol(p, NULL, 10));
  } else if (!strcmp(mode, "strtol-erange")) {
    // (halt_on_error=0) The report leaves the call's errno as it was.
    memset(p, 'z', opaque(16));  // 36**16 - 1, past LONG_MAX
    errno = 0;
    long v = strtol(p, NULL, 36);
    printf("%s\n", v == LONG_MAX && errno == ERANGE ? "erange kept" : "errno lost");
  } else if (!strcmp(mode, "sscanf")) {
    int v = 0;
    memset(p, '7', opaque(16));
    printf("%d\n", sscanf(p, "%d", &v));
  } else if (!strcmp(mode, "sscanf-s")) {
    printf("%d\n", sscanf("abcdefghijklmnopqrstu", "%s", p));  // 22 bytes into 16
  } else if (!strcmp(mode, "sscanf-d")) {
    int v = 0;
    printf("%d\n", sscanf("12 34", "%d %d", &v, (int*)(p + 14)));
  } else if (!strcmp(mode, "sscanf-c")) {
    printf("%d\n", sscanf(src, "%20c", p));
  } else if (!strcmp(mode, "sscanf-Ls")) {
    printf("%d\n", sscanf("abcdef", hidden("%Ls"), p));  // 7 wchar_t into 16 bytes
  } else if (!strcmp(mode, "qsort")) {
    qsort(p, opaque(5), sizeof(int), by_value);
  } else if (!strcmp(mode, "wcslen")) {
    wmemset((wchar_t*)p, L'x', opaque(4));
    printf("%zu\n", wcslen((wchar_t*)p));
  } else if (!strcmp(mode, "wcscpy")) {
    wcscpy((wchar_t*)p, L"abcd");
  } else if (!strcmp(mode, "wmemset")) {
    wmemset((wchar_t*)p, L'a', opaque(5));
  } else if (!strcmp(mode, "wcscmp")) {
    wmemset((wchar_t*)p, L'x', opaque(4));
    printf("%d\n", wcscmp((wchar_t*)p, L"xxxxxxxx"));
  } else if (!strcmp(mode, "sendmmsg") || !strcmp(mode, "recvmmsg")) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 3;
    char head[4];
    struct iovec out[2] = {{src, 4}, {p, opaque(20)}}, in[2] = {{head, 4}, {p, opaque(64)}};
    struct mmsghdr mm = {.msg_hdr = {.msg_iov = out, .msg_iovlen = 2}};
    if (!strcmp(mode, "sendmmsg")) {
      printf("%d\n", sendmmsg(sv[1], &mm, 1, 0));
    } else {
      // 30 bytes: 4 into the stack buffer, 26 into the 16-byte block.
      if (send(sv[1], src, 30, 0) != 30) return 3;
      mm.msg_hdr.msg_iov = in;
      printf("%d\n", recvmmsg(sv[0], &mm, 1, 0, NULL));
    }
  } else if (!strcmp(mode, "sendmmsg-len") || !strcmp(mode, "recvmmsg-len")) {
    // An mmsghdr in a block that ends after its msghdr: msg_len, which the
    // kernel writes, is in the redzone.
    struct mmsghdr* mm = malloc(opaque(sizeof(struct msghdr)));
    printf("block %p\n", (void*)mm);
    fflush(stdout);
    memset(mm, 0, sizeof(struct msghdr));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 3;
    char in[8];
    struct iovec iov = {src, 4};
    mm->msg_hdr.msg_iov = &iov;
    mm->msg_hdr.msg_iovlen = 1;
    if (!strcmp(mode, "sendmmsg-len")) {
      printf("%d\n", sendmmsg(sv[1], mm, 1, 0));
    } else {
      if (send(sv[1], src, 4, 0) != 4) return 3;
      iov.iov_base = in;
      printf("%d\n", recvmmsg(sv[0], mm, 1, 0, NULL));
    }
  } else if (!strcmp(mode, "recvmmsg-name")) {
    // Room for the sender's 27-byte address claimed, 16 bytes given.
    struct sockaddr_un ra, ta;
    socklen_t rl = abstract_address(&ra, "mmsgrx"), tl = abstract_address(&ta, "mmsgtx");
    int rx = socket(AF_UNIX, SOCK_DGRAM, 0), tx = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(rx, (struct sockaddr*)&ra, rl) != 0 || bind(tx, (struct sockaddr*)&ta, tl) != 0 ||
        sendto(tx, "x", 1, 0, (struct sockaddr*)&ra, rl) != 1)
      return 3;
    char in[4];
    struct iovec iov = {in, sizeof in};
    struct mmsghdr mm = {.msg_hdr = {.msg_name = p, .msg_namelen = tl, .msg_iov = &iov, .msg_iovlen = 1}};
    printf("%d\n", recvmmsg(rx, &mm, 1, 0, NULL));
  } else if (!strcmp(mode, "memccpy")) {
    memccpy(p, src, 'z', opaque(20));
  } else if (!strcmp(mode, "recv") || !strcmp(mode, "chk-recv")) {
    int fd = sent(20);
    if (!strcmp(mode, "recv") ? recv(fd, p, opaque(64), 0) < 0 : __recv_chk(fd, p, opaque(64), opaque(64), 0) < 0)
      return 4;
  } else if (!strcmp(mode, "getline")) {
    // The program says the 16-byte block holds 64: getline believes it.
    size_t cap = opaque(64);
    if (getline(&p, &cap, text_file()) < 0) return 4;
  } else if (!strcmp(mode, "memcmp")) {
    memset(p, 'a', opaque(16));
    printf("%d\n", memcmp(p, src, opaque(17)));
  } else if (!strcmp(mode, "strdup")) {
    memset(p, 'x', opaque(16));
    printf("%s\n", strdup(p));
  } else if (!strcmp(mode, "printf")) {
    memset(p, 'x', opaque(16));  // no terminator
    printf("<%s>\n", p);
  } else if (!strcmp(mode, "fprintf-precision")) {
    memcpy(p, src, opaque(16));
    fprintf(stdout, "%d %.20s\n", 1, p);  // up to 20 bytes, no terminator within
  } else if (!strcmp(mode, "printf-n")) {
    printf("%g %s%n\n", 0.5, "abc", (int*)(p + 14));
  } else if (!strcmp(mode, "asprintf")) {
    char* made = NULL;
    memset(p, 'y', opaque(16));
    printf("%d\n", asprintf(&made, "%Lg %s", (long double)2, p));
  } else if (!strcmp(mode, "chk-printf")) {
    memset(p, 'x', opaque(16));
    __printf_chk(1, "%c %s\n", 'a', p);
  } else if (!strcmp(mode, "uaf-printf")) {
    strcpy(p, "abc");
    free(p);
    printf("<%s>\n", hidden(p));
    return 0;
  } else if (!strcmp(mode, "open")) {
    memset(p, 'x', opaque(16));  // a path never terminated
    printf("%d\n", open(p, O_RDONLY));
  } else if (!strcmp(mode, "chk-open")) {
    memset(p, 'x', opaque(16));
    printf("%d\n", __open_2(p, O_RDONLY));
  } else if (!strcmp(mode, "fopen")) {
    memset(p, 'x', opaque(16));
    printf("%d\n", fopen(p, "r") != NULL);
  } else if (!strcmp(mode, "rename")) {
    memset(p, 'x', opaque(16));
    printf("%d\n", rename("/nonexistent/rz_libc", p));
  } else if (!strcmp(mode, "readlink")) {
    // The program says the 16-byte block holds 64.
    printf("%zd\n", readlink("/proc/self/exe", p, opaque(64)));
  } else if (!strcmp(mode, "uaf-truncate")) {
    strcpy(p, "/tmp");
    free(p);
    printf("%d\n", truncate(hidden(p), 0));  // (truncate64 with -D_FILE_OFFSET_BITS=64)
    return 0;
  } else if (!strcmp(mode, "uaf-stat")) {
    struct stat st;
    strcpy(p, "/");
    free(p);
    printf("%d\n", stat(hidden(p), &st));
    return 0;
  } else if (!strcmp(mode, "memmem")) {
    memset(p, 'a', opaque(16));
    printf("%p\n", memmem(p, opaque(20), "b", 1));  // the program says 20 bytes
  } else if (!strcmp(mode, "strcasestr")) {
    memset(p, 'x', opaque(16));  // no terminator
    printf("%p\n", (void*)strcasestr(p, "Q"));
  } else if (!strcmp(mode, "wcsstr")) {
    wmemset((wchar_t*)p, L'x', opaque(4));
    printf("%p\n", (void*)wcsstr((wchar_t*)p, L"q"));
  } else if (!strcmp(mode, "strtok")) {
    memset(p, 'a', opaque(16));
    printf("%d\n", strtok(p, ",") != NULL);
  } else if (!strcmp(mode, "strsep")) {
    char* rest = p;
    memset(p, 'a', opaque(16));
    printf("%d\n", strsep(&rest, ",") != NULL);
  } else if (!strcmp(mode, "getcwd")) {
    // A directory of more than 16 bytes' path, under TMPDIR (libc.sh's,
    // removed with it: the report ends the program here).
    const char* tmp = getenv("TMPDIR");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/rz_libc_getcwd_XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir) || chdir(dir) != 0) return 3;
    printf("%d\n", getcwd(p, opaque(64)) != NULL);  // the program says 64
    rmdir(dir);
  } else if (!strcmp(mode, "strerror_r")) {
    printf("%s\n", strerror_r(12345, p, opaque(64)));  // "Unknown error 12345": 20 bytes
  } else if (!strcmp(mode, "inet_ntop")) {
    unsigned char all[16];
    memset(all, 0xff, sizeof all);  // 39 characters
    printf("%d\n", inet_ntop(AF_INET6, all, p, (socklen_t)opaque(64)) != NULL);
  } else if (!strcmp(mode, "pipe")) {
    printf("%d\n", pipe((int*)(p + 12)));  // the second descriptor past the end
  } else if (!strcmp(mode, "poll")) {
    struct pollfd* fds = (struct pollfd*)p;  // room for two
    fds[0].fd = fds[1].fd = -1;
    printf("%d\n", poll(fds, opaque(3), 0));
  } else if (!strcmp(mode, "clock_gettime")) {
    printf("%d\n", clock_gettime(CLOCK_MONOTONIC, (struct timespec*)(p + 8)));
  } else if (!strcmp(mode, "localtime_r")) {
    time_t t = 0;
    printf("%d\n", localtime_r(&t, (struct tm*)p) != NULL);  // 56 bytes
  } else if (!strcmp(mode, "strftime")) {
    time_t t = 0;
    struct tm tm;
    gmtime_r(&t, &tm);
    printf("%zu\n", strftime(p, opaque(64), "%Y-%m-%d %H:%M:%S", &tm));  // 20 bytes
  } else if (!strcmp(mode, "mkfifo")) {
    memcpy(p, "/nonexistent/xyz", 16);  // no terminator
    printf("%d\n", mkfifo(p, 0600));
  } else if (!strcmp(mode, "uaf-utime")) {
    strcpy(p, "/nonexistent/x");
    free(p);
    printf("%d\n", utime(hidden(p), NULL));
    return 0;
  } else if (!strcmp(mode, "statvfs")) {
    printf("%d\n", statvfs("/", (struct statvfs*)p));  // 112 bytes
  } else if (!strcmp(mode, "fscanf")) {
    printf("%d\n", fscanf(text_file(), "%s", p));  // 30 bytes into 16
  } else if (!strcmp(mode, "execl-arg")) {
    memcpy(p, "unterminated arg", 16);  // no terminator
    printf("%d\n", execl("/bin/echo", "echo", "ok", p, (char*)NULL));
  } else if (!strcmp(mode, "execl-environ")) {
    // putenv keeps the string in the environment: freed too soon.
    memcpy(p, "RZ_LIBC_GONE=1", 15);
    if (putenv(p) != 0) return 3;
    free(p);
    printf("%d\n", execl("/bin/true", "true", (char*)NULL));
    return 0;
  } else if (!strcmp(mode, "execle-envp")) {
    char** envp = (char**)p;  // room for two pointers: no null after them
    envp[0] = "A=1";
    envp[1] = "B=2";
    printf("%d\n", execle("/bin/true", "true", (char*)NULL, envp));
  } else if (!strcmp(mode, "exec-inner")) {
    // A path 8 bytes into the block, not terminated within it.
    memcpy(p, "/bin/tr/nonexist", 16);
    char* argv[] = {"true", NULL};
    printf("%d\n", execv(p + 8, argv));
  } else if (!strcmp(mode, "execv-argv")) {
    char** argv = (char**)p;  // room for two pointers: no null after them
    argv[0] = "/bin/true";
    argv[1] = "x";
    printf("%d\n", execv("/bin/true", argv));
  } else if (!strcmp(mode, "execve-path")) {
    char* argv[] = {"true", NULL};
    memcpy(p, "/nonexistent/xyz", 16);  // no terminator
    printf("%d\n", execve(p, argv, environ));
  } else if (!strcmp(mode, "uaf-spawn")) {
    char* argv[] = {"true", NULL};
    pid_t pid;
    strcpy(p, "/bin/true");
    free(p);
    printf("%d\n", posix_spawn(&pid, hidden(p), NULL, NULL, argv, environ));
    return 0;
  } else if (!strcmp(mode, "getsockname")) {
    struct sockaddr_un a;
    socklen_t len = abstract_address(&a, "bugname");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || bind(s, (struct sockaddr*)&a, len) != 0) return 3;
    socklen_t room = sizeof a;  // the program says the 16-byte block holds 110
    printf("%d\n", getsockname(s, (struct sockaddr*)p, &room));  // 27 bytes written
  } else if (!strcmp(mode, "accept")) {
    int client;
    int ls = listening("bugacc", &client);
    socklen_t room = sizeof(struct sockaddr_un);
    printf("%d\n", accept(ls, (struct sockaddr*)p, &room));  // the client's 27-byte address
  } else if (!strcmp(mode, "getpeername-heaplen")) {
    // The length inside a heap struct (read before the call: a live block's).
    int client;
    int ls = listening("bugpeer", &client);
    struct conn {
      char other[40];
      socklen_t len;
    }* c = malloc(opaque(sizeof(struct conn)));
    c->len = sizeof(struct sockaddr_un);
    printf("%d %d\n", ls, getpeername(client, (struct sockaddr*)p, &c->len));  // the listener's 27 bytes
  } else if (!strcmp(mode, "connect")) {
    struct sockaddr_un* a = (struct sockaddr_un*)p;
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path, "/nonexistent", 13);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("%d\n", connect(s, (struct sockaddr*)a, sizeof(struct sockaddr_un)));  // 110 bytes read
  } else if (!strcmp(mode, "getsockopt")) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 3;
    socklen_t len = sizeof(struct ucred);
    printf("%d\n", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, p + 8, &len));  // 12 bytes at 8
  } else if (!strcmp(mode, "sendmsg-header")) {
    // A msghdr in a block 8 bytes short of one (its last field in the
    // redzone): the kernel copies the whole header.
    struct msghdr* m = malloc(opaque(48));
    printf("block %p\n", (void*)m);
    fflush(stdout);
    memset(m, 0, 48);
    struct iovec iov = {"hi", 2};
    m->msg_iov = &iov;
    m->msg_iovlen = 1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) return 3;
    printf("%zd\n", sendmsg(sv[1], m, 0));
  } else if (!strcmp(mode, "epoll_wait")) {
    int a = sent(1), b = sent(1), ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) != 0) return 3;
    printf("%d\n", epoll_wait(ep, (struct epoll_event*)p, 2, 1000));  // room for one: 24 bytes written
  } else if (!strcmp(mode, "select")) {
    struct timeval tv = {0, 0};
    // The kernel reads no further than its descriptor table's size (64
    // in a process with few open): grown to 256 here, so that it reads the
    // redzone's fill as descriptors 128 and up and fails with EBADF.
    if (dup2(2, 255) != 255) return 3;
    memset(p, 0, opaque(16));
    printf("%d\n", select(200, (fd_set*)p, NULL, NULL, &tv));  // 200 descriptors' bits: 32 bytes read
  } else if (!strcmp(mode, "getenv")) {
    memset(p, 'X', opaque(16));  // no terminator
    printf("%d\n", getenv(p) != NULL);
  } else if (!strcmp(mode, "setenv")) {
    memset(p, 'v', opaque(16));  // the value: no terminator
    printf("%d\n", setenv("RZ_LIBC_SET", p, 1));
  } else if (!strcmp(mode, "putenv")) {
    memcpy(p, "RZ_LIBC_PUT=xxxx", 16);  // no terminator
    printf("%d\n", putenv(p));
  } else if (!strcmp(mode, "strcoll")) {
    memset(p, 'a', opaque(16));  // no terminator: differs from the other only past the end
    printf("%d\n", strcoll(p, "aaaaaaaaaaaaaaaaaaaa"));
  } else if (!strcmp(mode, "strxfrm")) {
    printf("%zu\n", strxfrm(p, "twenty characters...", opaque(64)));  // 21 bytes written
  } else if (!strcmp(mode, "iconv")) {
    iconv_t cd = iconv_open("UTF-8", "ASCII");
    char in[] = "twenty characters...";
    char* ip = in;
    char* op = p;
    size_t il = 20, ol = 64;  // the program says the 16-byte block holds 64
    printf("%zu\n", iconv(cd, &ip, &il, &op, &ol));  // 20 bytes written
  } else if (!strcmp(mode, "getnameinfo")) {
    // An AF_INET6 address in 16 bytes: glibc reads its 28.
    struct sockaddr_in6* sin6 = (struct sockaddr_in6*)p;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(80);
    char host[64];
    printf("%d\n", getnameinfo((struct sockaddr*)sin6, sizeof(struct sockaddr_in6), host, sizeof host, NULL, 0,
                               NI_NUMERICHOST));
  } else if (!strcmp(mode, "setvbuf")) {
    FILE* f = tmpfile();
    printf("%d\n", setvbuf(f, p, _IOFBF, opaque(64)));  // the program says the block holds 64
  } else if (!strcmp(mode, "fnmatch")) {
    memset(p, 'x', opaque(16));  // no terminator
    printf("%d\n", fnmatch("*.c", p, 0));
  } else if (!strcmp(mode, "regexec")) {
    regex_t re;
    if (regcomp(&re, "(a)(b)", REG_EXTENDED) != 0) return 3;
    printf("%d\n", regexec(&re, "ab", opaque(4), (regmatch_t*)p, 0));  // 4 entries of 8 bytes in 16
  } else if (!strcmp(mode, "strptime")) {
    printf("%d\n", strptime("2024-02-29", "%Y-%m-%d", (struct tm*)p) != NULL);  // 56 bytes
  } else if (!strcmp(mode, "mbstowcs")) {
    printf("%zu\n", mbstowcs((wchar_t*)p, "twenty characters...", opaque(64)));  // 21 wide characters
  } else if (!strcmp(mode, "getpwuid_r")) {
    char buf[4096];
    struct passwd* res;
    printf("%d\n", getpwuid_r(getuid(), (struct passwd*)p, buf, sizeof buf, &res));  // 48 bytes
  } else if (!strcmp(mode, "uaf-memset")) {
    free(p);
    memset(hidden(p), 1, opaque(4));
    return 0;
  } else if (!strcmp(mode, "uaf-strlen")) {
    strcpy(p, "abc");
    free(p);
    printf("%zu\n", strlen(hidden(p)));
    return 0;
  } else {
    return 2;
  }
  free(p);
  return 0;
}

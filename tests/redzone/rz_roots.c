// rz_roots.c MODE: blocks reachable only from roots the leak scan (redzone
// mode, detect_leaks=1) used to miss; run by clean.sh, which expects no report.
//   tls-main      the main thread's __thread variable holds the block while
//                 another thread calls exit(): the main thread's TLS is in a
//                 mapping of the loader's, not in its stack
//   quiet-thread  a thread that never allocated holds the block on its
//                 stack (it received the pointer through a pipe) while main
//                 exits: no stack capture ever recorded its stack
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __thread char* t_held;
static int g_to_holder[2], g_from_holder[2];

static void* quitter(void* arg) {
  (void)arg;
  usleep(50000);
  printf("exit from a second thread\n");
  fflush(stdout);
  exit(0);
}

static void* holder(void* arg) {
  (void)arg;
  char* volatile mine = NULL;
  if (read(g_to_holder[0], (void*)&mine, sizeof mine) != sizeof mine) return NULL;
  char c = 1;
  if (write(g_from_holder[1], &c, 1) != 1) return NULL;
  for (;;) pause();
  return mine;
}

__attribute__((noinline)) static void give(void) {
  char* p = malloc(200);
  memset(p, 1, 200);
  if (write(g_to_holder[1], &p, sizeof p) != sizeof p) exit(2);
  p = NULL;
}

// Overwrites the dead stack below main's frame, where give()'s copy of the
// pointer was.
__attribute__((noinline)) static void scrub(void) {
  volatile char junk[8192];
  memset((char*)junk, 0, sizeof junk);
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  pthread_t t;
  if (strcmp(argv[1], "tls-main") == 0) {
    t_held = malloc(300);
    memset(t_held, 2, 300);
    if (pthread_create(&t, NULL, quitter, NULL) != 0) return 2;
    for (;;) pause();
  }
  if (strcmp(argv[1], "quiet-thread") == 0) {
    if (pipe(g_to_holder) != 0 || pipe(g_from_holder) != 0) return 2;
    if (pthread_create(&t, NULL, holder, NULL) != 0) return 2;
    give();
    scrub();
    char c;
    if (read(g_from_holder[0], &c, 1) != 1) return 2;
    printf("exit with the block held by a thread that never allocated\n");
    return 0;
  }
  return 2;
}

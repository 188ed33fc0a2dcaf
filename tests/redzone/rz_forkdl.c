// rz_forkdl.c: children forked while another thread loads and unloads a
// library must still allocate. A thread loops dlopen/dlclose, another
// copies strings; main forks 100 children that only malloc, strcpy and
// free. (Each child's first stack capture called dl_iterate_phdr, whose lock
// the parent's dlopen thread could hold at the fork: the child hung for
// good. Plain glibc runs this in about two seconds.)
// usage: rz_forkdl LIBRARY
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int g_stop;
static const char* g_lib;

static void* load_loop(void* arg) {
  (void)arg;
  while (!g_stop) {
    void* h = dlopen(g_lib, RTLD_NOW);
    if (!h) abort();
    dlclose(h);
  }
  return NULL;
}

static void* copy_loop(void* arg) {
  (void)arg;
  char* a = malloc(100);
  char* b = malloc(100);
  memset(a, 'a', 99);
  a[99] = 0;
  while (!g_stop) {
    memcpy(b, a, 100);
    if (strlen(b) != 99) abort();
  }
  free(a);
  free(b);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  g_lib = argv[1];
  pthread_t t1, t2;
  pthread_create(&t1, NULL, load_loop, NULL);
  pthread_create(&t2, NULL, copy_loop, NULL);
  int bad = 0;
  for (int i = 0; i < 100; i++) {
    pid_t p = fork();
    if (p == 0) {
      char* b = malloc(8);
      strcpy(b, "1234567");
      if (strlen(b) != 7) _exit(4);
      free(b);
      _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
  }
  g_stop = 1;
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  printf("100 children, %d failed\n", bad);
  return 0;
}

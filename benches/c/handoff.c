/*
 * Handoff latency from C: a holder releases, a waiter blocked in another thread gets the
 * lock; mean time from release to acquired. Contenders, interleaved per round:
 *   raw      open + flock(LOCK_EX) of the same lock file (the floor)
 *   direct   werf_sync_lock without timeout or token (blocks in flock on its own thread)
 *   token    werf_sync_lock with a cancel token (waits on a library helper thread, as the
 *            Go binding does)
 * Build and run: see BENCHMARKS.md ("Go binding").
 */
#define _POSIX_C_SOURCE 200809L
#include "werf_sync.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

enum mode { RAW, DIRECT, TOKEN, MODES };
static const char *mode_names[MODES] = {"raw", "direct", "token"};

static WerfSync *sync_;
static char *path;
static int waiting;
static double acquired_at;

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void *waiter(void *arg) {
  enum mode mode = *(enum mode *)arg;
  if (mode == RAW) {
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    __atomic_store_n(&waiting, 1, __ATOMIC_SEQ_CST);
    flock(fd, LOCK_EX);
    acquired_at = now_us();
    close(fd);
    return NULL;
  }
  WerfSyncCancelToken *token = mode == TOKEN ? werf_sync_cancel_token_new() : NULL;
  WerfSyncLockGuard *guard = NULL;
  __atomic_store_n(&waiting, 1, __ATOMIC_SEQ_CST);
  werf_sync_lock(sync_, "handoff", 7, WERF_SYNC_LOCK_MODE_EXCLUSIVE, WERF_SYNC_NO_TIMEOUT, token,
                 &guard, NULL);
  acquired_at = now_us();
  werf_sync_lock_guard_free(guard);
  werf_sync_cancel_token_free(token);
  return NULL;
}

/* One handoff in `mode`: hold, start the waiter, let it block, release; returns µs. */
static double handoff(enum mode mode) {
  WerfSyncLockGuard *guard = NULL;
  werf_sync_try_lock(sync_, "handoff", 7, WERF_SYNC_LOCK_MODE_EXCLUSIVE, &guard, NULL);
  waiting = 0;
  pthread_t thread;
  pthread_create(&thread, NULL, waiter, &mode);
  while (!__atomic_load_n(&waiting, __ATOMIC_SEQ_CST)) sched_yield();
  struct timespec blocked = {0, 2000000};
  nanosleep(&blocked, NULL);
  double released_at = now_us();
  werf_sync_lock_guard_free(guard);
  pthread_join(thread, NULL);
  return acquired_at - released_at;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 300;
  char home[] = "/tmp/werf-sync-handoff-XXXXXX";
  if (!mkdtemp(home) || werf_sync_open(home, sizeof home - 1, &sync_, NULL) != 0 ||
      werf_sync_lock_file_path(sync_, "handoff", 7, &path, NULL) != 0) {
    fprintf(stderr, "setup failed\n");
    return 1;
  }
  double total[MODES] = {0};
  for (int i = 0; i < rounds; i++)
    for (int m = 0; m < MODES; m++) total[m] += handoff((enum mode)m);
  for (int m = 0; m < MODES; m++)
    printf("%-7s %8.1f us/handoff  %.2fx raw\n", mode_names[m], total[m] / rounds,
           total[m] / total[RAW]);
  werf_sync_string_free(path);
  werf_sync_free(sync_);
  char rm[64];
  snprintf(rm, sizeof rm, "rm -rf '%s'", home);
  return system(rm) == 0 ? 0 : 1;
}

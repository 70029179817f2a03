/* Named locks: try, shared/exclusive, timeout, a guard handed to another thread, cancel,
 * handoff. */
#include "check.h"

#include <pthread.h>
#include <sys/stat.h>

static void test_try_lock(WerfSync *sync, const char *home) {
  WerfSyncLockGuard *a = NULL, *b = NULL;
  EXPECT(werf_sync_try_lock(sync, STR("hello"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, &a, E),
         WERF_SYNC_STATUS_OK);
  CHECK(a != NULL);
  CHECK(werf_sync_lock_guard_mode(a) == WERF_SYNC_LOCK_MODE_EXCLUSIVE);
  /* A second acquisition in the same process is excluded like another process. */
  WerfSyncError *err = NULL;
  CHECK(werf_sync_try_lock(sync, STR("hello"), WERF_SYNC_LOCK_MODE_SHARED, &b, &err) ==
        WERF_SYNC_STATUS_WOULD_BLOCK);
  CHECK(b == NULL);
  CHECK(err && strstr(werf_sync_error_message(err), "hello") != NULL);
  werf_sync_error_free(err);

  /* The lock file is werf's: <home>/service/locks/<murmur3 hex>. */
  char *path = NULL, want[4096];
  EXPECT(werf_sync_lock_file_path(sync, STR("hello"), &path, E), WERF_SYNC_STATUS_OK);
  snprintf(want, sizeof want, "%s/service/locks/248bfa47", home);
  CHECK(path && strcmp(path, want) == 0);
  struct stat st;
  CHECK(path && stat(path, &st) == 0);
  werf_sync_string_free(path);

  EXPECT(werf_sync_lock_guard_release(a, E), WERF_SYNC_STATUS_OK);
  /* Shared with shared coexist; exclusive is excluded by shared. */
  EXPECT(werf_sync_try_lock(sync, STR("hello"), WERF_SYNC_LOCK_MODE_SHARED, &a, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_try_lock(sync, STR("hello"), WERF_SYNC_LOCK_MODE_SHARED, &b, E),
         WERF_SYNC_STATUS_OK);
  WerfSyncLockGuard *c = NULL;
  EXPECT(werf_sync_try_lock(sync, STR("hello"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, &c, E),
         WERF_SYNC_STATUS_WOULD_BLOCK);
  werf_sync_lock_guard_free(a);
  werf_sync_lock_guard_free(b);
  /* The empty name is a name like any other; (NULL, 0) passes it. */
  EXPECT(werf_sync_try_lock(sync, NULL, 0, WERF_SYNC_LOCK_MODE_EXCLUSIVE, &c, E),
         WERF_SYNC_STATUS_OK);
  werf_sync_lock_guard_free(c);
}

struct releaser {
  WerfSyncLockGuard *guard;
  int delay_ms;
};

static void *release_later(void *arg) {
  struct releaser *r = arg;
  sleep_ms(r->delay_ms);
  werf_sync_lock_guard_free(r->guard);
  return NULL;
}

static void test_timeout_and_handed_over_guard(WerfSync *sync) {
  WerfSyncLockGuard *held = NULL, *other = NULL;
  EXPECT(werf_sync_lock(sync, STR("t"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, WERF_SYNC_NO_TIMEOUT,
                        NULL, &held, E),
         WERF_SYNC_STATUS_OK);
  double start = now_ms();
  EXPECT(werf_sync_lock(sync, STR("t"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, 50, NULL, &other, E),
         WERF_SYNC_STATUS_TIMEOUT);
  CHECK(now_ms() - start >= 45);
  CHECK(other == NULL);
  /* This thread acquired the lock but handed the guard to another thread, which frees it
   * later: waiting without a timeout is no deadlock, and gets the lock. */
  struct releaser r = {held, 100};
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, release_later, &r) == 0);
  start = now_ms();
  EXPECT(werf_sync_lock(sync, STR("t"), WERF_SYNC_LOCK_MODE_SHARED, WERF_SYNC_NO_TIMEOUT, NULL,
                        &other, E),
         WERF_SYNC_STATUS_OK);
  CHECK(now_ms() - start >= 90);
  CHECK(pthread_join(thread, NULL) == 0);
  werf_sync_lock_guard_free(other);
}

struct canceller {
  WerfSyncCancelToken *token;
  int delay_ms;
};

static void *cancel_later(void *arg) {
  struct canceller *c = arg;
  sleep_ms(c->delay_ms);
  werf_sync_cancel_token_cancel(c->token, NULL);
  return NULL;
}

static void test_cancel(WerfSync *sync) {
  WerfSyncLockGuard *held = NULL, *other = NULL;
  EXPECT(werf_sync_try_lock(sync, STR("c"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, &held, E),
         WERF_SYNC_STATUS_OK);
  struct canceller c = {werf_sync_cancel_token_new(), 50};
  CHECK(c.token != NULL);
  CHECK(!werf_sync_cancel_token_is_cancelled(c.token));
  pthread_t thread;
  pthread_create(&thread, NULL, cancel_later, &c);
  double start = now_ms();
  EXPECT(werf_sync_lock(sync, STR("c"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, WERF_SYNC_NO_TIMEOUT,
                        c.token, &other, E),
         WERF_SYNC_STATUS_CANCELLED);
  double waited = now_ms() - start;
  CHECK(waited >= 45 && waited < 2000);
  pthread_join(thread, NULL);
  CHECK(werf_sync_cancel_token_is_cancelled(c.token));
  /* A cancelled token fails later waits at once, even on a free lock. */
  werf_sync_lock_guard_free(held);
  EXPECT(werf_sync_lock(sync, STR("c"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, 1000, c.token, &other, E),
         WERF_SYNC_STATUS_CANCELLED);
  werf_sync_cancel_token_free(c.token);
}

struct holder {
  WerfSync *sync;
  int hold_ms;
  volatile int locked;
};

static void *hold_then_release(void *arg) {
  struct holder *h = arg;
  WerfSyncLockGuard *guard = NULL;
  werf_sync_try_lock(h->sync, STR("handoff"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, &guard, NULL);
  __atomic_store_n(&h->locked, 1, __ATOMIC_SEQ_CST);
  sleep_ms(h->hold_ms);
  werf_sync_lock_guard_release(guard, NULL);
  return NULL;
}

static void test_handoff(WerfSync *sync) {
  struct holder h = {sync, 50, 0};
  pthread_t thread;
  pthread_create(&thread, NULL, hold_then_release, &h);
  while (!__atomic_load_n(&h.locked, __ATOMIC_SEQ_CST)) sleep_ms(1);
  WerfSyncLockGuard *guard = NULL;
  double start = now_ms();
  /* Another thread holds it, so a wait without deadline is fine and ends at the release. */
  EXPECT(werf_sync_lock(sync, STR("handoff"), WERF_SYNC_LOCK_MODE_EXCLUSIVE,
                        WERF_SYNC_NO_TIMEOUT, NULL, &guard, E),
         WERF_SYNC_STATUS_OK);
  CHECK(now_ms() - start < 2000);
  pthread_join(thread, NULL);
  werf_sync_lock_guard_free(guard);
}

void test_locks(WerfSync *sync, const char *home) {
  test_try_lock(sync, home);
  test_timeout_and_handed_over_guard(sync);
  test_cancel(sync);
  test_handoff(sync);
}

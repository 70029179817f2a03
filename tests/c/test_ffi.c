/*
 * Uses include/werf_sync.h exactly as a C program would, against the static library. Run by
 * scripts/test-c under AddressSanitizer + UndefinedBehaviorSanitizer: every object the test
 * gets is freed, so a leak report means the library leaks.
 */
#define _POSIX_C_SOURCE 200809L
#include "werf_sync.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    checks++;                                                                         \
    if (!(cond)) {                                                                    \
      failures++;                                                                     \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
    }                                                                                 \
  } while (0)

/*
 * Checks the status of `call`, which passes `E` as its out_error; on a mismatch prints the
 * error's message. Frees the error object.
 */
#define E (&err_)
#define EXPECT(call, want)                                                            \
  do {                                                                                \
    WerfSyncError *err_ = NULL;                                                       \
    WerfSyncStatus got_ = (call);                                                     \
    checks++;                                                                         \
    if (got_ != (want)) {                                                             \
      failures++;                                                                     \
      fprintf(stderr, "%s:%d: %s returned %s, want %s (%s)\n", __FILE__, __LINE__,    \
              #call, werf_sync_status_name(got_), werf_sync_status_name(want),        \
              err_ ? werf_sync_error_message(err_) : "no error object");              \
    }                                                                                 \
    werf_sync_error_free(err_);                                                       \
  } while (0)

#define STR(s) (s), strlen(s)

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static WerfSync *open_home(const char *home) {
  WerfSync *sync = NULL;
  WerfSyncError *err = NULL;
  WerfSyncStatus status = werf_sync_open(STR(home), &sync, &err);
  if (status != WERF_SYNC_STATUS_OK) {
    fprintf(stderr, "werf_sync_open(%s): %s\n", home, werf_sync_error_message(err));
    werf_sync_error_free(err);
    exit(1);
  }
  CHECK(err == NULL);
  return sync;
}

static void test_version(void) {
  CHECK(strcmp(werf_sync_version(), WERF_SYNC_VERSION) == 0);
  char parts[32];
  snprintf(parts, sizeof parts, "%d.%d.%d", WERF_SYNC_VERSION_MAJOR, WERF_SYNC_VERSION_MINOR,
           WERF_SYNC_VERSION_PATCH);
  CHECK(strcmp(parts, WERF_SYNC_VERSION) == 0);
  CHECK(strcmp(werf_sync_status_name(WERF_SYNC_STATUS_TIMEOUT), "WERF_SYNC_STATUS_TIMEOUT") == 0);
  CHECK(strcmp(werf_sync_status_name(9999), "WERF_SYNC_STATUS_UNKNOWN") == 0);
}

static void test_open(const char *home) {
  WerfSync *sync = NULL;
  WerfSyncError *err = NULL;
  /* (NULL, 0) and "" resolve the default home: $WERF_HOME. */
  setenv("WERF_HOME", home, 1);
  CHECK(werf_sync_open(NULL, 0, &sync, &err) == WERF_SYNC_STATUS_OK);
  char *path = NULL;
  CHECK(werf_sync_home(sync, &path, NULL) == WERF_SYNC_STATUS_OK);
  CHECK(path && strcmp(path, home) == 0);
  werf_sync_string_free(path);
  werf_sync_free(sync);
  sync = NULL;
  CHECK(werf_sync_open("", 0, &sync, NULL) == WERF_SYNC_STATUS_OK);
  werf_sync_free(sync);
  sync = NULL;

  /* Misuse: NULL with a length, NULL output, NUL inside the path, WERF_HOME empty. */
  CHECK(werf_sync_open(NULL, 5, &sync, &err) == WERF_SYNC_STATUS_INVALID_ARGUMENT);
  CHECK(sync == NULL);
  CHECK(werf_sync_error_status(err) == WERF_SYNC_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(werf_sync_error_message(err), "werf home") != NULL);
  werf_sync_error_free(err);
  CHECK(werf_sync_open(STR(home), NULL, NULL) == WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_open("/tmp/a\0b", 8, &sync, NULL), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  setenv("WERF_HOME", "", 1);
  EXPECT(werf_sync_open(NULL, 0, &sync, NULL), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  unsetenv("WERF_HOME");
  CHECK(sync == NULL);
}

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

static void test_timeout_and_deadlock(WerfSync *sync) {
  WerfSyncLockGuard *held = NULL, *other = NULL;
  EXPECT(werf_sync_lock(sync, STR("t"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, WERF_SYNC_NO_TIMEOUT,
                        NULL, &held, E),
         WERF_SYNC_STATUS_OK);
  double start = now_ms();
  EXPECT(werf_sync_lock(sync, STR("t"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, 50, NULL, &other, E),
         WERF_SYNC_STATUS_TIMEOUT);
  CHECK(now_ms() - start >= 45);
  CHECK(other == NULL);
  /* Waiting forever on a lock this thread holds would hang: it is refused instead. */
  EXPECT(werf_sync_lock(sync, STR("t"), WERF_SYNC_LOCK_MODE_SHARED, WERF_SYNC_NO_TIMEOUT, NULL,
                        &other, E),
         WERF_SYNC_STATUS_DEADLOCK);
  werf_sync_lock_guard_free(held);
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

static void test_manager(WerfSync *sync) {
  WerfSyncLockHandle *stage = NULL, *again = NULL;
  EXPECT(werf_sync_lock_stage(sync, STR("proj"), STR("0123abcd"), WERF_SYNC_NO_TIMEOUT, NULL,
                              &stage, E),
         WERF_SYNC_STATUS_OK);
  size_t len = 0;
  CHECK(strcmp(werf_sync_lock_handle_name(stage, &len), "proj.0123abcd") == 0);
  CHECK(len == strlen("proj.0123abcd"));
  CHECK(strlen(werf_sync_lock_handle_uuid(stage)) == 36);
  /* The manager's lock is a real lock on werf's name. */
  WerfSyncLockGuard *guard = NULL;
  EXPECT(werf_sync_try_lock(sync, STR("proj.0123abcd"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, &guard,
                            E),
         WERF_SYNC_STATUS_WOULD_BLOCK);
  EXPECT(werf_sync_lock_stage(sync, STR("proj"), STR("0123abcd"), 20, NULL, &again, E),
         WERF_SYNC_STATUS_TIMEOUT);

  char *json = NULL;
  EXPECT(werf_sync_lock_handle_to_json(stage, &json, E), WERF_SYNC_STATUS_OK);
  CHECK(json && strstr(json, "\"lockName\":\"proj.0123abcd\"") != NULL);
  /* A handle rebuilt from JSON unlocks the same lock; the second unlock finds nothing. */
  EXPECT(werf_sync_lock_handle_from_json(json, strlen(json), &again, E), WERF_SYNC_STATUS_OK);
  werf_sync_string_free(json);
  EXPECT(werf_sync_unlock(sync, again, E), WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_unlock(sync, stage, E), WERF_SYNC_STATUS_NOT_FOUND);
  werf_sync_lock_handle_free(again);
  werf_sync_lock_handle_free(stage);
  EXPECT(werf_sync_try_lock(sync, STR("proj.0123abcd"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, &guard,
                            E),
         WERF_SYNC_STATUS_OK);
  werf_sync_lock_guard_free(guard);

  /* werf's other names, and shared stages-and-images locks coexisting. */
  WerfSyncLockHandle *h1 = NULL, *h2 = NULL, *h3 = NULL, *h4 = NULL, *h5 = NULL;
  EXPECT(werf_sync_lock_stages_and_images(sync, STR("proj"), true, 0, NULL, &h1, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_lock_stages_and_images(sync, STR("proj"), true, 0, NULL, &h2, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_lock_stages_and_images(sync, STR("proj"), false, 0, NULL, &h3, E),
         WERF_SYNC_STATUS_TIMEOUT);
  CHECK(strcmp(werf_sync_lock_handle_name(h1, NULL), "proj.stages_and_images") == 0);
  EXPECT(werf_sync_lock_stage_cache(sync, STR("proj"), STR("d"), 0, NULL, &h3, E),
         WERF_SYNC_STATUS_OK);
  CHECK(strcmp(werf_sync_lock_handle_name(h3, NULL), "proj.d.cache") == 0);
  EXPECT(werf_sync_lock_image(sync, STR("img"), 0, NULL, &h4, E), WERF_SYNC_STATUS_OK);
  CHECK(strcmp(werf_sync_lock_handle_name(h4, NULL), "img.image") == 0);
  EXPECT(werf_sync_lock_deploy_process(sync, STR("p"), STR("r"), STR("ctx"), 0, NULL, &h5, E),
         WERF_SYNC_STATUS_OK);
  CHECK(strcmp(werf_sync_lock_handle_name(h5, NULL), "project/p;release/r;kube_context/ctx") ==
        0);
  WerfSyncLockHandle *handles[] = {h1, h2, h3, h4, h5};
  for (size_t i = 0; i < 5; i++) {
    EXPECT(werf_sync_unlock(sync, handles[i], E), WERF_SYNC_STATUS_OK);
    werf_sync_lock_handle_free(handles[i]);
  }

  /* Generic manager locks and handles made from Go's LockHandle{UUID, LockName}. */
  WerfSyncLockHandle *g = NULL, *made = NULL;
  EXPECT(werf_sync_manager_try_lock(sync, STR("any"), WERF_SYNC_LOCK_MODE_SHARED, &g, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_manager_lock(sync, STR("any"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, 0, NULL, &h1,
                                E),
         WERF_SYNC_STATUS_TIMEOUT);
  const char *uuid = werf_sync_lock_handle_uuid(g);
  EXPECT(werf_sync_lock_handle_new(uuid, strlen(uuid), STR("any"), &made, E), WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_unlock(sync, made, E), WERF_SYNC_STATUS_OK);
  werf_sync_lock_handle_free(made);
  werf_sync_lock_handle_free(g);
}

static void test_misuse(WerfSync *sync) {
  WerfSyncLockGuard *guard = NULL;
  WerfSyncLockHandle *handle = NULL;
  char *path = NULL;
  const char bad_utf8[] = {'a', (char)0xff, 'b'};
  EXPECT(werf_sync_try_lock(NULL, STR("x"), 0, &guard, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_try_lock(sync, NULL, 3, 0, &guard, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_try_lock(sync, bad_utf8, 3, 0, &guard, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_try_lock(sync, STR("x"), 7, &guard, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_try_lock(sync, STR("x"), 0, NULL, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_lock(sync, STR("x"), 0, -5, NULL, &guard, E),
         WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_lock(sync, STR("x"), 2, 0, NULL, &guard, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_lock_stage(sync, NULL, 1, STR("d"), 0, NULL, &handle, E),
         WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_lock_file_path(NULL, STR("x"), &path, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_unlock(sync, NULL, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_lock_handle_from_json(STR("{\"uuid\":1}"), &handle, E),
         WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_lock_guard_release(NULL, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_cancel_token_cancel(NULL, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  CHECK(guard == NULL && handle == NULL && path == NULL);

  /* The error object of an invalid UTF-8 argument names the argument. */
  WerfSyncError *err = NULL;
  werf_sync_try_lock(sync, bad_utf8, 3, 0, &guard, &err);
  CHECK(strstr(werf_sync_error_message(err), "lock name") != NULL);
  CHECK(strstr(werf_sync_error_message(err), "UTF-8") != NULL);
  werf_sync_error_free(err);
  /* A success clears a stale pointer in out_error. */
  err = (WerfSyncError *)&err;
  CHECK(werf_sync_try_lock(sync, STR("x"), 0, &guard, &err) == WERF_SYNC_STATUS_OK);
  CHECK(err == NULL);
  werf_sync_lock_guard_free(guard);

  /* Accessors and frees accept NULL. */
  CHECK(werf_sync_error_status(NULL) == WERF_SYNC_STATUS_INVALID_ARGUMENT);
  CHECK(werf_sync_error_message(NULL) == NULL);
  CHECK(werf_sync_lock_handle_uuid(NULL) == NULL);
  CHECK(werf_sync_lock_handle_name(NULL, NULL) == NULL);
  CHECK(werf_sync_lock_guard_mode(NULL) == UINT32_MAX);
  CHECK(!werf_sync_cancel_token_is_cancelled(NULL));
  werf_sync_free(NULL);
  werf_sync_error_free(NULL);
  werf_sync_lock_guard_free(NULL);
  werf_sync_lock_handle_free(NULL);
  werf_sync_cancel_token_free(NULL);
  werf_sync_string_free(NULL);
}

static void test_open_address(const char *home) {
  WerfSync *sync = NULL;
  WerfSyncError *err = NULL;
  EXPECT(werf_sync_open_address(STR(":local"), STR(home), &sync, E), WERF_SYNC_STATUS_OK);
  werf_sync_free(sync);
  sync = NULL;
  unsetenv("WERF_SYNCHRONIZATION");
  EXPECT(werf_sync_open_address(NULL, 0, STR(home), &sync, E), WERF_SYNC_STATUS_OK);
  werf_sync_free(sync);
  sync = NULL;
  CHECK(werf_sync_open_address(STR("kubernetes://ns"), STR(home), &sync, &err) ==
        WERF_SYNC_STATUS_UNSUPPORTED);
  CHECK(strstr(werf_sync_error_message(err), "kubernetes") != NULL);
  werf_sync_error_free(err);
  CHECK(werf_sync_open_address(STR("ftp://x"), STR(home), &sync, &err) ==
        WERF_SYNC_STATUS_INVALID_ARGUMENT);
  CHECK(strstr(werf_sync_error_message(err), "only --synchronization=:local") != NULL);
  werf_sync_error_free(err);
  CHECK(sync == NULL);
}

static void test_address(void) {
  WerfSyncAddress *a = NULL;
  const char *part = NULL;
  size_t len = 0;
  EXPECT(werf_sync_address_parse(STR("kubernetes://ns:ctx@/tmp/kubeconfig"), &a, E),
         WERF_SYNC_STATUS_OK);
  CHECK(werf_sync_address_mode(a) == WERF_SYNC_ADDRESS_MODE_KUBERNETES);
  EXPECT(werf_sync_address_part(a, WERF_SYNC_ADDRESS_PART_KUBERNETES_NAMESPACE, &part, &len, E),
         WERF_SYNC_STATUS_OK);
  CHECK(len == 2 && strcmp(part, "ns") == 0);
  EXPECT(werf_sync_address_part(a, WERF_SYNC_ADDRESS_PART_KUBERNETES_CONTEXT, &part, NULL, E),
         WERF_SYNC_STATUS_OK);
  CHECK(strcmp(part, "ctx") == 0);
  EXPECT(werf_sync_address_part(a, WERF_SYNC_ADDRESS_PART_KUBECONFIG_PATH, &part, &len, E),
         WERF_SYNC_STATUS_OK);
  CHECK(strcmp(part, "/tmp/kubeconfig") == 0);
  EXPECT(werf_sync_address_part(a, WERF_SYNC_ADDRESS_PART_HTTP_URL, &part, &len, E),
         WERF_SYNC_STATUS_NOT_FOUND);
  EXPECT(werf_sync_address_part(a, 99, &part, &len, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  werf_sync_address_free(a);
  a = NULL;

  /* Inline kubeconfig data ("YTpi" is base64 of "a:b"); the redacted form hides it. */
  EXPECT(werf_sync_address_parse(STR("kubernetes://ns@base64:YTpi"), &a, E), WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_address_part(a, WERF_SYNC_ADDRESS_PART_KUBECONFIG_DATA, &part, &len, E),
         WERF_SYNC_STATUS_OK);
  CHECK(len == 3 && memcmp(part, "a:b", 3) == 0);
  EXPECT(werf_sync_address_part(a, WERF_SYNC_ADDRESS_PART_REDACTED, &part, &len, E),
         WERF_SYNC_STATUS_OK);
  CHECK(strstr(part, "YTpi") == NULL);
  werf_sync_address_free(a);
  a = NULL;

  EXPECT(werf_sync_address_parse(STR(":local"), &a, E), WERF_SYNC_STATUS_OK);
  CHECK(werf_sync_address_mode(a) == WERF_SYNC_ADDRESS_MODE_LOCAL);
  EXPECT(werf_sync_address_part(a, WERF_SYNC_ADDRESS_PART_TEXT, &part, &len, E),
         WERF_SYNC_STATUS_OK);
  CHECK(strcmp(part, ":local") == 0);
  werf_sync_address_free(a);
  a = NULL;
  EXPECT(werf_sync_address_parse(STR("https://synchronization.werf.io"), &a, E),
         WERF_SYNC_STATUS_OK);
  CHECK(werf_sync_address_mode(a) == WERF_SYNC_ADDRESS_MODE_HTTP);
  werf_sync_address_free(a);
  a = NULL;

  EXPECT(werf_sync_address_parse(STR(""), &a, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_address_parse(STR("local"), &a, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_address_parse(NULL, 4, &a, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  CHECK(a == NULL);
  CHECK(werf_sync_address_mode(NULL) == UINT32_MAX);
  werf_sync_address_free(NULL);
}

static void test_cache(WerfSync *sync) {
  WerfSyncStageList *list = (WerfSyncStageList *)&list;
  const char *digest = "0123456789abcdef0123456789abcdef0123456789abcdef01234567";
  EXPECT(werf_sync_cache_get_stages_by_digest(sync, STR("proj"), STR(digest), &list, E),
         WERF_SYNC_STATUS_OK);
  CHECK(list == NULL); /* a miss */
  WerfSyncStageId stages[2] = {{digest, strlen(digest), 1647350000123},
                               {digest, strlen(digest), 1647350000456}};
  EXPECT(werf_sync_cache_store_stages_by_digest(sync, STR("proj"), STR(digest), stages, 2, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_cache_get_stages_by_digest(sync, STR("proj"), STR(digest), &list, E),
         WERF_SYNC_STATUS_OK);
  size_t n = 0;
  const WerfSyncStageId *items = werf_sync_stage_list_items(list, &n);
  CHECK(n == 2);
  CHECK(n == 2 && items[0].unique_id == 1647350000123 && items[1].unique_id == 1647350000456);
  CHECK(n == 2 && items[1].digest_len == strlen(digest) && strcmp(items[1].digest, digest) == 0);
  werf_sync_stage_list_free(list);

  /* werf's record file, byte for byte. */
  char *home = NULL, path[4096], content[512] = {0};
  werf_sync_home(sync, &home, NULL);
  snprintf(path, sizeof path, "%s/shared_context/storage/stages_storage_cache/1/proj/%s", home,
           digest);
  werf_sync_string_free(home);
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (f) {
    size_t got = fread(content, 1, sizeof content - 1, f);
    (void)got;
    fclose(f);
  }
  char want[512];
  snprintf(want, sizeof want,
           "{\"stages\":[{\"digest\":\"%s\",\"uniqueID\":1647350000123},{\"digest\":\"%s\","
           "\"uniqueID\":1647350000456}]}\n",
           digest, digest);
  CHECK(strcmp(content, want) == 0);

  /* (NULL, 0) stores "cached: no stages": found, empty. */
  EXPECT(werf_sync_cache_store_stages_by_digest(sync, STR("proj"), STR("d2"), NULL, 0, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_cache_get_all_stages(sync, STR("proj"), &list, E), WERF_SYNC_STATUS_OK);
  CHECK(list != NULL);
  werf_sync_stage_list_items(list, &n);
  CHECK(n == 2);
  werf_sync_stage_list_free(list);
  EXPECT(werf_sync_cache_delete_stages_by_digest(sync, STR("proj"), STR(digest), E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_cache_get_stages_by_digest(sync, STR("proj"), STR("d2"), &list, E),
         WERF_SYNC_STATUS_OK);
  CHECK(list != NULL && werf_sync_stage_list_items(list, &n) != NULL && n == 0);
  werf_sync_stage_list_free(list);
  EXPECT(werf_sync_cache_delete_all_stages(sync, STR("proj"), E), WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_cache_get_all_stages(sync, STR("proj"), &list, E), WERF_SYNC_STATUS_OK);
  CHECK(list == NULL);

  /* Misuse: a path-escaping project, NULL stages with a count, a bad digest, NULL list. */
  EXPECT(werf_sync_cache_get_all_stages(sync, STR("../x"), &list, E),
         WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_cache_store_stages_by_digest(sync, STR("proj"), STR("d"), NULL, 3, E),
         WERF_SYNC_STATUS_INVALID_ARGUMENT);
  WerfSyncStageId bad = {NULL, 5, 1};
  EXPECT(werf_sync_cache_store_stages_by_digest(sync, STR("proj"), STR("d"), &bad, 1, E),
         WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_cache_get_all_stages(sync, STR("proj"), NULL, E),
         WERF_SYNC_STATUS_INVALID_ARGUMENT);
  CHECK(werf_sync_stage_list_items(NULL, &n) == NULL && n == 0);
  werf_sync_stage_list_free(NULL);
}

int main(void) {
  char home[] = "/tmp/werf-sync-c-test-XXXXXX";
  if (!mkdtemp(home)) {
    perror("mkdtemp");
    return 1;
  }
  test_version();
  test_open(home);
  WerfSync *sync = open_home(home);
  test_try_lock(sync, home);
  test_timeout_and_deadlock(sync);
  test_cancel(sync);
  test_handoff(sync);
  test_manager(sync);
  test_misuse(sync);
  test_cache(sync);
  werf_sync_free(sync);
  test_open_address(home);
  test_address();

  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", home);
  printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}

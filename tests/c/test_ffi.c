/* The C ABI test program: version, open, misuse, and the groups in the other files. */
#include "check.h"

#include <stdlib.h>
#include <time.h>

int failures = 0;
int checks = 0;

double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

WerfSync *open_home(const char *home) {
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

int main(void) {
  char home[] = "/tmp/werf-sync-c-test-XXXXXX";
  if (!mkdtemp(home)) {
    perror("mkdtemp");
    return 1;
  }
  test_version();
  test_open(home);
  WerfSync *sync = open_home(home);
  test_locks(sync, home);
  test_manager(sync);
  test_locks_dir(home);
  test_misuse(sync);
  test_cache(sync);
  werf_sync_free(sync);
  test_address(home);

  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", home);
  printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}


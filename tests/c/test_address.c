/* The --synchronization address: parsing, and opening a synchronization from one. */
#include "check.h"

#include <stdlib.h>

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

/*
 * An http(s) address opens through the same entry point; nothing listens on port 1 of the
 * loopback, so a lock call fails (after the client's retries) with UNAVAILABLE naming the
 * server without its credentials. Guards and the stages storage cache are refused.
 */
static void test_open_http(const char *home) {
  WerfSync *sync = NULL;
  WerfSyncError *err = NULL;
  EXPECT(werf_sync_open_address_with_client_id(STR("http://user:pw@127.0.0.1:1"), STR(home),
                                               STR("c-test"), &sync, E),
         WERF_SYNC_STATUS_OK);
  char *id = NULL;
  EXPECT(werf_sync_client_id(sync, &id, E), WERF_SYNC_STATUS_OK);
  CHECK(id != NULL && strcmp(id, "c-test") == 0);
  werf_sync_string_free(id);

  WerfSyncLockHandle *handle = NULL;
  CHECK(werf_sync_lock_stage(sync, STR("p"), STR("d"), WERF_SYNC_NO_TIMEOUT, NULL, &handle,
                             &err) == WERF_SYNC_STATUS_UNAVAILABLE);
  CHECK(strstr(werf_sync_error_message(err), "http://127.0.0.1:1") != NULL);
  CHECK(strstr(werf_sync_error_message(err), "locker/acquire") != NULL);
  CHECK(strstr(werf_sync_error_message(err), "pw") == NULL);
  werf_sync_error_free(err);
  CHECK(handle == NULL);

  WerfSyncLockGuard *guard = NULL;
  EXPECT(werf_sync_try_lock(sync, STR("n"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, &guard, E),
         WERF_SYNC_STATUS_UNSUPPORTED);
  CHECK(werf_sync_cache_delete_all_stages(sync, STR("p"), &err) == WERF_SYNC_STATUS_UNSUPPORTED);
  CHECK(strstr(werf_sync_error_message(err), "v1.2.77") != NULL);
  werf_sync_error_free(err);
  werf_sync_free(sync);
  sync = NULL;

  EXPECT(werf_sync_open_address_with_client_id(STR("http://127.0.0.1:1"), STR(home), STR("a/b"),
                                               &sync, E),
         WERF_SYNC_STATUS_INVALID_ARGUMENT);
  CHECK(sync == NULL);

  /* A :local handle is never lost. */
  EXPECT(werf_sync_open_address(STR(":local"), STR(home), &sync, E), WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_lock_stage(sync, STR("p"), STR("lost"), WERF_SYNC_NO_TIMEOUT, NULL, &handle, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_lock_lost(sync, handle, E), WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_unlock(sync, handle, E), WERF_SYNC_STATUS_OK);
  werf_sync_lock_handle_free(handle);
  werf_sync_free(sync);
}

static void test_parse(void) {
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

void test_address(const char *home) {
  test_open_address(home);
  test_open_http(home);
  test_parse();
}

/* werf's lock manager: werf's lock names, handles, lockgate's JSON form. */
#include "check.h"

void test_manager(WerfSync *sync) {
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


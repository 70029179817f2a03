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

  /* werf's other operations are their lock names through the manager; shared locks coexist. */
  WerfSyncLockHandle *h1 = NULL, *h2 = NULL, *h3 = NULL;
  EXPECT(werf_sync_manager_lock(sync, STR("proj.stages_and_images"), WERF_SYNC_LOCK_MODE_SHARED,
                                0, NULL, &h1, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_manager_lock(sync, STR("proj.stages_and_images"), WERF_SYNC_LOCK_MODE_SHARED,
                                0, NULL, &h2, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_manager_lock(sync, STR("proj.stages_and_images"),
                                WERF_SYNC_LOCK_MODE_EXCLUSIVE, 0, NULL, &h3, E),
         WERF_SYNC_STATUS_TIMEOUT);
  CHECK(strcmp(werf_sync_lock_handle_name(h1, NULL), "proj.stages_and_images") == 0);
  WerfSyncLockHandle *handles[] = {h1, h2};
  for (size_t i = 0; i < 2; i++) {
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


/* A bare locks directory as lockgate's file locker uses it, with either naming. */
void test_locks_dir(const char *home) {
  char dir[512], *path = NULL;
  snprintf(dir, sizeof dir, "%s/lockgate-locks", home);
  WerfSync *sha = NULL, *murmur = NULL;
  EXPECT(werf_sync_open_locks_dir(STR(dir), 7, &sha, E), WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_open_locks_dir(STR(""), WERF_SYNC_LOCK_FILE_NAMING_SHA256, &sha, E),
         WERF_SYNC_STATUS_INVALID_ARGUMENT);
  EXPECT(werf_sync_open_locks_dir(STR(dir), WERF_SYNC_LOCK_FILE_NAMING_SHA256, &sha, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_open_locks_dir(STR(dir), WERF_SYNC_LOCK_FILE_NAMING_MURMUR3, &murmur, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_lock_file_path(sha, STR("hello"), &path, E), WERF_SYNC_STATUS_OK);
  CHECK(path && strstr(path, "/lockgate-locks/"
                             "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"));
  werf_sync_string_free(path);
  EXPECT(werf_sync_lock_file_path(murmur, STR("hello"), &path, E), WERF_SYNC_STATUS_OK);
  CHECK(path && strstr(path, "/lockgate-locks/248bfa47"));
  werf_sync_string_free(path);

  WerfSyncLockHandle *h = NULL, *other = NULL;
  EXPECT(werf_sync_manager_try_lock(sha, STR("hello"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, &h, E),
         WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_manager_try_lock(sha, STR("hello"), WERF_SYNC_LOCK_MODE_SHARED, &other, E),
         WERF_SYNC_STATUS_WOULD_BLOCK);
  /* Another naming is another file. */
  EXPECT(werf_sync_manager_try_lock(murmur, STR("hello"), WERF_SYNC_LOCK_MODE_EXCLUSIVE, &other,
                                    E),
         WERF_SYNC_STATUS_OK);
  /* No werf home, so no stages storage cache. */
  WerfSyncStageList *list = NULL;
  EXPECT(werf_sync_cache_get_all_stages(sha, STR("proj"), &list, E),
         WERF_SYNC_STATUS_UNSUPPORTED);
  EXPECT(werf_sync_unlock(sha, h, E), WERF_SYNC_STATUS_OK);
  EXPECT(werf_sync_unlock(murmur, other, E), WERF_SYNC_STATUS_OK);
  werf_sync_lock_handle_free(h);
  werf_sync_lock_handle_free(other);
  werf_sync_free(sha);
  werf_sync_free(murmur);
}

/* The stages storage cache: werf's five operations and werf's record bytes. */
#include "check.h"

void test_cache(WerfSync *sync) {
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


// The header must compile as C++ too (extern "C" guard, enum types), and link.
#include "werf_sync.h"

#include <cstdio>
#include <cstring>

int main() {
  WerfSyncError *err = nullptr;
  WerfSync *sync = nullptr;
  WerfSyncStatus status = werf_sync_open(nullptr, 5, &sync, &err);
  bool ok = status == WERF_SYNC_STATUS_INVALID_ARGUMENT && err != nullptr &&
            std::strcmp(werf_sync_version(), WERF_SYNC_VERSION) == 0;
  werf_sync_error_free(err);
  std::printf("%d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
  return ok ? 0 : 1;
}

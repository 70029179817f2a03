/*
 * Shared by the C test program's files: check macros and small helpers. The program uses
 * include/werf_sync.h exactly as a C user would, against the static library, and runs under
 * AddressSanitizer + UBSan: every object it gets is freed, so a leak report is the library's.
 */
#ifndef WERF_SYNC_TEST_CHECK_H
#define WERF_SYNC_TEST_CHECK_H

#define _POSIX_C_SOURCE 200809L
#include "werf_sync.h"

#include <stdio.h>
#include <string.h>

extern int failures;
extern int checks;

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


double now_ms(void);
void sleep_ms(int ms);
WerfSync *open_home(const char *home);

/* The test groups, one file each. */
void test_locks(WerfSync *sync, const char *home);
void test_manager(WerfSync *sync);
void test_locks_dir(const char *home);
void test_cache(WerfSync *sync);
void test_address(const char *home);

#endif

/*
 * What the uncontended acquire's floor is made of on this machine, without any Rust.
 *
 *   cc -O2 -o target/syscall_costs benches/c/syscall_costs.c && target/syscall_costs
 *
 * Part 1 runs, interleaved (every candidate one batch per round, rotated; medians of the
 * per-round ratios; CPU time of this thread, so other processes' load counts less):
 *   - the floor of benches/locks.rs: open(path, O_CREAT) + flock EX + flock UN + close;
 *   - the floor + glibc's fstat (what benches/locks.rs calls "floor + fstat");
 *   - werf-sync's system calls: openat2(home, "service/locks/<file>", RESOLVE_NO_SYMLINKS)
 *     + flock EX|NB + the fstat system call + flock UN + close;
 *   - the same with RESOLVE_BENEATH added (what the engine did before: redundant for a path
 *     without "..", and it costs).
 * Part 2 prints single costs that explain where user-space time went: glibc fstat against
 * the fstat system call, the precise against the coarse wall clock, and a cheap system call
 * with and without ten atomic increments after it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 101
#define BATCH 2000
#define RELATIVE "service/locks/ed4a9a4"

static char lock_path[4096];
static int home_fd;

static double cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void check(int ok, const char *what) {
    if (!ok) {
        perror(what);
        exit(1);
    }
}

static void floor_only(void) {
    int fd = open(lock_path, O_CREAT | O_RDONLY | O_CLOEXEC, 0600);
    check(fd >= 0, "open");
    flock(fd, LOCK_EX);
    flock(fd, LOCK_UN);
    close(fd);
}

static void floor_with_glibc_fstat(void) {
    struct stat st;
    int fd = open(lock_path, O_CREAT | O_RDONLY | O_CLOEXEC, 0600);
    check(fd >= 0, "open");
    flock(fd, LOCK_EX);
    fstat(fd, &st);
    flock(fd, LOCK_UN);
    close(fd);
}

static void engine_calls(unsigned long long resolve) {
    struct open_how how;
    struct stat st;
    memset(&how, 0, sizeof how);
    how.flags = O_CREAT | O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    how.mode = 0600;
    how.resolve = resolve;
    int fd = syscall(SYS_openat2, home_fd, RELATIVE, &how, sizeof how);
    check(fd >= 0, "openat2");
    flock(fd, LOCK_EX | LOCK_NB);
    syscall(SYS_fstat, fd, &st);
    flock(fd, LOCK_UN);
    close(fd);
}

static void engine_now(void) { engine_calls(RESOLVE_NO_SYMLINKS); }
static void engine_with_beneath(void) { engine_calls(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH); }

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void interleaved(void) {
    void (*run[])(void) = {floor_only, floor_with_glibc_fstat, engine_now, engine_with_beneath};
    const char *name[] = {
        "floor: open+flock+unlock+close",
        "floor + glibc fstat",
        "werf-sync's calls: openat2 + fstat syscall",
        "same + RESOLVE_BENEATH (before)",
    };
    enum { N = sizeof run / sizeof run[0] };
    static double ns[N][ROUNDS], ratio[N][ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < N; k++) {
            int i = (r + k) % N;
            double start = cpu_ns();
            for (int j = 0; j < BATCH; j++) run[i]();
            ns[i][r] = (cpu_ns() - start) / BATCH;
        }
        for (int i = 0; i < N; i++) ratio[i][r] = ns[i][r] / ns[0][r];
    }
    printf("interleaved, %d rounds of %d, medians (CPU time):\n", ROUNDS, BATCH);
    for (int i = 0; i < N; i++) {
        qsort(ns[i], ROUNDS, sizeof(double), by_value);
        qsort(ratio[i], ROUNDS, sizeof(double), by_value);
        printf("  %-44s %6.0f ns  %.3fx floor\n", name[i], ns[i][ROUNDS / 2], ratio[i][ROUNDS / 2]);
    }
}

static volatile long counters[10 * 8];

static void single_costs(void) {
    enum { N = 1000000 };
    struct stat st;
    struct timespec ts;
    int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
    check(fd >= 0, "open");
    double t = cpu_ns();
    for (int i = 0; i < N; i++) fstat(fd, &st);
    double glibc_fstat = (cpu_ns() - t) / N;
    t = cpu_ns();
    for (int i = 0; i < N; i++) syscall(SYS_fstat, fd, &st);
    double raw_fstat = (cpu_ns() - t) / N;
    t = cpu_ns();
    for (int i = 0; i < N; i++) clock_gettime(CLOCK_REALTIME, &ts);
    double precise = (cpu_ns() - t) / N;
    t = cpu_ns();
    for (int i = 0; i < N; i++) clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    double coarse = (cpu_ns() - t) / N;
    t = cpu_ns();
    for (int i = 0; i < N; i++) syscall(SYS_getppid);
    double bare = (cpu_ns() - t) / N;
    t = cpu_ns();
    for (int i = 0; i < N; i++) {
        syscall(SYS_getppid);
        for (int j = 0; j < 10; j++) __atomic_fetch_add(&counters[j * 8], 1, __ATOMIC_SEQ_CST);
    }
    double with_atomics = (cpu_ns() - t) / N;
    close(fd);
    printf("single costs (ns per call):\n");
    printf("  fstat: glibc %.0f, system call %.0f\n", glibc_fstat, raw_fstat);
    printf("  wall clock: precise %.0f, coarse %.0f\n", precise, coarse);
    printf("  getppid %.0f; getppid + 10 atomic increments %.0f\n", bare, with_atomics);
}

int main(void) {
    char home[] = "/tmp/werf-sync-syscall-costs.XXXXXX";
    check(mkdtemp(home) != NULL, "mkdtemp");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/service", home);
    check(mkdir(dir, 0755) == 0, "mkdir service");
    snprintf(dir, sizeof dir, "%s/service/locks", home);
    check(mkdir(dir, 0755) == 0, "mkdir locks");
    snprintf(lock_path, sizeof lock_path, "%s/" RELATIVE, home);
    home_fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    check(home_fd >= 0, "open home");
    floor_only(); /* create the lock file */
    interleaved();
    single_costs();
    unlink(lock_path);
    rmdir(dir);
    snprintf(dir, sizeof dir, "%s/service", home);
    rmdir(dir);
    rmdir(home);
    return 0;
}

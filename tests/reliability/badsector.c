/* Test-only LD_PRELOAD shim: a bad sector, a range of one file that the disk will not read back.
 *
 * While switched on, every pread that touches bytes [start, end) of the file at `path` fails with EIO,
 * as a disk's unreadable block does: SQLite's pread64 and Python's os.pread alike (one and the same
 * call on a 64-bit system, so pread goes through pread64 here). The process switches it on and off
 * itself through ctypes: bad_sector_on(path, start, end), bad_sector_off().
 *
 * Built by the tests: gcc -O2 -Wall -Werror -shared -fPIC -o badsector.so badsector.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static char bad_path[PATH_MAX];
static off64_t bad_start, bad_end;
static volatile int bad_on;

void bad_sector_on(const char *path, long long start, long long end) {
  snprintf(bad_path, sizeof bad_path, "%s", path);
  bad_start = start;
  bad_end = end;
  bad_on = 1;
}

void bad_sector_off(void) { bad_on = 0; }

static int unreadable(int fd, size_t count, off64_t offset) {
  char link[64], target[PATH_MAX];
  if (!bad_on || offset >= bad_end || offset + (off64_t)count <= bad_start) return 0;
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) return 0;
  target[n] = '\0';
  return strcmp(target, bad_path) == 0;
}

ssize_t pread64(int fd, void *buf, size_t count, off64_t offset) {
  static ssize_t (*real)(int, void *, size_t, off64_t);
  if (!real) real = (ssize_t(*)(int, void *, size_t, off64_t))dlsym(RTLD_NEXT, "pread64");
  if (unreadable(fd, count, offset)) {
    errno = EIO;
    return -1;
  }
  return real(fd, buf, count, offset);
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset) { return pread64(fd, buf, count, offset); }

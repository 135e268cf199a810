/* Test-only LD_PRELOAD shim: "lose every un-fsynced write" (a disk that keeps only what was flushed).
 *
 * On a successful fsync/fdatasync of a regular file inside $LW_DIR, copy its bytes to
 * $LW_SHADOW/<inode>.data. On an fsync of the directory $LW_DIR itself, write its name -> inode
 * listing to $LW_SHADOW/DIR. After a kill -9 the harness rebuilds $LW_DIR from these alone: a name
 * exists only if the last DIR listing has it, and holds the last snapshot of its inode (empty if that
 * inode was never fsynced). Keying by inode gives create, unlink and rename their POSIX meaning.
 *
 * Two changes from the appendix's listing, neither of which changes the model:
 *  - the bytes are read through a fresh read-only descriptor (/proc/self/fd/N), so a file opened
 *    write-only (the key file's temp file) is captured instead of snapshotted empty;
 *  - the DIR listing skips only "." and "..", so hidden names are part of the model too.
 *
 * Built by the tests: gcc -O2 -Wall -Werror -shared -fPIC -o lostwrites.so lostwrites.c -ldl
 * (with -DLW_IGNORE_DIR_SYNC for the negative control whose directory fsyncs are lost too).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int (*real_fsync)(int), (*real_fdatasync)(int);

static int under(const char *p, const char *d) {
  size_t n = strlen(d);
  return !strncmp(p, d, n) && (p[n] == '/' || !p[n]);
}

static void copy_file(int fd, const char *shadow, unsigned long ino) {
  char link[64], dst[PATH_MAX], tmp[PATH_MAX + 8], buf[65536];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  int in = open(link, O_RDONLY | O_CLOEXEC);
  if (in < 0) return;
  snprintf(dst, sizeof dst, "%s/%lu.data", shadow, ino);
  snprintf(tmp, sizeof tmp, "%s.tmp", dst);
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  off_t off = 0;
  ssize_t r;
  int ok = out >= 0;
  while (ok && (r = pread(in, buf, sizeof buf, off)) > 0) {
    if (write(out, buf, r) != r) ok = 0;
    off += r;
  }
  close(in);
  if (out >= 0) {
    close(out);
    if (ok) rename(tmp, dst);
  }
}

static void __attribute__((unused)) list_dir(const char *dir, const char *shadow) {
  char dst[PATH_MAX], tmp[PATH_MAX + 8];
  snprintf(dst, sizeof dst, "%s/DIR", shadow);
  snprintf(tmp, sizeof tmp, "%s.tmp", dst);
  FILE *f = fopen(tmp, "w");
  DIR *d = opendir(dir);
  struct dirent *e;
  while (f && d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      fprintf(f, "%lu %s\n", (unsigned long)e->d_ino, e->d_name);
  if (d) closedir(d);
  if (f) {
    fclose(f);
    rename(tmp, dst);
  }
}

static void snap(int fd) {
  const char *dir = getenv("LW_DIR"), *shadow = getenv("LW_SHADOW");
  char link[64], path[PATH_MAX];
  struct stat st;
  if (!dir || !shadow) return;
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n < 0) return;
  path[n] = 0;
  if (!under(path, dir) || fstat(fd, &st)) return;
  if (S_ISREG(st.st_mode))
    copy_file(fd, shadow, (unsigned long)st.st_ino); /* the file's bytes as of this sync */
#ifndef LW_IGNORE_DIR_SYNC /* defined only for the negative control: a directory fsync that does nothing */
  else if (S_ISDIR(st.st_mode) && !strcmp(path, dir))
    list_dir(dir, shadow); /* the durable names as of this directory sync */
#endif
}

int fsync(int fd) {
  if (!real_fsync) real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  int r = real_fsync(fd);
  if (!r) snap(fd);
  return r;
}

int fdatasync(int fd) {
  if (!real_fdatasync) real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  int r = real_fdatasync(fd);
  if (!r) snap(fd);
  return r;
}

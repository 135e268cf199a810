/* Test-only LD_PRELOAD shim: "lose every un-fsynced write" (a disk that keeps only what was flushed).
 *
 * On a successful fsync/fdatasync of a regular file inside $LW_DIR, copy its bytes to
 * $LW_SHADOW/<inode>.data. On an fsync of the directory $LW_DIR itself, write its name -> inode
 * listing to $LW_SHADOW/DIR. After a kill -9 the harness rebuilds $LW_DIR from these alone: a name
 * exists only if the last DIR listing has it, and holds the last snapshot of its inode (empty if that
 * inode was never fsynced). Keying by inode gives create, unlink and rename their POSIX meaning.
 *
 * Three refinements of that shim's plainest form, none of which changes the model:
 *  - the bytes are read through a fresh read-only descriptor (/proc/self/fd/N), so a file opened
 *    write-only (the key file's temp file) is captured instead of snapshotted empty;
 *  - the DIR listing skips only "." and "..", so hidden names are part of the model too;
 *  - snapshots are taken one at a time (a lock file in $LW_SHADOW, across threads and processes).
 *    The store's checkpoint thread fsyncs the WAL while the writer appends to it and fsyncs it too;
 *    two snapshots side by side shared one temp file, and a block read before a commit's write
 *    landed over that commit's own snapshot: a write that was fsynced was lost, which no disk does.
 *    One at a time, the last snapshot to finish is the last to begin, and holds every synced write.
 *
 * Built by the tests: gcc -O2 -Wall -Werror -shared -fPIC -o lostwrites.so lostwrites.c -ldl
 * (with -DLW_IGNORE_DIR_SYNC for the negative control whose directory fsyncs are lost too, and with
 * -DLW_STALL_SECOND_SNAPSHOT for the test of the lock: the second snapshot pauses between reading its
 * first block and writing it).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int (*real_fsync)(int), (*real_fdatasync)(int);

static int under(const char *p, const char *d) {
  size_t n = strlen(d);
  return !strncmp(p, d, n) && (p[n] == '/' || !p[n]);
}

static void copy_file(int fd, const char *shadow, unsigned long ino, int stall) {
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
    if (stall && !off) usleep(1500 * 1000); /* the first block read, not yet written */
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
  char lock_path[PATH_MAX];
  snprintf(lock_path, sizeof lock_path, "%s/LOCK", shadow);
  int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || flock(lock, LOCK_EX)) abort(); /* a snapshot out of turn would make the model lie */
  if (S_ISREG(st.st_mode)) {
    int stall = 0;
#ifdef LW_STALL_SECOND_SNAPSHOT /* defined only for the test of the lock */
    static int snapshots;
    stall = ++snapshots == 2;
#endif
    copy_file(fd, shadow, (unsigned long)st.st_ino, stall); /* the file's bytes as of this sync */
  }
#ifndef LW_IGNORE_DIR_SYNC /* defined only for the negative control: a directory fsync that does nothing */
  else if (S_ISDIR(st.st_mode) && !strcmp(path, dir))
    list_dir(dir, shadow); /* the durable names as of this directory sync */
#endif
  close(lock); /* and the lock with it */
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

/*
 * LD_PRELOAD shim for tests: the process stops for good (until it is killed) right before it unlinks a
 * file named $PAUSE_UNLINK (its last path segment), after creating the file $PAUSE_UNLINK_REACHED to
 * say so. A test kills ferry there: in the middle of its wipe, deterministically. Any other unlink
 * goes through untouched. Built by test/helpers/pause-unlink.ts.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void maybe_pause(const char *path) {
  const char *want = getenv("PAUSE_UNLINK");
  if (!want || !*want || !path) return;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (strcmp(base, want) != 0) return;
  const char *reached = getenv("PAUSE_UNLINK_REACHED");
  if (reached) {
    int fd = open(reached, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) close(fd);
  }
  for (;;) pause();
}

int unlink(const char *path) {
  static int (*real)(const char *);
  if (!real) real = (int (*)(const char *))dlsym(RTLD_NEXT, "unlink");
  maybe_pause(path);
  return real(path);
}

int unlinkat(int dirfd, const char *path, int flags) {
  static int (*real)(int, const char *, int);
  if (!real) real = (int (*)(int, const char *, int))dlsym(RTLD_NEXT, "unlinkat");
  maybe_pause(path);
  return real(dirfd, path, flags);
}

/*
 * inotify for the live upload's watch on the run directory's folders (agent/rundir/watch.ts), with
 * the events ferry asks for only: entries created, moved and removed, never writes. Node's fs.watch
 * always asks for IN_MODIFY too, so every write(2) into a watched folder woke ferry's event loop (a
 * log written a line per call: 80-95% of a core). Non-blocking: the watch reads what queued
 * (nothing wakes ferry in between), so no thread and no event-loop handle are needed.
 *
 *   inotifyOpen()                 inotify_init1(IN_NONBLOCK | IN_CLOEXEC): the fd (close it with fs.closeSync)
 *   inotifyWatch(fd, path)        inotify_add_watch for a folder (no link followed): its wd, or -errno
 *   inotifyUnwatch(fd, wd)        inotify_rm_watch: 0, or -errno
 *   inotifyRead(fd, most)         the events queued, all of them read, the first `most` told:
 *                                 [wd, mask, name, wd, mask, name, ...] (name '' for the folder itself),
 *                                 then [-1, IN_Q_OVERFLOW, ''] when there were more; [] when none;
 *                                 -errno as the only item on failure. A solver creating and removing
 *                                 temp files in a tight loop queues ~100,000 events a second: making
 *                                 each a JS value cost ferry ~40% of a core.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <node_api.h>

#define FERRY_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | \
                    IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

static napi_value int_value(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static int32_t int_arg(napi_env env, napi_value v, int32_t dflt) {
  int32_t n = dflt;
  if (napi_get_value_int32(env, v, &n) != napi_ok) return dflt;
  return n;
}

static napi_value inotify_open(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  return int_value(env, fd < 0 ? -errno : fd);
}

static napi_value inotify_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return int_value(env, -EINVAL);
  char path[4096];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[1], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1)
    return int_value(env, -ENAMETOOLONG);
  int wd = inotify_add_watch(int_arg(env, argv[0], -1), path, FERRY_MASK);
  return int_value(env, wd < 0 ? -errno : wd);
}

static napi_value inotify_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return int_value(env, -EINVAL);
  int r = inotify_rm_watch(int_arg(env, argv[0], -1), int_arg(env, argv[1], -1));
  return int_value(env, r < 0 ? -errno : 0);
}

static napi_value inotify_read(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int fd = argc < 1 ? -1 : int_arg(env, argv[0], -1);
  int32_t most = argc < 2 ? 64 : int_arg(env, argv[1], 64);
  napi_value out;
  napi_create_array(env, &out);
  uint32_t n = 0;
  int32_t told = 0, more = 0;
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && n == 0) napi_set_element(env, out, n++, int_value(env, -errno));
      break;
    }
    if (got == 0) break;
    for (char *p = buf; p < buf + got;) {
      const struct inotify_event *e = (const struct inotify_event *)p;
      if (told >= most) {
        more = 1;
        p += sizeof(struct inotify_event) + e->len;
        continue;
      }
      told++;
      napi_value name;
      napi_create_string_utf8(env, e->len ? e->name : "", e->len ? strnlen(e->name, e->len) : 0, &name);
      napi_set_element(env, out, n++, int_value(env, e->wd));
      napi_set_element(env, out, n++, int_value(env, (int32_t)e->mask));
      napi_set_element(env, out, n++, name);
      p += sizeof(struct inotify_event) + e->len;
    }
  }
  if (more) {
    napi_value empty;
    napi_create_string_utf8(env, "", 0, &empty);
    napi_set_element(env, out, n++, int_value(env, -1));
    napi_set_element(env, out, n++, int_value(env, IN_Q_OVERFLOW));
    napi_set_element(env, out, n++, empty);
  }
  return out;
}

void ferry_register_inotify(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"inotifyOpen", NULL, inotify_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"inotifyWatch", NULL, inotify_watch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"inotifyUnwatch", NULL, inotify_unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"inotifyRead", NULL, inotify_read, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

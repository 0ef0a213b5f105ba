/*
 * ferry's native piece: the few system calls Node cannot make, as one Node-API addon (ABI-stable
 * across Node versions: built once per architecture, it loads in Node 20 from source and in the
 * Node 24 of the single executable). Only functions of glibc 2.17 or older are called, so the
 * addon asks no more of a node's C library than the executable itself does.
 *
 *   setChildSubreaper()     prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of the run re-parent to ferry,
 *                           however they detach (setsid, double fork), instead of to init
 *   isChildSubreaper()      prctl(PR_GET_CHILD_SUBREAPER)
 *   reap(pid)               waitpid(pid, WNOHANG) for a process libuv did not spawn (an adopted
 *                           orphan): its pid once reaped, 0 while it runs, -errno on failure
 *   trimMemory()            malloc_trim(0): free pages inside malloc's arenas go back to the system
 *                           (glibc keeps what a burst of buffers and the inflate threads left behind)
 *   quickAck(fd)            setsockopt(fd, TCP_QUICKACK, 1) after a request is written: the answer's first
 *                           segment is acknowledged at once, so a server whose Nagle holds the rest of
 *                           its answer for that acknowledgement does not wait out the delayed ACK
 *                           (Ceph RGW's beast: 44 ms per answer with a body, 1 ms with it)
 *   gssCredential(), gssContext(service), gssStep(ctx, token)
 *                           GSSAPI for Negotiate at a proxy, in gss.c (the library is opened at first use)
 *   inotifyOpen(), inotifyWatch(fd, path), inotifyUnwatch(fd, wd), inotifyRead(fd)
 *                           the run directory's folders watched for entries created, in inotify.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <node_api.h>

void ferry_register_gss(napi_env env, napi_value exports);     /* gss.c */
void ferry_register_inotify(napi_env env, napi_value exports); /* inotify.c */

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value set_child_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  if (prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL) != 0) return throw_errno(env, "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

static napi_value is_child_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  int on = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, (unsigned long)&on, 0UL, 0UL, 0UL) != 0)
    return throw_errno(env, "prctl(PR_GET_CHILD_SUBREAPER)", errno);
  napi_value out;
  napi_get_boolean(env, on != 0, &out);
  return out;
}

static napi_value reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t pid = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, NULL, "reap(pid): pid must be a positive integer");
    return NULL;
  }
  int status = 0;
  pid_t r = waitpid((pid_t)pid, &status, WNOHANG);
  napi_value out;
  napi_create_int32(env, r < 0 ? -errno : (int32_t)r, &out);
  return out;
}

static napi_value trim_memory(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_get_boolean(env, malloc_trim(0) != 0, &out);
  return out;
}

static napi_value quick_ack(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) fd = -1;
  int one = 1;
  napi_value out;
  napi_get_boolean(env, fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one) == 0, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"setChildSubreaper", NULL, set_child_subreaper, NULL, NULL, NULL, napi_enumerable, NULL},
    {"isChildSubreaper", NULL, is_child_subreaper, NULL, NULL, NULL, napi_enumerable, NULL},
    {"reap", NULL, reap, NULL, NULL, NULL, napi_enumerable, NULL},
    {"trimMemory", NULL, trim_memory, NULL, NULL, NULL, napi_enumerable, NULL},
    {"quickAck", NULL, quick_ack, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  ferry_register_gss(env, exports);
  ferry_register_inotify(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

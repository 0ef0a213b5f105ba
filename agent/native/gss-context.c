/*
 * A GSSAPI security context towards one proxy (Negotiate, SPNEGO over Kerberos): the target's
 * host-based name, the user's credential, and the steps of gss_init_sec_context, each on the thread
 * pool (a step may ask the KDC for a service ticket: the event loop does not wait for it).
 */
#include <stdlib.h>
#include <string.h>
#include "gss.h"

/* One security context towards a proxy: its target name, the user's credential, the GSS context. */
struct gss_ctx {
  gss_name_t target;
  gss_cred_id_t cred;
  gss_ctx_id_t ctx;
  int busy; /* a step is on the thread pool: a context is never used by two threads at once */
};

static void finalize_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct gss_ctx *c = data;
  OM_uint32 m;
  if (c->ctx) ferry_gss.delete_sec_context(&m, &c->ctx, NULL);
  if (c->cred) ferry_gss.release_cred(&m, &c->cred);
  if (c->target) ferry_gss.release_name(&m, &c->target);
  free(c);
}

napi_value ferry_gss_context(napi_env env, napi_callback_info info) {
  size_t argc = 1, len = 0;
  napi_value argv[1], out;
  char service[512];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], service, sizeof service, &len) != napi_ok || !len) {
    napi_throw_type_error(env, NULL, "gssContext(service): service must be a string like HTTP@host");
    return NULL;
  }
  if (ferry_gss_load() < 0) return ferry_gss_unavailable(env);
  struct gss_ctx *c = calloc(1, sizeof *c);
  if (!c) {
    napi_throw_error(env, NULL, "gssContext: out of memory");
    return NULL;
  }
  OM_uint32 minor = 0, major;
  gss_buffer_desc name = {len, service};
  major = ferry_gss.import_name(&minor, &name, &ferry_nt_hostbased, &c->target);
  if (!GSS_ERROR(major)) major = ferry_gss_acquire(&minor, &ferry_spnego, &c->cred);
  if (GSS_ERROR(major)) {
    finalize_context(env, c, NULL);
    return ferry_gss_throw(env, major, minor);
  }
  napi_create_external(env, c, finalize_context, NULL, &out);
  return out;
}

/* One gssStep in flight: its input (copied), its output, and the promise it settles. */
struct step {
  struct gss_ctx *c;
  napi_ref keep; /* the context's external, alive until the step completes */
  napi_deferred deferred;
  napi_async_work work;
  void *in;
  size_t in_len;
  void *out;
  size_t out_len;
  OM_uint32 major, minor;
};

/* On the thread pool: gss_init_sec_context may ask the KDC for a service ticket. */
static void step_execute(napi_env env, void *data) {
  (void)env;
  struct step *s = data;
  gss_buffer_desc in = {s->in_len, s->in}, out = {0, NULL};
  OM_uint32 flags = GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG | GSS_C_SEQUENCE_FLAG, m;
  s->major = ferry_gss.init_sec_context(&s->minor, s->c->cred, &s->c->ctx, s->c->target, &ferry_spnego, flags, 0, NULL,
                                  s->in ? &in : NULL, NULL, &out, NULL, NULL);
  if (out.length && (s->out = malloc(out.length))) {
    memcpy(s->out, out.value, out.length);
    s->out_len = out.length;
  }
  if (out.value) ferry_gss.release_buffer(&m, &out);
}

static void step_complete(napi_env env, napi_status status, void *data) {
  struct step *s = data;
  napi_value result, v;
  s->c->busy = 0;
  if (status != napi_ok) {
    napi_create_string_utf8(env, "gssStep was cancelled", NAPI_AUTO_LENGTH, &v);
    napi_create_error(env, NULL, v, &result);
    napi_reject_deferred(env, s->deferred, result);
  } else if (GSS_ERROR(s->major)) {
    napi_reject_deferred(env, s->deferred, ferry_gss_error(env, s->major, s->minor));
  } else {
    napi_create_object(env, &result);
    if (s->out_len) napi_create_buffer_copy(env, s->out_len, s->out, NULL, &v);
    else napi_get_null(env, &v);
    napi_set_named_property(env, result, "token", v);
    napi_get_boolean(env, !(s->major & GSS_S_CONTINUE_NEEDED), &v);
    napi_set_named_property(env, result, "complete", v);
    napi_resolve_deferred(env, s->deferred, result);
  }
  napi_delete_reference(env, s->keep);
  napi_delete_async_work(env, s->work);
  free(s->in);
  free(s->out);
  free(s);
}

/* gssStep(ctx, token|null): copies the token, queues gss_init_sec_context, returns its promise. */
napi_value ferry_gss_step(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise, name;
  napi_valuetype t = napi_undefined;
  struct gss_ctx *c = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&c) != napi_ok || !c) {
    napi_throw_type_error(env, NULL, "gssStep(ctx, token): ctx must come from gssContext()");
    return NULL;
  }
  if (c->busy) {
    napi_throw_error(env, NULL, "gssStep: a step of this context is still under way");
    return NULL;
  }
  struct step *s = calloc(1, sizeof *s);
  if (!s) {
    napi_throw_error(env, NULL, "gssStep: out of memory");
    return NULL;
  }
  s->c = c;
  if (argc > 1) napi_typeof(env, argv[1], &t);
  if (t == napi_object) {
    void *data = NULL;
    size_t len = 0;
    if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || !(s->in = malloc(len ? len : 1))) {
      free(s);
      napi_throw_type_error(env, NULL, "gssStep(ctx, token): token must be a Buffer or null");
      return NULL;
    }
    memcpy(s->in, data, len);
    s->in_len = len;
  }
  napi_create_reference(env, argv[0], 1, &s->keep);
  napi_create_promise(env, &s->deferred, &promise);
  napi_create_string_utf8(env, "ferry:gssStep", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, step_execute, step_complete, s, &s->work);
  c->busy = 1;
  napi_queue_async_work(env, s->work);
  return promise;
}

/*
 * GSSAPI for Negotiate (SPNEGO/Kerberos) at a proxy: the system's MIT libgssapi_krb5, opened with
 * dlopen at first use, never linked. A node without the library still loads the addon (every other
 * scheme works there) and is told which library is missing; the addon cross-compiles without the
 * target's krb5 (the few GSSAPI types and OIDs of RFC 2744 are declared here, as MIT lays them out).
 *
 *   gssCredential()            the user's initiator credential (KRB5CCNAME, the default cache, KCM…):
 *                              {principal, lifetime}; throws a GssError when there is none
 *   gssCache()                 the default ticket cache's name and principal, for messages (libkrb5)
 *   gssContext(service), gssStep(ctx, token|null)   the handshake, in gss-context.c
 *
 * Errors are Error objects with `gss: true`, `major`, `minor` and the library's own words; a missing
 * library is an Error with code 'ENOGSSAPI' and dlerror()'s words.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gss.h"

/* Bind dlopen/dlsym/dlerror to their oldest versions: the executable needs glibc 2.28 at most, and
 * Debian 12's defaults are GLIBC_2.34 (test/unit/native.test.ts checks the addon with objdump -T). */
#if defined(__x86_64__)
__asm__(".symver dlopen,dlopen@GLIBC_2.2.5");
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dlerror,dlerror@GLIBC_2.2.5");
#elif defined(__aarch64__)
__asm__(".symver dlopen,dlopen@GLIBC_2.17");
__asm__(".symver dlsym,dlsym@GLIBC_2.17");
__asm__(".symver dlerror,dlerror@GLIBC_2.17");
#endif

struct ferry_gss ferry_gss;
/* 1.2.840.113554.1.2.1.4 (GSS_C_NT_HOSTBASED_SERVICE) and 1.3.6.1.5.5.2 (SPNEGO, as curl asks). */
gss_OID_desc ferry_nt_hostbased = {10, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04"};
gss_OID_desc ferry_spnego = {6, "\x2b\x06\x01\x05\x05\x02"};
/* 1.2.840.113554.1.2.2 (Kerberos 5): asked for the user's credential, whose errors say more than SPNEGO's. */
static gss_OID_desc krb5 = {9, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};

/* libkrb5.so.3 (what libgssapi_krb5 stands on): the ticket cache's name and principal, which GSSAPI
 * does not tell once the ticket has expired. */
typedef int32_t krb5_error_code;
typedef void *krb5_context, *krb5_ccache, *krb5_principal;
static struct {
  krb5_error_code (*init_context)(krb5_context *);
  void (*free_context)(krb5_context);
  krb5_error_code (*cc_default)(krb5_context, krb5_ccache *);
  const char *(*cc_get_type)(krb5_context, krb5_ccache);
  const char *(*cc_get_name)(krb5_context, krb5_ccache);
  krb5_error_code (*cc_get_principal)(krb5_context, krb5_ccache, krb5_principal *);
  krb5_error_code (*unparse_name)(krb5_context, krb5_principal, char **);
  void (*free_unparsed_name)(krb5_context, char *);
  void (*free_principal)(krb5_context, krb5_principal);
  krb5_error_code (*cc_close)(krb5_context, krb5_ccache);
  const char *(*get_error_message)(krb5_context, krb5_error_code);
  void (*free_error_message)(krb5_context, const char *);
} k5;

static int loaded; /* 0 not tried, 1 ready, -1 failed (load_error says why) */
static char load_error[400];

struct sym { const char *name; void **slot; };

/** dlopen + dlsym of every name, or 0 with load_error set. */
static int open_lib(const char *lib, const struct sym *syms, size_t n) {
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(load_error, sizeof load_error, "%s", dlerror());
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (!(*syms[i].slot = dlsym(h, syms[i].name))) {
      snprintf(load_error, sizeof load_error, "%s has no %s", lib, syms[i].name);
      return 0;
    }
  }
  return 1;
}

#define G(n) {"gss_" #n, (void **)&ferry_gss.n}
#define K(n) {"krb5_" #n, (void **)&k5.n}

int ferry_gss_load(void) {
  if (loaded) return loaded;
  const struct sym g[] = {G(import_name),  G(release_name),     G(display_name),       G(acquire_cred),
                          G(inquire_cred), G(release_cred),     G(init_sec_context),   G(delete_sec_context),
                          G(release_buffer), G(display_status)};
  const struct sym k[] = {K(init_context),  K(free_context),       K(cc_default),       K(cc_get_type),
                          K(cc_get_name),   K(cc_get_principal),   K(unparse_name),     K(free_unparsed_name),
                          K(free_principal), K(cc_close),          K(get_error_message), K(free_error_message)};
  int ok = open_lib("libgssapi_krb5.so.2", g, sizeof g / sizeof g[0]) &&
           open_lib("libkrb5.so.3", k, sizeof k / sizeof k[0]);
  return loaded = ok ? 1 : -1;
}

napi_value ferry_gss_unavailable(napi_env env) {
  napi_value msg, err, code;
  napi_create_string_utf8(env, load_error, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, "ENOGSSAPI", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &err);
  napi_throw(env, err);
  return NULL;
}

/** Appends the library's words for one status code to `out` (messages of one code joined by "; "). */
static size_t words(OM_uint32 code, int type, char *out, size_t used, size_t size) {
  OM_uint32 more = 0, m;
  do {
    gss_buffer_desc b = {0, NULL};
    if (GSS_ERROR(ferry_gss.display_status(&m, code, type, NULL, &more, &b))) break;
    const char *sep = used ? "; " : "";
    int n = snprintf(out + used, size - used, "%s%.*s", sep, (int)b.length, (const char *)b.value);
    ferry_gss.release_buffer(&m, &b);
    if (n < 0) break;
    used = used + (size_t)n < size ? used + (size_t)n : size - 1;
  } while (more);
  return used;
}

/** An Error whose message is "major words (minor words)", with `detail` the minor words alone (the mechanism's,
 * e.g. "No Kerberos credentials available (default cache: FILE:/tmp/krb5cc_0)"), and gss, major, minor. */
napi_value ferry_gss_error(napi_env env, OM_uint32 major, OM_uint32 minor) {
  char text[600] = "", detail[400] = "";
  size_t used = words(major, GSS_C_GSS_CODE, text, 0, sizeof text);
  if (minor) words(minor, GSS_C_MECH_CODE, detail, 0, sizeof detail);
  if (*detail) snprintf(text + used, sizeof text - used, " (%s)", detail);
  napi_value msg, err, v;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &err);
  napi_create_string_utf8(env, *detail ? detail : text, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "detail", v);
  napi_get_boolean(env, 1, &v);
  napi_set_named_property(env, err, "gss", v);
  napi_create_uint32(env, major, &v);
  napi_set_named_property(env, err, "major", v);
  napi_create_uint32(env, minor, &v);
  napi_set_named_property(env, err, "minor", v);
  return err;
}

napi_value ferry_gss_throw(napi_env env, OM_uint32 major, OM_uint32 minor) {
  napi_throw(env, ferry_gss_error(env, major, minor));
  return NULL;
}

OM_uint32 ferry_gss_acquire(OM_uint32 *minor, gss_OID mech, gss_cred_id_t *cred) {
  gss_OID_set_desc mechs = {1, mech};
  return ferry_gss.acquire_cred(minor, NULL, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE, cred, NULL, NULL);
}

static napi_value credential(napi_env env, napi_callback_info info) {
  (void)info;
  if (ferry_gss_load() < 0) return ferry_gss_unavailable(env);
  OM_uint32 major, minor, m, lifetime = 0;
  gss_cred_id_t cred = NULL;
  gss_name_t name = NULL;
  major = ferry_gss_acquire(&minor, &krb5, &cred);
  if (!GSS_ERROR(major)) major = ferry_gss.inquire_cred(&minor, cred, &name, &lifetime, NULL, NULL);
  gss_buffer_desc shown = {0, NULL};
  if (!GSS_ERROR(major)) major = ferry_gss.display_name(&minor, name, &shown, NULL);
  if (name) ferry_gss.release_name(&m, &name);
  if (cred) ferry_gss.release_cred(&m, &cred);
  if (GSS_ERROR(major)) return ferry_gss_throw(env, major, minor);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, (const char *)shown.value, shown.length, &v);
  napi_set_named_property(env, out, "principal", v);
  ferry_gss.release_buffer(&m, &shown);
  napi_create_double(env, lifetime == GSS_C_INDEFINITE ? -1 : (double)lifetime, &v);
  napi_set_named_property(env, out, "lifetime", v);
  return out;
}

/* gssCache(): {cache: "FILE:/tmp/krb5cc_0", principal|null, error|null}, without asking for a ticket. */
static napi_value cache(napi_env env, napi_callback_info info) {
  (void)info;
  if (ferry_gss_load() < 0) return ferry_gss_unavailable(env);
  krb5_context k = NULL;
  krb5_ccache cc = NULL;
  krb5_principal p = NULL;
  char *name = NULL, where[600] = "";
  napi_value out, v;
  napi_create_object(env, &out);
  krb5_error_code code = k5.init_context(&k);
  if (!code) code = k5.cc_default(k, &cc);
  if (!code) snprintf(where, sizeof where, "%s:%s", k5.cc_get_type(k, cc), k5.cc_get_name(k, cc));
  if (!code) code = k5.cc_get_principal(k, cc, &p);
  if (!code) code = k5.unparse_name(k, p, &name);
  napi_create_string_utf8(env, where, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "cache", v);
  if (name) napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  else napi_get_null(env, &v);
  napi_set_named_property(env, out, "principal", v);
  if (code && k) {
    const char *m = k5.get_error_message(k, code);
    napi_create_string_utf8(env, m, NAPI_AUTO_LENGTH, &v);
    k5.free_error_message(k, m);
  } else napi_get_null(env, &v);
  napi_set_named_property(env, out, "error", v);
  if (name) k5.free_unparsed_name(k, name);
  if (p) k5.free_principal(k, p);
  if (cc) k5.cc_close(k, cc);
  if (k) k5.free_context(k);
  return out;
}

/* Called from the module's init (ferry-native.c). */
void ferry_register_gss(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"gssCredential", NULL, credential, NULL, NULL, NULL, napi_enumerable, NULL},
    {"gssCache", NULL, cache, NULL, NULL, NULL, napi_enumerable, NULL},
    {"gssContext", NULL, ferry_gss_context, NULL, NULL, NULL, napi_enumerable, NULL},
    {"gssStep", NULL, ferry_gss_step, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

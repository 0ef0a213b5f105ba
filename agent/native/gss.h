/*
 * What gss.c and gss-context.c share: the few GSSAPI types and constants of RFC 2744 as MIT lays
 * them out (declared here, so the addon builds without krb5's headers, for any architecture), the
 * table of functions found in libgssapi_krb5.so.2 by dlsym, and the error helpers.
 */
#ifndef FERRY_GSS_H
#define FERRY_GSS_H
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

typedef uint32_t OM_uint32;
typedef struct { OM_uint32 length; void *elements; } gss_OID_desc, *gss_OID;
typedef struct { size_t count; gss_OID elements; } gss_OID_set_desc, *gss_OID_set;
typedef struct { size_t length; void *value; } gss_buffer_desc, *gss_buffer_t;
typedef void *gss_name_t, *gss_ctx_id_t, *gss_cred_id_t, *gss_channel_bindings_t;

#define GSS_C_INDEFINITE 0xffffffffu
#define GSS_C_INITIATE 1
#define GSS_C_MUTUAL_FLAG 2
#define GSS_C_REPLAY_FLAG 4
#define GSS_C_SEQUENCE_FLAG 8
#define GSS_C_GSS_CODE 1
#define GSS_C_MECH_CODE 2
#define GSS_S_CONTINUE_NEEDED 1u
#define GSS_ERROR(x) ((x) & 0xffff0000u)

struct ferry_gss {
  OM_uint32 (*import_name)(OM_uint32 *, gss_buffer_t, gss_OID, gss_name_t *);
  OM_uint32 (*release_name)(OM_uint32 *, gss_name_t *);
  OM_uint32 (*display_name)(OM_uint32 *, gss_name_t, gss_buffer_t, gss_OID *);
  OM_uint32 (*acquire_cred)(OM_uint32 *, gss_name_t, OM_uint32, gss_OID_set, int, gss_cred_id_t *, gss_OID_set *,
                            OM_uint32 *);
  OM_uint32 (*inquire_cred)(OM_uint32 *, gss_cred_id_t, gss_name_t *, OM_uint32 *, int *, gss_OID_set *);
  OM_uint32 (*release_cred)(OM_uint32 *, gss_cred_id_t *);
  OM_uint32 (*init_sec_context)(OM_uint32 *, gss_cred_id_t, gss_ctx_id_t *, gss_name_t, gss_OID, OM_uint32,
                                OM_uint32, gss_channel_bindings_t, gss_buffer_t, gss_OID *, gss_buffer_t,
                                OM_uint32 *, OM_uint32 *);
  OM_uint32 (*delete_sec_context)(OM_uint32 *, gss_ctx_id_t *, gss_buffer_t);
  OM_uint32 (*release_buffer)(OM_uint32 *, gss_buffer_t);
  OM_uint32 (*display_status)(OM_uint32 *, OM_uint32, int, gss_OID, OM_uint32 *, gss_buffer_t);
};

extern struct ferry_gss ferry_gss;
extern gss_OID_desc ferry_spnego, ferry_nt_hostbased;

/** Opens the library at first use (main thread): 1 ready, -1 not there (ferry_gss_unavailable says why). */
int ferry_gss_load(void);
/** Throws the Error of a missing library (code ENOGSSAPI, dlerror()'s words); returns NULL. */
napi_value ferry_gss_unavailable(napi_env env);
/** An Error with the library's words for a status, and gss: true, major, minor. */
napi_value ferry_gss_error(napi_env env, OM_uint32 major, OM_uint32 minor);
/** Throws ferry_gss_error(); returns NULL. */
napi_value ferry_gss_throw(napi_env env, OM_uint32 major, OM_uint32 minor);
/** Acquires the user's initiator credential for `mech` (the default cache: KRB5CCNAME, KCM, …). */
OM_uint32 ferry_gss_acquire(OM_uint32 *minor, gss_OID mech, gss_cred_id_t *cred);

napi_value ferry_gss_context(napi_env env, napi_callback_info info);
napi_value ferry_gss_step(napi_env env, napi_callback_info info);

#endif

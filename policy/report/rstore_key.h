/*
 * rstore_key.h - the report store's column text (rstore_key.c): the
 * encoding of a row's strings, its lists of reasons and DKIM results, the
 * names of its enums, and the hash of its key.  Internal to
 * policy/report/rstore*.c.
 * Ownership: functions that return char * return a new string the caller
 * frees; the decoders return NULL (or false) on malformed text.
 */
#ifndef MXG_RSTORE_KEY_H
#define MXG_RSTORE_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include <nettle/sha2.h>

#include "dmarcrow.h"
#include "strbuf.h"

#define RSTORE_KEY_HEX (SHA256_DIGEST_SIZE * 2 + 1) /* a key hash in hex, with its NUL */

/* s (NULL: "") encoded onto b: bytes outside printable ASCII and "%;,=|" as %XX. */
void rstore_key_enc(strbuf *b, const char *s);
char *rstore_key_enc_new(const char *s);
/* n bytes of encoded text decoded: a new string, NULL if malformed. */
char *rstore_key_dec(const char *s, size_t n);

/* An enum value from its name (as dmarccheck/dmarcrow/spfcheck name it). */
bool rstore_key_policy(const char *s, dmarccheck_policy *out);
bool rstore_key_disp(const char *s, dmarcrow_disposition *out);
bool rstore_key_spf(const char *s, spfcheck_result *out);

/* The reasons column "type[=comment];..." and the DKIM column
 * "domain,selector,result;...", and back into r (appended). */
char *rstore_key_reasons_text(const dmarcrow *r);
char *rstore_key_dkim_text(const dmarcrow *r);
bool rstore_key_reasons_parse(const char *s, dmarcrow *r);
bool rstore_key_dkim_parse(const char *s, dmarcrow *r);

/* The SHA-256 (lowercase hex) of r's key: equal keys (dmarcrow_key_equal),
 * equal hashes. */
void rstore_key_hash(const dmarcrow *r, char out[RSTORE_KEY_HEX]);

#endif

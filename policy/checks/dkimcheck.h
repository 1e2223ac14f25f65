/*
 * dkimcheck.h - DKIM (RFC 6376, RFC 8463) verification with libopendkim,
 * streamed, its key lookups through mxguard's one DNS layer.
 *
 * A dkimcheck_lib belongs to a config snapshot (one DKIM_LIB with our
 * options and key-lookup hook, over the snapshot's dns_t); a dkimcheck_t is
 * one message: headers, end of headers, body chunks as they come (no copy
 * of the body is kept), end of message.  Every DKIM-Signature gets its own
 * result; up to max_signatures are verified, the rest are "policy".
 *
 * Results (RFC 8601 2.7.1 keywords):
 *   pass       signature and body hash verified (possibly only l= octets)
 *   fail       signature or body hash did not verify
 *   neutral    the signature header is malformed (syntax, missing tags)
 *   policy     verifiable, but not acceptable here: key below min_key_bits,
 *              a required header not signed, beyond max_signatures
 *   temperror  the key lookup timed out or the server failed
 *   permerror  no key (NXDOMAIN/no TXT), revoked key (empty p=), bad key
 *              record, expired x=, t= in the future beyond clock_skew
 *
 * SECURITY: the message and the key records are hostile input.  libopendkim
 * parses them; every string taken from a signature is copied with a length
 * bound and handed on as data (A-R and the decision line quote it).
 * Work per message is bounded by max_signatures (key lookups, hashes, RSA).
 */
#ifndef MXG_DKIMCHECK_H
#define MXG_DKIMCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"

typedef enum dkimcheck_result {
    DKIMCHECK_UNSET = 0, /* not evaluated */
    DKIMCHECK_NONE,      /* aggregate only: the message has no signature */
    DKIMCHECK_PASS,
    DKIMCHECK_FAIL,
    DKIMCHECK_POLICY,
    DKIMCHECK_NEUTRAL,
    DKIMCHECK_TEMPERROR,
    DKIMCHECK_PERMERROR,
} dkimcheck_result;

/* "none", "pass", ... (RFC 8601 keywords); "unset" for UNSET. */
const char *dkimcheck_result_name(dkimcheck_result r);
/* Parse a result name (case-insensitive); "unset" is not accepted. */
bool dkimcheck_result_parse(const char *name, dkimcheck_result *out);

/* One signature's result.  Strings are owned (dkimcheck_sigs_free). */
typedef struct dkimcheck_sig {
    dkimcheck_result result;
    char *domain;     /* d=, or NULL when missing */
    char *identity;   /* i= (default "@" d=), or NULL */
    char *selector;   /* s=, or NULL */
    char *algorithm;  /* a=, or NULL */
    char *b;          /* first 8 characters of b=, or NULL */
    const char *reason; /* static text: why not pass, NULL on full pass */
    unsigned keybits; /* size of the key (0 if not loaded) */
    bool partial;     /* pass, but l= covers less than the body */
} dkimcheck_sig;

void dkimcheck_sigs_free(dkimcheck_sig *sigs, size_t n);

/* The message's result over its signatures: none if there are none; pass if
 * any passed; otherwise the first present of temperror, fail, policy,
 * permerror, neutral (a retry may pass, then a real failure, then ours). */
dkimcheck_result dkimcheck_aggregate(const dkimcheck_sig *sigs, size_t n);

/* The defaults of the options below (and of the dkim settings of the config). */
#define DKIMCHECK_DEFAULT_MIN_KEY_BITS 1024u
#define DKIMCHECK_DEFAULT_MAX_SIGNATURES 5u

typedef struct dkimcheck_options {
    unsigned min_key_bits;   /* smaller RSA keys give policy; 0 means the default */
    unsigned max_signatures; /* verified per message; 0 means the default */
    unsigned clock_skew;     /* seconds allowed for t= in the future */
    /* header names (lower or mixed case) a signature must cover to count;
     * NULL-terminated, or NULL for none.  Copied. */
    const char *const *required_headers;
} dkimcheck_options;

typedef struct dkimcheck_lib dkimcheck_lib;
typedef struct dkimcheck dkimcheck_t;

/* A library handle over dns (borrowed: it must outlive the handle).  NULL
 * with a reason in err when libopendkim cannot be set up. */
dkimcheck_lib *dkimcheck_lib_new(dns_t *dns, const dkimcheck_options *opt, char *err, size_t errlen);
void dkimcheck_lib_free(dkimcheck_lib *lib);

/* A new message; id names it in logs (queue id or NULL).  Never NULL. */
dkimcheck_t *dkimcheck_new(dkimcheck_lib *lib, const char *id);
/* One header field: name, and the value exactly as in the message after
 * the colon (leading white space included; folds as CRLF or LF). */
/* The id for log lines, when the queue id becomes known after the start. */
void dkimcheck_set_id(dkimcheck_t *d, const char *id);
void dkimcheck_header(dkimcheck_t *d, const char *name, const char *value);
void dkimcheck_eoh(dkimcheck_t *d);
/* A body chunk (CRLF line ends, as the MTA gives it). */
void dkimcheck_body(dkimcheck_t *d, const unsigned char *chunk, size_t len);
/* Does the verifier still want body chunks?  False when the message has no
 * signature to verify (or after eom). */
bool dkimcheck_wants_body(const dkimcheck_t *d);
/* Finish: verify every signature, store one result each in a new array
 * (*sigs, *nsigs; caller frees with dkimcheck_sigs_free) and return the
 * aggregate.  Key lookups run in parallel, each bounded by the DNS timeout. */
dkimcheck_result dkimcheck_eom(dkimcheck_t *d, dkimcheck_sig **sigs, size_t *nsigs);
void dkimcheck_free(dkimcheck_t *d);

#endif

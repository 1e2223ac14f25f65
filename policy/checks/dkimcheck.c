/*
 * dkimcheck.c - DKIM verification with libopendkim over mxguard's dns_t.
 *
 * libopendkim parses signatures and keys, canonicalizes and hashes the
 * message as it streams by, and checks RSA/Ed25519 signatures.  Its key
 * lookups go through dkim_set_key_lookup(): our hook asks dns_t for the TXT
 * record and hands libopendkim the record text, so no second resolver ever
 * runs (libopendkim's own DNS hooks are set to refuse, belt and braces).
 * The hook remembers what DNS said for each key name, so that a timeout
 * (temperror) is never confused with a missing key (permerror), whatever
 * libopendkim makes of the lookup failure.
 *
 * The body hash is ours (bodyhash.c) when every signature libopendkim will
 * check is rsa-sha256 or ed25519-sha256 with simple or relaxed body
 * canonicalization and no l= (all the signatures seen in practice): then
 * libopendkim gets no body at all, verifies each signature over the
 * headers as always, and finds the body hash wrong (it hashed an empty
 * body) after the header signature passed; dk_sig_result() then takes our
 * comparison of bh= instead.  libopendkim's canonicalization goes byte by
 * byte through growing strings and was a fifth of mxguard's CPU time per
 * message (README, Benchmarks).  Anything else (l=, conditional
 * signatures) takes libopendkim's own body path, unchanged.
 *
 * rsa-sha1 signatures are never valid (RFC 8301 3.1), but libopendkim
 * passes them.  Its prescreen hook marks them ignored at end of headers, so
 * they cost no key lookup, no hash and no RSA operation, and cannot turn
 * into temperror through their key's DNS; each is reported as policy.
 *
 * Signature processing is delayed to end of message (DELAYSIGPROC): then
 * all key queries are started at once through dns_start() and each lookup
 * waits only for its own answer, bounded by the DNS timeout.
 *
 * Bounds: only the first max_signatures DKIM-Signature fields reach
 * libopendkim (each costs a canonicalization, a body hash and a public-key
 * operation); later ones are reported as policy with their d= and s= read
 * by a bounded tag scan.  The body is never stored: libopendkim hashes each
 * chunk (no temp files).  Strings copied out of a signature are cut at
 * DK_STR_MAX bytes.
 *
 * SECURITY: headers, body and key records are hostile input: libopendkim
 * parses them; key records are length-checked before they reach it; every
 * string taken from a signature is handed on only as data to be quoted.
 * Two memory errors of libopendkim 2.11.0~beta2 (Debian 12) are kept from
 * being reached (found by fuzz_dkim, tests/fuzz/findings/README):
 * dkim_canon_selecthdrs() writes 8 bytes past its table of selected fields
 * when h= names every field of the message and one name more, which a
 * field no h= can name (DK_SENTINEL) makes impossible; dkim_qp_decode()
 * reads past an i= value that ends in "=" or "=X" and leaves an i= of more
 * than 256 octets unterminated on the stack, so such signature fields are
 * never handed to it (neutral, "malformed i= tag"), and no field reaches
 * it with a bare CR or LF (dkimsig_field), which would make it cut the end off
 * a signature's value after our check.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/types.h>

#include <opendkim/dkim.h>

#include "bodyhash.h"
#include "dkimcheck.h"
#include "dkimsig.h"
#include "dname.h"
#include "log.h"
#include "xalloc.h"

#define DK_STR_MAX DKIMSIG_STR_MAX
#define DK_B_PREFIX 8    /* characters of b= reported (RFC 6008) */
#define DK_TXT_MAX 4096  /* longest key record handed to libopendkim */
/* A field that no signature can select: libopendkim removes all white
 * space from h= before it splits it, so no h= entry ever equals a name
 * with a space inside.  Not selected, it takes no part in any hash. */
#define DK_SENTINEL "X-Mxguard Unselectable:"
#define DK_ID(d) ((d)->logid ? (d)->logid : (d)->id) /* for log lines */
#define DK_SHA1_REASON "rsa-sha1 not allowed by RFC 8301"

/* ---- result names ------------------------------------------------------ */

static const char *const dk_names[] = {
    [DKIMCHECK_UNSET] = "unset",       [DKIMCHECK_NONE] = "none",
    [DKIMCHECK_PASS] = "pass",         [DKIMCHECK_FAIL] = "fail",
    [DKIMCHECK_POLICY] = "policy",     [DKIMCHECK_NEUTRAL] = "neutral",
    [DKIMCHECK_TEMPERROR] = "temperror", [DKIMCHECK_PERMERROR] = "permerror",
};

const char *dkimcheck_result_name(dkimcheck_result r)
{
    return (unsigned)r < sizeof(dk_names) / sizeof(dk_names[0]) ? dk_names[r] : "unset";
}

bool dkimcheck_result_parse(const char *name, dkimcheck_result *out)
{
    for (int r = DKIMCHECK_NONE; r <= DKIMCHECK_PERMERROR; r++) {
        if (name && strcasecmp(name, dk_names[r]) == 0) {
            *out = (dkimcheck_result)r;
            return true;
        }
    }
    return false;
}

void dkimcheck_sigs_free(dkimcheck_sig *sigs, size_t n)
{
    for (size_t i = 0; sigs && i < n; i++) {
        free(sigs[i].domain);
        free(sigs[i].identity);
        free(sigs[i].selector);
        free(sigs[i].algorithm);
        free(sigs[i].b);
    }
    free(sigs);
}

dkimcheck_result dkimcheck_aggregate(const dkimcheck_sig *sigs, size_t n)
{
    static const dkimcheck_result order[] = {
        DKIMCHECK_PASS, DKIMCHECK_TEMPERROR, DKIMCHECK_FAIL,
        DKIMCHECK_POLICY, DKIMCHECK_PERMERROR, DKIMCHECK_NEUTRAL,
    };

    if (n == 0)
        return DKIMCHECK_NONE;
    for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
        for (size_t i = 0; i < n; i++)
            if (sigs[i].result == order[o])
                return order[o];
    return DKIMCHECK_NEUTRAL;
}

/* ---- the library handle ---------------------------------------------- */

struct dkimcheck_lib {
    DKIM_LIB *lib;
    dns_t *dns;              /* borrowed */
    unsigned min_key_bits;
    unsigned max_signatures;
    char **required;         /* lower-case header names */
    size_t nrequired;
};

/* One key query of a message, shared by signatures with the same name. */
/* Signature fields not handed to libopendkim (beyond max_signatures or
 * refused) listed in the results (and so in the A-R header); the rest are
 * only counted. */
#define DK_EXTRA_MAX 10

typedef struct dk_key {
    char *name;          /* selector._domainkey.domain */
    dns_query_t *q;      /* started, not yet waited for; NULL after */
    dns_status st;       /* after the wait */
    bool waited;
    bool bad;            /* answer unusable: not a single sane TXT string */
    bool bad_name;       /* s= or d= make no valid DNS name: never queried */
    dns_answer *a;
} dk_key;

/* A DKIM-Signature field not handed to libopendkim: beyond max_signatures
 * (policy) or refused (neutral); d= and s= from a bounded tag scan. */
typedef struct dk_extra {
    char *d;
    char *s;
    dkimcheck_result result;
    const char *reason;  /* static */
} dk_extra;

struct dkimcheck {
    dkimcheck_lib *lib;
    DKIM *dkim;          /* NULL when libopendkim refused the message */
    char *id;            /* handed to libopendkim, which keeps the pointer */
    char *logid;         /* the queue id learnt later, or NULL */
    bool nosig;          /* no signature to verify: no body wanted */
    bool eoh_failed;     /* libopendkim could not use the headers */
    bool done;
    size_t nsighdrs;     /* DKIM-Signature fields seen */
    dk_extra *extra;     /* fields not handed to libopendkim, listed */
    size_t nextra;
    dk_key *keys;
    size_t nkeys;
    /* our body hashes (see the top of the file), by body canonicalization */
    bool own_body;
    bodyhash_t *bh[2];
    uint8_t digest[2][BODYHASH_SIZE];
};

/* libopendkim must never query DNS on its own: every lookup is ours. */
static int dk_dns_refuse(void *srv, int type, unsigned char *query, unsigned char *buf, size_t buflen,
                         void **qh)
{
    (void)srv;
    (void)type;
    (void)buf;
    (void)buflen;
    (void)qh;
    log_error("dkim: libopendkim tried its own DNS query for %s: refused", (const char *)query);
    return DKIM_DNS_ERROR;
}

static dk_key *dk_key_find(dkimcheck_t *d, const char *name)
{
    for (size_t i = 0; i < d->nkeys; i++)
        if (strcasecmp(d->keys[i].name, name) == 0)
            return &d->keys[i];
    return NULL;
}

/* Find the query for name, starting it if needed (returns NULL only when
 * the name cannot be built). */
static dk_key *dk_key_start(dkimcheck_t *d, const char *selector, const char *domain)
{
    char name[1100];
    dk_key *k;

    if (selector == NULL || domain == NULL || *selector == '\0' || *domain == '\0')
        return NULL;
    if ((size_t)snprintf(name, sizeof(name), "%s._domainkey.%s", selector, domain) >= sizeof(name))
        return NULL;
    if ((k = dk_key_find(d, name)) != NULL)
        return k;
    d->keys = xreallocarray(d->keys, d->nkeys + 1, sizeof(dk_key));
    k = &d->keys[d->nkeys++];
    memset(k, 0, sizeof(*k));
    k->name = xstrdup(name);
    if (!dname_valid(name, strlen(name))) {
        /* A malformed s= or d= is the signer's error, not a DNS problem. */
        k->bad_name = k->waited = true;
        k->st = DNS_NXDOMAIN;
        return k;
    }
    k->q = dns_start(d->lib->dns, name, DNS_TYPE_TXT);
    return k;
}

static void dk_key_wait(dk_key *k)
{
    if (k->waited)
        return;
    k->st = dns_wait(k->q, &k->a);
    k->q = NULL;
    k->waited = true;
}

/* libopendkim's key lookup: the first TXT record of selector._domainkey.d,
 * its strings joined, as NUL-terminated text in buf.  Any failure is "not
 * found" to libopendkim; what really happened stays in the dk_key. */
static DKIM_CBSTAT dk_key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
    dkimcheck_t *d = dkim_get_user_context(dkim);
    dk_key *k;
    char *txt = NULL;
    size_t len = 0;

    if (d == NULL)
        return DKIM_CBSTAT_ERROR;
    k = dk_key_start(d, (const char *)dkim_sig_getselector(sig), (const char *)dkim_sig_getdomain(sig));
    if (k == NULL)
        return DKIM_CBSTAT_NOTFOUND;
    dk_key_wait(k);
    if (k->st != DNS_ANSWER || k->a == NULL || k->a->count == 0)
        return DKIM_CBSTAT_NOTFOUND;
    if (!dns_rdata_txt(k->a->rdata[0], k->a->rdlen[0], &txt, &len) || len == 0 || len >= buflen ||
        len > DK_TXT_MAX || memchr(txt, '\0', len) != NULL) {
        k->bad = true;
        free(txt);
        return DKIM_CBSTAT_NOTFOUND;
    }
    memcpy(buf, txt, len);
    buf[len] = '\0';
    free(txt);
    return DKIM_CBSTAT_CONTINUE;
}

/* Would libopendkim verify this signature (no error found in it yet)? */
static bool dk_sig_pending(DKIM_SIGINFO *sig)
{
    int err = dkim_sig_geterror(sig);

    return (dkim_sig_getflags(sig) & DKIM_SIGFLAG_IGNORE) == 0 &&
           (err == DKIM_SIGERROR_UNKNOWN || err == DKIM_SIGERROR_OK);
}

/* libopendkim's prescreen hook (at end of headers): every rsa-sha1
 * signature it would verify is ignored (see the top of the file). */
static DKIM_CBSTAT dk_prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
    (void)dkim;
    for (int i = 0; i < nsigs; i++) {
        dkim_alg_t alg;
        if (dk_sig_pending(sigs[i]) && dkim_sig_getsignalg(sigs[i], &alg) == DKIM_STAT_OK &&
            alg == DKIM_SIGN_RSASHA1)
            dkim_sig_ignore(sigs[i]);
    }
    return DKIM_CBSTAT_CONTINUE;
}

dkimcheck_lib *dkimcheck_lib_new(dns_t *dns, const dkimcheck_options *opt, char *err, size_t errlen)
{
    dkimcheck_lib *l;
    unsigned int flags = DKIM_LIBFLAGS_FIXCRLF | DKIM_LIBFLAGS_BADSIGHANDLES | DKIM_LIBFLAGS_DELAYSIGPROC;
    unsigned int bits;
    uint64_t drift;
    DKIM_STAT st;

    l = xcalloc(1, sizeof(*l));
    l->dns = dns;
    l->min_key_bits = opt && opt->min_key_bits ? opt->min_key_bits : DKIMCHECK_DEFAULT_MIN_KEY_BITS;
    l->max_signatures = opt && opt->max_signatures ? opt->max_signatures : DKIMCHECK_DEFAULT_MAX_SIGNATURES;
    for (size_t i = 0; opt && opt->required_headers && opt->required_headers[i]; i++) {
        char *h = xstrdup(opt->required_headers[i]);
        for (char *p = h; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        l->required = xreallocarray(l->required, l->nrequired + 1, sizeof(char *));
        l->required[l->nrequired++] = h;
    }
    l->lib = dkim_init(NULL, NULL);
    if (l->lib == NULL) {
        snprintf(err, errlen, "dkim_init failed");
        dkimcheck_lib_free(l);
        return NULL;
    }
    bits = l->min_key_bits;
    drift = opt ? opt->clock_skew : 0;
    st = dkim_options(l->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
    if (st == DKIM_STAT_OK)
        st = dkim_options(l->lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &bits, sizeof(bits));
    if (st == DKIM_STAT_OK)
        st = dkim_options(l->lib, DKIM_OP_SETOPT, DKIM_OPTS_CLOCKDRIFT, &drift, sizeof(drift));
    if (st == DKIM_STAT_OK)
        st = dkim_set_key_lookup(l->lib, dk_key_lookup);
    if (st == DKIM_STAT_OK)
        st = dkim_set_prescreen(l->lib, dk_prescreen);
    if (st != DKIM_STAT_OK) {
        snprintf(err, errlen, "cannot set libopendkim options: %s", dkim_getresultstr(st));
        dkimcheck_lib_free(l);
        return NULL;
    }
    dkim_dns_set_query_start(l->lib, dk_dns_refuse);
    return l;
}

void dkimcheck_lib_free(dkimcheck_lib *l)
{
    if (l == NULL)
        return;
    if (l->lib)
        dkim_close(l->lib);
    for (size_t i = 0; i < l->nrequired; i++)
        free(l->required[i]);
    free(l->required);
    free(l);
}

/* ---- one message ------------------------------------------------------- */

dkimcheck_t *dkimcheck_new(dkimcheck_lib *lib, const char *id)
{
    dkimcheck_t *d = xcalloc(1, sizeof(*d));
    DKIM_STAT st = DKIM_STAT_OK;

    d->lib = lib;
    d->id = xstrdup(id && *id ? id : "mxguard");
    d->dkim = dkim_verify(lib->lib, (const unsigned char *)d->id, NULL, &st);
    if (d->dkim == NULL) {
        log_error("dkim: %s: cannot start verification: %s", d->id, dkim_getresultstr(st));
        d->eoh_failed = true;
    } else {
        dkim_set_user_context(d->dkim, d);
    }
    return d;
}

/* List a signature field that libopendkim does not see (at most
 * DK_EXTRA_MAX; the rest are only counted). */
static void dk_extra_add(dkimcheck_t *d, const char *value, dkimcheck_result r, const char *reason)
{
    dk_extra *x;

    if (d->nextra >= DK_EXTRA_MAX)
        return;
    d->extra = xreallocarray(d->extra, d->nextra + 1, sizeof(dk_extra));
    x = &d->extra[d->nextra++];
    x->d = dkimsig_tag(value, 'd');
    x->s = dkimsig_tag(value, 's');
    x->result = r;
    x->reason = reason;
}

void dkimcheck_set_id(dkimcheck_t *d, const char *id)
{
    if (d == NULL || id == NULL || *id == '\0')
        return;
    /* libopendkim keeps the pointer it was given: d->id stays. */
    free(d->logid);
    d->logid = xstrdup(id);
}

void dkimcheck_header(dkimcheck_t *d, const char *name, const char *value)
{
    char *field;
    DKIM_STAT st;

    if (d->dkim == NULL || d->done)
        return;
    if (value == NULL)
        value = "";
    if (dkimsig_is_sig_name(name)) {
        if (d->nsighdrs++ >= d->lib->max_signatures) {
            /* Not verified: policy (bounded work per message). */
            dk_extra_add(d, value, DKIMCHECK_POLICY, "beyond max_signatures");
            return;
        }
        if (!dkimsig_i_ok(value)) {
            /* A syntax error of the signature (RFC 8601 neutral) that
             * libopendkim would read out of bounds on: never handed on. */
            log_info("dkim: %s: signature with a malformed i= tag not verified", DK_ID(d));
            dk_extra_add(d, value, DKIMCHECK_NEUTRAL, "malformed i= tag");
            return;
        }
    }
    field = dkimsig_field(name, value);
    st = dkim_header(d->dkim, (u_char *)field, strlen(field));
    if (st != DKIM_STAT_OK)
        log_warn("dkim: %s: header %.64s not taken: %s", DK_ID(d), name, dkim_getresultstr(st));
    free(field);
}

/* Can every signature libopendkim will check use our body hash?  Then
 * start the hashes they need (one per body canonicalization). */
static void dk_own_body_setup(dkimcheck_t *d)
{
    DKIM_SIGINFO **list = NULL;
    int nlist = 0;
    bool need[2] = {false, false};

    if (dkim_getsiglist(d->dkim, &list, &nlist) != DKIM_STAT_OK)
        return;
    for (int i = 0; i < nlist; i++) {
        dkim_alg_t alg;
        dkim_canon_t hc, bc;

        if (!dk_sig_pending(list[i]))
            continue; /* never processed: its body hash does not matter */
        if (dkim_sig_getsignalg(list[i], &alg) != DKIM_STAT_OK ||
            (alg != DKIM_SIGN_RSASHA256 && alg != DKIM_SIGN_ED25519SHA256) ||
            dkim_sig_getcanons(list[i], &hc, &bc) != DKIM_STAT_OK ||
            (bc != DKIM_CANON_SIMPLE && bc != DKIM_CANON_RELAXED) ||
            dkim_sig_gettagvalue(list[i], false, (u_char *)"l") != NULL ||
            dkim_sig_gettagvalue(list[i], false, (u_char *)"!cd") != NULL)
            return;
        need[bc == DKIM_CANON_RELAXED] = true;
    }
    d->own_body = true;
    for (int c = 0; c < 2; c++)
        if (need[c])
            d->bh[c] = bodyhash_new(c ? BODYHASH_RELAXED : BODYHASH_SIMPLE);
}

void dkimcheck_eoh(dkimcheck_t *d)
{
    char sentinel[] = DK_SENTINEL;
    DKIM_STAT st;

    if (d->dkim == NULL || d->done)
        return;
    /* Without it h= could select every field (see the top of the file). */
    st = dkim_header(d->dkim, (u_char *)sentinel, strlen(sentinel));
    if (st != DKIM_STAT_OK) {
        log_error("dkim: %s: libopendkim refused the sentinel field: %s", DK_ID(d), dkim_getresultstr(st));
        d->eoh_failed = true;
        return;
    }
    st = dkim_eoh(d->dkim);
    if (st == DKIM_STAT_NOSIG) {
        d->nosig = true;
    } else if (st == DKIM_STAT_OK) {
        dk_own_body_setup(d);
    } else {
        const char *why = dkim_geterror(d->dkim);
        log_info("dkim: %s: message not verifiable: %s%s%s", DK_ID(d), dkim_getresultstr(st),
                 why && *why ? ": " : "", why ? why : "");
        d->eoh_failed = true;
    }
}

bool dkimcheck_wants_body(const dkimcheck_t *d)
{
    return d->dkim != NULL && !d->nosig && !d->eoh_failed && !d->done;
}

void dkimcheck_body(dkimcheck_t *d, const unsigned char *chunk, size_t len)
{
    if (!dkimcheck_wants_body(d) || len == 0)
        return;
    if (d->own_body) {
        for (int c = 0; c < 2; c++)
            if (d->bh[c])
                bodyhash_update(d->bh[c], chunk, len);
        return;
    }
    /* A status other than OK ends hashing for good (e.g. all l= reached). */
    if (dkim_body(d->dkim, (u_char *)chunk, len) != DKIM_STAT_OK)
        return;
}

/* Copy a string out of a signature, bounded; NULL stays NULL. */
static char *dk_copy(const unsigned char *s)
{
    if (s == NULL || *s == '\0')
        return NULL;
    return xstrndup((const char *)s, DK_STR_MAX);
}

/* First DK_B_PREFIX characters of b= without folding white space. */
static char *dk_b_prefix(DKIM_SIGINFO *sig)
{
    const unsigned char *b = dkim_sig_gettagvalue(sig, false, (u_char *)"b");
    char out[DK_B_PREFIX + 1];
    size_t n = 0;

    for (size_t i = 0; b && b[i] && n < DK_B_PREFIX && i < 4096; i++)
        if (b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n')
            out[n++] = (char)b[i];
    out[n] = '\0';
    return n ? xstrdup(out) : NULL;
}

/* Result of a signature that libopendkim did not pass, from its error. */
static dkimcheck_result dk_error_result(int err, const char **reason)
{
    switch (err) {
    case DKIM_SIGERROR_BADSIG: *reason = "signature did not verify"; return DKIMCHECK_FAIL;
    case DKIM_SIGERROR_TOOLARGE_L: *reason = "l= exceeds the body"; return DKIMCHECK_FAIL;
    case DKIM_SIGERROR_KEYTOOSMALL: *reason = "key too small"; return DKIMCHECK_POLICY;
    case DKIM_SIGERROR_EXPIRED: *reason = "signature expired"; return DKIMCHECK_PERMERROR;
    case DKIM_SIGERROR_FUTURE: *reason = "signature in the future"; return DKIMCHECK_PERMERROR;
    case DKIM_SIGERROR_TIMESTAMPS: *reason = "x= before t="; return DKIMCHECK_PERMERROR;
    case DKIM_SIGERROR_NOKEY: *reason = "no key"; return DKIMCHECK_PERMERROR;
    case DKIM_SIGERROR_KEYFAIL: *reason = "key lookup failed"; return DKIMCHECK_TEMPERROR;
    case DKIM_SIGERROR_KEYREVOKED: *reason = "key revoked"; return DKIMCHECK_PERMERROR;
    case DKIM_SIGERROR_INVALID_H: *reason = "From not signed"; return DKIMCHECK_PERMERROR;
    case DKIM_SIGERROR_DNSSYNTAX:
    case DKIM_SIGERROR_MULTIREPLY:
    case DKIM_SIGERROR_KEYVERSION:
    case DKIM_SIGERROR_KEYUNKNOWNHASH:
    case DKIM_SIGERROR_KEYHASHMISMATCH:
    case DKIM_SIGERROR_NOTEMAILKEY:
    case DKIM_SIGERROR_KEYTYPEMISSING:
    case DKIM_SIGERROR_KEYTYPEUNKNOWN:
    case DKIM_SIGERROR_KEYDECODE:
        *reason = "bad key record";
        return DKIMCHECK_PERMERROR;
    default:
        *reason = "malformed signature";
        return DKIMCHECK_NEUTRAL;
    }
}

/* The signature's own fields (d=, s=, a=, b=, i=, key size) into out. */
static void dk_sig_fields(DKIM_SIGINFO *sig, dkimcheck_sig *out)
{
    const unsigned char *i = dkim_sig_gettagvalue(sig, false, (u_char *)"i");
    unsigned int bits = 0;

    out->domain = dk_copy(dkim_sig_getdomain(sig));
    out->selector = dk_copy(dkim_sig_getselector(sig));
    out->algorithm = dk_copy(dkim_sig_gettagvalue(sig, false, (u_char *)"a"));
    out->b = dk_b_prefix(sig);
    if (i && *i)
        out->identity = dk_copy(i);
    else if (out->domain)
        out->identity = xasprintf("@%s", out->domain);
    if (dkim_sig_getkeysize(sig, &bits) == DKIM_STAT_OK)
        out->keybits = bits;
}

/* A key problem that decides the result (set in out), from what DNS said
 * rather than libopendkim's reading; false when the key is not at fault. */
static bool dk_key_result(dkimcheck_t *d, dkimcheck_sig *out)
{
    dk_key *k = NULL;

    if (out->domain && out->selector) {
        char name[1100];
        snprintf(name, sizeof(name), "%s._domainkey.%s", out->selector, out->domain);
        k = dk_key_find(d, name);
    }
    if (k && k->bad_name) {
        out->result = DKIMCHECK_PERMERROR;
        out->reason = "bad selector or domain";
        return true;
    }
    if (k && k->waited && k->st != DNS_ANSWER) {
        if (k->st == DNS_NXDOMAIN || k->st == DNS_NODATA) {
            out->result = DKIMCHECK_PERMERROR;
            out->reason = "no key";
        } else {
            out->result = DKIMCHECK_TEMPERROR;
            out->reason = k->st == DNS_TIMEOUT ? "key lookup timed out" : "key lookup failed";
        }
        return true;
    }
    if (k && k->bad) {
        out->result = DKIMCHECK_PERMERROR;
        out->reason = "bad key record";
        return true;
    }
    return false;
}

/* Our body hash: libopendkim hashed an empty body, so after a good
 * header signature it found bh= wrong (BADSIG with MISMATCH) or, for
 * a body that is empty when canonicalized, right; either way ours
 * decides (*err, *bh).  A later error (t=s, ...) stands. */
static void dk_own_bh(const dkimcheck_t *d, DKIM_SIGINFO *sig, int *err, int *bh)
{
    dkim_canon_t hc, bc;
    int c = dkim_sig_getcanons(sig, &hc, &bc) == DKIM_STAT_OK && bc == DKIM_CANON_RELAXED;

    if (*err == DKIM_SIGERROR_BADSIG && *bh == DKIM_SIGBH_MISMATCH)
        *err = DKIM_SIGERROR_OK;
    *bh = d->bh[c] != NULL &&
                  bodyhash_matches(d->digest[c], (const char *)dkim_sig_gettagvalue(sig, false, (u_char *)"bh"))
              ? DKIM_SIGBH_MATCH
              : DKIM_SIGBH_MISMATCH;
}

/* A signature that verified (flags, body hash bh): pass, or policy when
 * our key size or signed-header requirements are not met. */
static void dk_verified_result(dkimcheck_t *d, DKIM_SIGINFO *sig, dkimcheck_sig *out)
{
    const dkimcheck_lib *l = d->lib;
    ssize_t msglen = -1, canonlen = -1, signlen = -1;

    if (out->keybits != 0 && out->keybits < l->min_key_bits) {
        out->result = DKIMCHECK_POLICY;
        out->reason = "key too small";
        return;
    }
    for (size_t h = 0; h < l->nrequired; h++) {
        if (!dkim_sig_hdrsigned(sig, (u_char *)l->required[h])) {
            out->result = DKIMCHECK_POLICY;
            out->reason = "required header not signed";
            return;
        }
    }
    out->result = DKIMCHECK_PASS;
    if (dkim_sig_getcanonlen(d->dkim, sig, &msglen, &canonlen, &signlen) == DKIM_STAT_OK && signlen >= 0 &&
        msglen > signlen) {
        out->partial = true;
        out->reason = "l= covers part of the body";
    }
}

/* The result of one processed signature. */
static void dk_sig_result(dkimcheck_t *d, DKIM_SIGINFO *sig, dkimcheck_sig *out)
{
    unsigned int flags = dkim_sig_getflags(sig);
    int err = dkim_sig_geterror(sig), bh = dkim_sig_getbh(sig);

    dk_sig_fields(sig, out);
    if ((flags & DKIM_SIGFLAG_IGNORE) != 0) { /* only rsa-sha1 (dk_prescreen) */
        out->result = DKIMCHECK_POLICY;
        out->reason = DK_SHA1_REASON;
        return;
    }
    if (dk_key_result(d, out))
        return;
    if (d->own_body && (flags & DKIM_SIGFLAG_PASSED) != 0 && bh != DKIM_SIGBH_UNTESTED)
        dk_own_bh(d, sig, &err, &bh);
    if (err != DKIM_SIGERROR_OK && err != DKIM_SIGERROR_UNKNOWN) {
        out->result = dk_error_result(err, &out->reason);
        if (err == DKIM_SIGERROR_BADSIG && bh == DKIM_SIGBH_MISMATCH)
            out->reason = "body hash mismatch";
        return;
    }
    if ((flags & DKIM_SIGFLAG_PROCESSED) == 0) {
        out->result = DKIMCHECK_NEUTRAL;
        out->reason = "not processed";
        return;
    }
    if ((flags & DKIM_SIGFLAG_PASSED) == 0) {
        out->result = DKIMCHECK_FAIL;
        out->reason = "signature did not verify";
        return;
    }
    if (bh != DKIM_SIGBH_MATCH) {
        out->result = DKIMCHECK_FAIL;
        out->reason = "body hash mismatch";
        return;
    }
    dk_verified_result(d, sig, out);
}

/* Verify every signature of list that libopendkim can check. */
static void dk_verify(dkimcheck_t *d, DKIM_SIGINFO **list, int nlist)
{
    for (int c = 0; c < 2; c++)
        if (d->bh[c])
            bodyhash_final(d->bh[c], d->digest[c]);
    /* All key lookups at once; each signature then waits for its own. */
    for (int i = 0; i < nlist; i++)
        if (dk_sig_pending(list[i]))
            (void)dk_key_start(d, (const char *)dkim_sig_getselector(list[i]),
                               (const char *)dkim_sig_getdomain(list[i]));
    (void)dkim_eom(d->dkim, NULL);
    /* libopendkim stops at the first good signature: run the rest. */
    for (int i = 0; i < nlist; i++)
        if ((dkim_sig_getflags(list[i]) & DKIM_SIGFLAG_PROCESSED) == 0 && dk_sig_pending(list[i]))
            (void)dkim_sig_process(d->dkim, list[i]);
}

dkimcheck_result dkimcheck_eom(dkimcheck_t *d, dkimcheck_sig **sigsp, size_t *nsigsp)
{
    DKIM_SIGINFO **list = NULL;
    int nlist = 0;
    dkimcheck_sig *sigs = NULL;
    size_t n = 0, total;
    dkimcheck_result agg;

    *sigsp = NULL;
    *nsigsp = 0;
    if (d->done)
        return DKIMCHECK_UNSET;
    d->done = true;

    /* With every signature ignored (rsa-sha1), libopendkim said "no
     * signature" at end of headers (nosig), but still lists them. */
    if (d->dkim != NULL && !d->eoh_failed && dkim_getsiglist(d->dkim, &list, &nlist) == DKIM_STAT_OK &&
        nlist > 0) {
        if (!d->nosig)
            dk_verify(d, list, nlist);
    } else {
        nlist = 0;
    }

    total = (size_t)nlist + d->nextra;
    if (total == 0 && d->eoh_failed) /* signatures libopendkim could not use */
        total = d->nsighdrs < d->lib->max_signatures + DK_EXTRA_MAX ? d->nsighdrs
                                                                    : d->lib->max_signatures + DK_EXTRA_MAX;
    sigs = total ? xcalloc(total, sizeof(dkimcheck_sig)) : NULL;
    for (int i = 0; i < nlist; i++)
        dk_sig_result(d, list[i], &sigs[n++]);
    for (size_t i = 0; i < d->nextra && n < total; i++, n++) {
        sigs[n].result = d->extra[i].result;
        sigs[n].reason = d->extra[i].reason;
        sigs[n].domain = d->extra[i].d;
        sigs[n].selector = d->extra[i].s;
        d->extra[i].d = d->extra[i].s = NULL;
        if (sigs[n].domain)
            sigs[n].identity = xasprintf("@%s", sigs[n].domain);
    }
    for (; n < total; n++) {
        sigs[n].result = DKIMCHECK_NEUTRAL;
        sigs[n].reason = "message not verifiable";
    }
    if (d->nsighdrs > d->lib->max_signatures) {
        size_t listed = 0;
        for (size_t i = 0; i < d->nextra; i++)
            listed += d->extra[i].result == DKIMCHECK_POLICY;
        log_warn("dkim: %s: %zu signatures beyond max_signatures %u not verified (%zu listed)", DK_ID(d),
                 d->nsighdrs - d->lib->max_signatures, d->lib->max_signatures, listed);
    }
    /* Every started query is waited for (dns_t requires it). */
    for (size_t i = 0; i < d->nkeys; i++)
        dk_key_wait(&d->keys[i]);
    agg = dkimcheck_aggregate(sigs, n);
    *sigsp = sigs;
    *nsigsp = n;
    return agg;
}

void dkimcheck_free(dkimcheck_t *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nkeys; i++) {
        if (d->keys[i].q)
            dk_key_wait(&d->keys[i]);
        dns_answer_free(d->keys[i].a);
        free(d->keys[i].name);
    }
    free(d->keys);
    for (size_t i = 0; i < d->nextra; i++) {
        free(d->extra[i].d);
        free(d->extra[i].s);
    }
    free(d->extra);
    bodyhash_free(d->bh[0]);
    bodyhash_free(d->bh[1]);
    if (d->dkim)
        dkim_free(d->dkim);
    free(d->id);
    free(d->logid);
    free(d);
}

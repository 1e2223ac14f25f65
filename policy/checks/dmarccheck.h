/*
 * dmarccheck.h - DMARC (RFC 9989, or RFC 7489 with the Public Suffix List)
 * over mxguard's own SPF and DKIM results and its one DNS layer.
 *
 * A dmarccheck_lib belongs to a config snapshot (mode, bounds, the dns_t);
 * a dmarccheck_t is one message: dmarccheck_start() at end of headers
 * starts the policy lookups for the From domain (all labels of the tree
 * walk at once), dmarccheck_eval() at end of message waits for them, walks
 * further for the organizational domains of the SPF and DKIM identifiers
 * when relaxed alignment needs them, and decides.
 *
 * RFC 9989 mode: policy and organizational domain by the DNS tree walk
 * (4.10: _dmarc.<From domain>, then parents down to the single label; a
 * name of 8 or more labels jumps to its last 7, so a walk is at most 8
 * queries); a psd=y or psd=n record ends the walk, at its starting point
 * too; the organizational domain (4.10.2) is the psd=n name, else the name
 * one label below a psd=y name (not the starting one), else the name with
 * the fewest labels that has a record, else the domain itself; the policy
 * record (4.10.1) is the From domain's, else the organizational domain's,
 * else the PSD's; p for the From domain, sp for an existing subdomain, np
 * for a non-existent one (NXDOMAIN, RFC 8020); a record without p is read
 * as p=none (4.7); an invalid p/sp/np means p=none when rua has a URI,
 * else no DMARC processing (permerror) (4.10.1); t=y applies the policy
 * one step lower (reject->quarantine, quarantine->none); pct, rf and ri
 * are historic tags (9.3) and ignored like any unknown tag, pct=0 too.
 * Several v=DMARC1 records at a name count as none there.
 *
 * RFC 7489 mode: _dmarc.<From domain>, else _dmarc.<organizational domain>
 * (libopendmarc's PSL code over psl_file), records parsed by libopendmarc,
 * p for the From domain and sp (else p) below it, pct sampled (a message
 * not sampled gets the policy one step lower, RFC 7489 6.6.4).
 *
 * Results (RFC 8601 / RFC 9989 keywords):
 *   pass       an SPF or DKIM pass whose domain is aligned (aspf/adkim)
 *   fail       a policy record, nothing aligned passed
 *   none       no policy record for the domain
 *   temperror  a needed lookup timed out or SERVFAILed (or the per-message
 *              budget of queries or time ran out) and nothing aligned
 *              passed without it
 *   permerror  the From header gives no single domain (fromhdr.h), or the
 *              policy record has no usable p/sp/np and no rua, or only
 *              several v=DMARC1 records were found
 *
 * Bounds: at most max_queries DNS queries per message (the From walk, the
 * existence check for np, the identifiers' walks), all within timeout_ms
 * from dmarccheck_start().
 *
 * SECURITY: records come from the DNS and are hostile: they are parsed
 * with length bounds, unknown tags ignored, nothing of them is copied out
 * but the fixed policy keywords.  Domains come from the message (fromhdr.h
 * has checked them: LDH labels) and from DKIM d= / MAIL FROM (checked here
 * before any query).
 */
#ifndef MXG_DMARCCHECK_H
#define MXG_DMARCCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "dkimcheck.h"
#include "dname.h"
#include "dns.h"
#include "fromhdr.h"
#include "spfcheck.h"

typedef enum dmarccheck_result {
    DMARCCHECK_UNSET = 0, /* not evaluated */
    DMARCCHECK_NONE,
    DMARCCHECK_PASS,
    DMARCCHECK_FAIL,
    DMARCCHECK_TEMPERROR,
    DMARCCHECK_PERMERROR,
} dmarccheck_result;

typedef enum dmarccheck_policy {
    DMARCCHECK_POLICY_UNSET = 0, /* no policy (no record, or not evaluated) */
    DMARCCHECK_POLICY_NONE,
    DMARCCHECK_POLICY_QUARANTINE,
    DMARCCHECK_POLICY_REJECT,
} dmarccheck_policy;

typedef enum dmarccheck_mode {
    DMARCCHECK_RFC9989 = 0,
    DMARCCHECK_RFC7489,
} dmarccheck_mode;

const char *dmarccheck_result_name(dmarccheck_result r);    /* "pass", ...; "unset" */
bool dmarccheck_result_parse(const char *name, dmarccheck_result *out);
const char *dmarccheck_policy_name(dmarccheck_policy p);    /* "none", "quarantine", "reject"; "unset" */
bool dmarccheck_policy_parse(const char *name, dmarccheck_policy *out);
bool dmarccheck_mode_parse(const char *name, dmarccheck_mode *out); /* "rfc9989", "rfc7489" */

#define DMARCCHECK_DOMAIN_MAX DNAME_BUFSZ /* a domain name and its NUL (dname.h) */

/* What DMARC found for one message.  No pointers: copy it freely. */
typedef struct dmarccheck_output {
    dmarccheck_result result;
    fromhdr_status from;              /* the From header verdict */
    char domain[DMARCCHECK_DOMAIN_MAX];        /* From domain (header.from), "" if none */
    char policy_domain[DMARCCHECK_DOMAIN_MAX]; /* where the policy record is, "" if none */
    char org_domain[DMARCCHECK_DOMAIN_MAX];    /* organizational domain of the From domain, "" if unknown */
    dmarccheck_policy p;              /* the record's p= (UNSET: no record) */
    dmarccheck_policy sp;             /* the record's sp= (UNSET: absent) */
    dmarccheck_policy np;             /* the record's np= (UNSET: absent) */
    const char *policy_tag;           /* "p", "sp" or "np": which one applies; NULL without a record */
    dmarccheck_policy published;      /* the value of that tag */
    dmarccheck_policy applied;        /* after t=y / pct: the requested handling for this
                                       * message (NONE on pass; UNSET without a policy) */
    bool testing;                     /* t=y (RFC 7489 mode: pct not sampled) */
    bool adkim_strict;                /* the record's adkim=s (false: r, the default) */
    bool aspf_strict;                 /* the record's aspf=s (false: r, the default) */
    bool rua;                         /* the record's rua holds at least one URI */
    bool psl;                         /* found by RFC 7489 PSL discovery, else the tree walk */
    bool spf_aligned;                 /* SPF passed with an aligned domain */
    bool dkim_aligned;                /* a DKIM signature passed with an aligned d= */
    const char *reason;               /* static text: why not pass, NULL on pass */
    unsigned queries;                 /* DNS queries made for this message */
} dmarccheck_output;

/* The defaults of the options below (and of the dmarc settings of the config). */
#define DMARCCHECK_DEFAULT_MAX_QUERIES 20u
#define DMARCCHECK_DEFAULT_TIMEOUT_MS 5000u

typedef struct dmarccheck_options {
    dmarccheck_mode mode;
    const char *psl_file;   /* RFC 7489 mode: the Public Suffix List (copied) */
    unsigned max_queries;   /* per message; 0 means the default */
    unsigned timeout_ms;    /* per message; 0 means the default */
} dmarccheck_options;

typedef struct dmarccheck_lib dmarccheck_lib;
typedef struct dmarccheck dmarccheck_t;

/* A handle over dns (borrowed: it must outlive the handle).  In RFC 7489
 * mode the PSL is read (once per process: libopendmarc keeps it in a
 * process-wide table; a later snapshot naming another file fails).  NULL
 * with a reason in err on failure. */
dmarccheck_lib *dmarccheck_lib_new(dns_t *dns, const dmarccheck_options *opt, char *err, size_t errlen);
void dmarccheck_lib_free(dmarccheck_lib *lib);

/* A message whose From verdict is known (end of headers); starts the From
 * domain's lookups when there is one.  Never NULL. */
dmarccheck_t *dmarccheck_start(dmarccheck_lib *lib, const fromhdr_msg *from);

/* The authenticated identifiers of the message. */
typedef struct dmarccheck_input {
    spfcheck_result spf;          /* MAIL FROM result (UNSET: not evaluated) */
    const char *spf_domain;       /* domain SPF checked (MAIL FROM, or HELO for <>) */
    const dkimcheck_sig *sigs;    /* DKIM results */
    size_t nsigs;
} dmarccheck_input;

/* Decide (waits for the lookups, bounded) and fill *out. */
dmarccheck_result dmarccheck_eval(dmarccheck_t *d, const dmarccheck_input *in, dmarccheck_output *out);
/* Wait for whatever is still in flight and free. */
void dmarccheck_free(dmarccheck_t *d);

/* ---- for mxguard report (a record read outside a message) ---- */

/* Does txt start like a DMARC record ("v=DMARC1" then ';' or its end)?
 * (RFC 9990's test of an external destination's _report._dmarc record.) */
bool dmarccheck_is_record(const char *txt, size_t len);
/* The value of the rua tag of a record (the last one if several), without
 * the white space around it, into out (outsz bytes, NUL-terminated): what
 * `mxguard report` sends to (rua.h parses it).  false (out "") when txt is
 * not a record (as dmarccheck_record_parse reads it), has no rua tag, or the
 * value does not fit. */
bool dmarccheck_record_rua(const char *txt, size_t len, char *out, size_t outsz);

/* ---- exposed for tests ---- */

/* One parsed record (RFC 9989 rules). */
typedef struct dmarccheck_record {
    dmarccheck_policy p, sp, np; /* UNSET: absent */
    bool p_bad, sp_bad, np_bad;  /* present with an invalid value */
    bool adkim_strict, aspf_strict;
    char psd;                    /* 'y', 'n' or 'u' */
    int t;                       /* 1 y, 0 n, -1 absent */
    int pct;                     /* RFC 7489 mode only, else -1 (RFC 9989 ignores pct) */
    bool rua;                    /* rua holds at least one URI */
} dmarccheck_record;

/* Parse a record (one TXT RR, strings joined); false when it does not
 * start with v=DMARC1. */
bool dmarccheck_record_parse(const char *txt, size_t len, dmarccheck_record *out);
/* The names of a tree walk from domain (without "_dmarc."): domain, then
 * parents, 8+ labels jumping to the last 7; at most 8.  Returns how many. */
size_t dmarccheck_walk_names(const char *domain, char names[][DMARCCHECK_DOMAIN_MAX], size_t max);

#endif

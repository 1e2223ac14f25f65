/*
 * dmarcrow.h - what one message contributes to a DMARC aggregate report
 * (RFC 9990): the row of the report the message falls in, made from the
 * finished facts of the message (facts.h) and the verdict mxguard applied
 * (verdict.h).  The aggregator (dmarcagg.h) counts messages whose rows have
 * the same key; a store and the XML writer read the fields below.
 *
 * The key of a row (dmarcrow_key_equal) is what RFC 9990 makes a row:
 * policy domain, period (begin..end), source IP, header_from,
 * envelope_from, the disposition applied with its reasons, the DMARC
 * alignment results (policy_evaluated dkim/spf), the set of DKIM
 * {domain, selector, result} and the SPF {domain, result}.  The
 * policy_published fields (p, sp, np, adkim, aspf, testing, discovery)
 * describe the report, not the row: they are carried, not compared.
 *
 * No row (dmarcrow_from_facts returns NULL, *why says which):
 *   - DMARC not evaluated for the message (dmarc.result UNSET: e.g. a
 *     trusted or authenticated client the session does not check), or the
 *     client trusted or SASL-authenticated in the facts;
 *   - no policy record (result none), or no usable one (permerror: no
 *     single From domain, several records, no valid policy and no rua);
 *   - no client IP address (a report row needs source_ip);
 *   - a tempfail verdict (the message was not taken; it comes again) or a
 *     dry-run verdict (what a rule would have done: it changes nothing).
 *
 * Disposition and reasons (the truth of what mxguard did):
 *   accept, DMARC pass       -> pass (the policy that applies is
 *                               quarantine or reject: RFC 9990's "passing
 *                               DMARC with an enforcing policy")
 *   accept, otherwise        -> none (a pass under p=none too)
 *   quarantine               -> quarantine
 *   reject                   -> reject
 *   discard                  -> reject, reason other "discarded by rule R"
 *   reason policy_test_mode  when DMARC failed and t=y lowered the
 *                            published policy (p=quarantine/reject)
 *   reason local_policy "R"  when the disposition differs from what the
 *                            policy asked for this message (after t=y;
 *                            none on pass): R is the rule's name
 *                            ("default" for the default action)
 *   reason other "<why>"     DMARC temperror: no policy could be applied
 *                            (<why> the DMARC check's reason)
 * mailing_list and trusted_forwarder are named (dmarcrow_reason_name) but
 * not produced: mxguard does not detect lists or forwarders.
 *
 * Ownership: a dmarcrow owns all its strings; dmarcrow_free frees them.
 */
#ifndef MXG_DMARCROW_H
#define MXG_DMARCROW_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "dkimcheck.h"
#include "dmarccheck.h"
#include "facts.h"
#include "spfcheck.h"
#include "verdict.h"

#define DMARCROW_DEFAULT_PERIOD 86400u /* one UTC day */
#define DMARCROW_DKIM_MAX 100u         /* RFC 9990: at most 100 DKIM results per row */
#define DMARCROW_REASONS_MAX 4u

typedef enum dmarcrow_disposition {
    DMARCROW_DISP_NONE = 0,
    DMARCROW_DISP_PASS,
    DMARCROW_DISP_QUARANTINE,
    DMARCROW_DISP_REJECT,
} dmarcrow_disposition;

typedef enum dmarcrow_reason_type {
    DMARCROW_REASON_LOCAL_POLICY = 0,
    DMARCROW_REASON_MAILING_LIST,
    DMARCROW_REASON_OTHER,
    DMARCROW_REASON_POLICY_TEST_MODE,
    DMARCROW_REASON_TRUSTED_FORWARDER,
} dmarcrow_reason_type;

/* Why dmarcrow_from_facts made no row. */
typedef enum dmarcrow_skip {
    DMARCROW_MADE = 0,        /* a row was made */
    DMARCROW_SKIP_NOT_EVALUATED, /* no DMARC evaluation (or trusted/authenticated client) */
    DMARCROW_SKIP_NO_POLICY,  /* none or permerror: no policy record to report to */
    DMARCROW_SKIP_NO_ADDRESS, /* no client IP address */
    DMARCROW_SKIP_NOT_APPLIED, /* tempfail or dry-run verdict */
} dmarcrow_skip;

const char *dmarcrow_disposition_name(dmarcrow_disposition d); /* "none", "pass", ... */
const char *dmarcrow_reason_name(dmarcrow_reason_type t);      /* "local_policy", ... */
const char *dmarcrow_skip_name(dmarcrow_skip s);               /* "made", "not evaluated", ... */

typedef struct dmarcrow_reason {
    dmarcrow_reason_type type;
    char *comment;               /* free text, or NULL */
} dmarcrow_reason;

typedef struct dmarcrow_dkim {
    char *domain;                /* d=, lower case ("" if missing) */
    char *selector;              /* s= ("" if missing) */
    dkimcheck_result result;
} dmarcrow_dkim;

typedef struct dmarcrow {
    /* report (policy_published; carried, not part of the key) */
    dmarccheck_policy p, sp, np;  /* sp, np: UNSET when absent */
    bool adkim_strict, aspf_strict;
    bool testing;                 /* t=y */
    bool psl;                     /* discovery_method psl, else treewalk */
    bool rua;                     /* the record has a rua */
    /* key */
    char *policy_domain;          /* where the record is, lower case */
    time_t begin, end;            /* the period, UTC seconds; end = begin + period - 1 */
    char *source_ip;              /* canonical text form (inet_ntop) */
    char *header_from;            /* RFC 5322.From domain, lower case */
    char *envelope_from;          /* RFC 5321.MailFrom domain, lower case; "" for <> */
    dmarcrow_disposition disposition;
    dmarcrow_reason reasons[DMARCROW_REASONS_MAX];
    size_t nreasons;
    bool dkim_aligned, spf_aligned; /* policy_evaluated dkim / spf: pass or fail */
    dmarcrow_dkim *dkim;          /* sorted: passes first, then by domain, selector, result */
    size_t ndkim;                 /* at most DMARCROW_DKIM_MAX */
    char *spf_domain;             /* domain SPF checked ("" if none) */
    spfcheck_result spf;          /* scope mfrom; UNSET: no SPF result (omitted) */
} dmarcrow;

/* The row of a finished message: facts f at end of message, v the verdict
 * applied to it (not a dry-run one), now the time it was received, period
 * the report period in seconds (0: DMARCROW_DEFAULT_PERIOD; periods start
 * at multiples of it since the epoch, so a day is a UTC day).  NULL when
 * the message makes no row; why (may be NULL) says why.  Caller frees. */
dmarcrow *dmarcrow_from_facts(const facts_t *f, const verdict_t *v, time_t now, unsigned period,
                              dmarcrow_skip *why);
/* A deep copy.  Caller frees. */
dmarcrow *dmarcrow_copy(const dmarcrow *r);
void dmarcrow_free(dmarcrow *r);

/* Same key (see above)? */
bool dmarcrow_key_equal(const dmarcrow *a, const dmarcrow *b);
/* A hash of the key: equal keys hash equal. */
unsigned long dmarcrow_key_hash(const dmarcrow *r);

#endif

/*
 * declog.h - the decision line: exactly one log line per message, in
 * key=value form that an operator can grep and a script can parse (the
 * format is documented in mxguard(8)).  Values are quoted with "..." when
 * they contain a space, quote, backslash, '=', a control or non-ASCII byte;
 * inside quotes \" and \\ are escaped and those bytes become \xHH.
 */
#ifndef MXG_DECLOG_H
#define MXG_DECLOG_H

#include <stdbool.h>
#include <stddef.h>

#include "facts.h"
#include "verdict.h"

/* What the decision line is made of; nothing is owned by the entry. */
typedef struct declog_entry {
    const facts_t *facts;           /* may be NULL: its keys are "-" */
    const verdict_t *verdict;   /* the verdict applied; NULL: rule, action, reply "-" */
    facts_stage stage;              /* stage at which it was applied */
    const char *const *dry_run;     /* names of dry-run rules that matched */
    size_t ndry_run;
    long elapsed_ms;                /* from MAIL FROM (or connect) to verdict; < 0: "-" */
} declog_entry;

/* The line, starting with "decision ", keys always present in this order:
 * stage queue_id client_addr client_name helo mail_from rcpts rcpts_rejected
 * spf spf_domain spf_helo rule dry_run action reply elapsed_ms.  Each value
 * goes through strbuf_quote() (strbuf.h) ("-" when unknown).  mail_from is "<ADDR>",
 * "<>" for the null sender; spf/spf_helo are "-" when not evaluated; rule is
 * "default" when the verdict names none; dry_run is "r1,r2" or "-"; reply is
 * "CODE XCODE TEXT" for reject/tempfail, the reason for quarantine, "-"
 * otherwise.  dnsbl_score and dnsbl (just before rule) are the DNS list
 * score and the lists that matched ("zen:127.0.0.2,dbl:127.0.1.2", "-" for
 * none), both "-" when no list was queried; they wait for the lists still
 * in flight.  dkim (after dnsbl) is one RESULT:DOMAIN per signature
 * ("pass:example.com,fail:other.example"; "pass+l" when l= covers part of
 * the body), "none" for an unsigned message, "-" when not evaluated.
 * dmarc, dmarc_policy, dmarc_aligned (after dkim): the DMARC result; the
 * policy as TAG:PUBLISHED/APPLIED ("sp:reject/quarantine", "-" without a
 * record); which identifier aligned ("spf", "dkim", "spf+dkim", "none");
 * all "-" when DMARC was not evaluated.  from_domain (after them): the
 * From header's domain as DMARC used it, "-" when DMARC did not run.  No
 * CR, LF or other control byte.  Caller frees. */
char *declog_format(const declog_entry *e);

/* ---- reading decision lines back (mxguard summary, tests) ---- */

/* A decision line split into its keys, in line order, with values
 * unquoted and unescaped; a bare "-" (unknown) gives NULL.  Owned by the
 * struct (declog_fields_clear). */
typedef struct declog_fields {
    size_t n;
    char **key;
    char **val;
} declog_fields;

/* Parse one line that starts with "decision " (the exact inverse of
 * strbuf_quote() (strbuf.h) per value: bare values are printable ASCII without space,
 * '"', '\\' or '='; quoted ones may hold \" \\ and \xHH, \x00 excepted).
 * Keys are [a-z_]+, separated by one space, each at most once.  Unknown
 * keys are kept (newer versions may add some).  On a malformed line returns
 * false with a reason in err (errlen may be 0) and *out empty.  Bounded by
 * the length of the line. */
bool declog_parse(const char *line, declog_fields *out, char *err, size_t errlen);
/* The value of key: true and *val (NULL for "-") when the key is present. */
bool declog_get(const declog_fields *d, const char *key, const char **val);
void declog_fields_clear(declog_fields *d);

#endif

/*
 * declog.c - the decision line: one key=value log line per message.
 *
 * SECURITY: most values come from the SMTP client or the MTA (HELO, MAIL
 * FROM, client name, queue id).  declog_quote() makes each one a single
 * field: a value with a space, '"', '\', '=', control or non-ASCII byte is
 * quoted, and inside the quotes no raw control byte, CR or LF remains, so a
 * value can neither add a key nor start a new log line.  Each value is cut
 * at DECLOG_VALUE_MAX bytes of output, so a 64 KB HELO cannot make a giant
 * line.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "declog.h"
#include "dnsbl.h"
#include "xalloc.h"

/* A growing string. */
typedef struct dl_buf {
    char *s;    /* NUL-terminated */
    size_t len; /* bytes in s */
    size_t cap; /* allocated */
} dl_buf;

static void dl_put(dl_buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void dl_puts(dl_buf *b, const char *p)
{
    dl_put(b, p, strlen(p));
}

static bool dl_needs_quote(const char *v)
{
    /* Empty, and a real "-" (which bare would read as "unknown"). */
    if (*v == '\0' || strcmp(v, "-") == 0)
        return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '=')
            return true;
    return false;
}

char *declog_quote(const char *v)
{
    static const char hex[] = "0123456789abcdef";
    dl_buf b = {0};
    bool quote;

    if (v == NULL)
        return xstrdup("-");
    quote = dl_needs_quote(v);
    if (quote)
        dl_puts(&b, "\"");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[4];
        size_t n;

        if (*p < 0x20 || *p >= 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[*p >> 4];
            esc[3] = hex[*p & 0xf];
            n = 4;
        } else if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        if (b.len - (quote ? 1 : 0) + n > DECLOG_VALUE_MAX) {
            dl_puts(&b, "...");
            break;
        }
        dl_put(&b, esc, n);
    }
    if (quote)
        dl_puts(&b, "\"");
    return b.s;
}

/* Append " key=VALUE" with VALUE quoted (NULL gives "-"). */
static void dl_field(dl_buf *b, const char *key, const char *val)
{
    char *q = declog_quote(val);

    dl_puts(b, " ");
    dl_puts(b, key);
    dl_puts(b, "=");
    dl_puts(b, q);
    free(q);
}

/* Append " key=N", or "-" when the facts are unknown. */
static void dl_count(dl_buf *b, const char *key, bool known, size_t n)
{
    char num[32];

    snprintf(num, sizeof(num), "%zu", n);
    dl_field(b, key, known ? num : NULL);
}

static const char *dl_spf(spfcheck_result r)
{
    return r == SPFCHECK_UNSET ? NULL : spfcheck_result_name(r);
}

/* "pass:example.com,fail:other.example" (one entry per signature, "+l"
 * after a pass that covers part of the body, "?" for a missing d=),
 * "none" when there was no signature, NULL when not evaluated.  Caller
 * frees. */
static char *dl_dkim(const facts_t *f)
{
    dl_buf b = {0};

    if (f == NULL || f->dkim == DKIMCHECK_UNSET)
        return NULL;
    if (f->ndkim_sigs == 0)
        return xstrdup(dkimcheck_result_name(f->dkim));
    for (size_t i = 0; i < f->ndkim_sigs; i++) {
        const dkimcheck_sig *s = &f->dkim_sigs[i];
        if (i > 0)
            dl_puts(&b, ",");
        dl_puts(&b, dkimcheck_result_name(s->result));
        if (s->result == DKIMCHECK_PASS && s->partial)
            dl_puts(&b, "+l");
        dl_puts(&b, ":");
        dl_puts(&b, s->domain ? s->domain : "?");
    }
    return b.s;
}

/* " dnsbl_score=N dnsbl=LISTS", "-" when no list was queried. */
static void dl_dnsbl(dl_buf *b, const facts_t *f)
{
    char score[32];
    char *lists = NULL;
    bool known = f != NULL && dnsbl_lookup_evaluated(f->dnsbl);

    if (known) {
        snprintf(score, sizeof(score), "%d", dnsbl_lookup_score(f->dnsbl));
        lists = dnsbl_lookup_matches(f->dnsbl);
    }
    dl_field(b, "dnsbl_score", known ? score : NULL);
    dl_field(b, "dnsbl", lists);
    free(lists);
}

/* The reply the verdict gives: "CODE XCODE TEXT" for reject/tempfail, the
 * reason for quarantine, NULL otherwise.  Caller frees. */
static char *dl_reply(const rules_verdict *v)
{
    dl_buf b = {0};
    const char *parts[3];

    if (v == NULL)
        return NULL;
    switch (v->action) {
    case ACTION_REJECT:
    case ACTION_TEMPFAIL:
        parts[0] = v->code;
        parts[1] = v->xcode;
        parts[2] = v->text;
        for (size_t i = 0; i < 3; i++) {
            if (parts[i] == NULL)
                continue;
            if (b.len > 0)
                dl_puts(&b, " ");
            dl_puts(&b, parts[i]);
        }
        return b.s;
    case ACTION_QUARANTINE:
        return xstrdup_or_null(v->text);
    case ACTION_ACCEPT:
    case ACTION_DISCARD:
        break;
    }
    return NULL;
}

/* "r1,r2" or NULL for none.  Caller frees. */
static char *dl_dry_run(const declog_entry *e)
{
    dl_buf b = {0};

    for (size_t i = 0; i < e->ndry_run; i++) {
        if (i > 0)
            dl_puts(&b, ",");
        dl_puts(&b, e->dry_run[i] ? e->dry_run[i] : "");
    }
    return b.s;
}

char *declog_format(const declog_entry *e)
{
    const facts_t *f = e->facts;
    const rules_verdict *v = e->verdict;
    dl_buf b = {0};
    char *from = NULL, *dry, *reply, *dkim, elapsed[32];

    if (f != NULL && f->mail_from != NULL)
        from = xasprintf("<%s>", f->mail_from);
    dry = dl_dry_run(e);
    reply = dl_reply(v);
    snprintf(elapsed, sizeof(elapsed), "%ld", e->elapsed_ms);

    dl_puts(&b, "decision");
    dl_field(&b, "stage", facts_stage_name(e->stage));
    dl_field(&b, "queue_id", f ? f->queue_id : NULL);
    dl_field(&b, "client_addr", f ? f->client_addr : NULL);
    dl_field(&b, "client_name", f ? f->client_name : NULL);
    dl_field(&b, "helo", f ? f->helo : NULL);
    dl_field(&b, "mail_from", from);
    dl_count(&b, "rcpts", f != NULL, f ? f->nrcpts : 0);
    dl_count(&b, "rcpts_rejected", f != NULL, f ? f->nrcpts_rejected : 0);
    dl_field(&b, "spf", f ? dl_spf(f->spf_mfrom) : NULL);
    dl_field(&b, "spf_domain", f ? f->spf_domain : NULL);
    dl_field(&b, "spf_helo", f ? dl_spf(f->spf_helo) : NULL);
    dl_dnsbl(&b, f);
    dkim = dl_dkim(f);
    dl_field(&b, "dkim", dkim);
    free(dkim);
    dl_field(&b, "rule", v ? (v->rule ? v->rule : "default") : NULL);
    dl_field(&b, "dry_run", dry);
    dl_field(&b, "action", v ? rules_action_name(v->action) : NULL);
    dl_field(&b, "reply", reply);
    dl_field(&b, "elapsed_ms", e->elapsed_ms >= 0 ? elapsed : NULL);

    free(from);
    free(dry);
    free(reply);
    return b.s;
}

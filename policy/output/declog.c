/*
 * declog.c - the decision line: one key=value log line per message.
 *
 * SECURITY: most values come from the SMTP client or the MTA (HELO, MAIL
 * FROM, client name, queue id).  strbuf_quote() (strbuf.h) makes each one a single
 * field: a value with a space, '"', '\', '=', control or non-ASCII byte is
 * quoted, and inside the quotes no raw control byte, CR or LF remains, so a
 * value can neither add a key nor start a new log line.  Each value is cut
 * at STRBUF_QUOTE_MAX bytes of output, so a 64 KB HELO cannot make a giant
 * line.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "declog.h"
#include "strbuf.h"
#include "xalloc.h"

/* Append " key=VALUE" with VALUE quoted (NULL gives "-"). */
static void dl_field(strbuf *b, const char *key, const char *val)
{
    char *q = strbuf_quote(val);

    strbuf_adds(b, " ");
    strbuf_adds(b, key);
    strbuf_adds(b, "=");
    strbuf_adds(b, q);
    free(q);
}

/* Append " key=N", or "-" when the facts are unknown. */
static void dl_count(strbuf *b, const char *key, bool known, size_t n)
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
    strbuf b = {0};

    if (f == NULL || f->dkim == DKIMCHECK_UNSET)
        return NULL;
    if (f->ndkim_sigs == 0)
        return xstrdup(dkimcheck_result_name(f->dkim));
    for (size_t i = 0; i < f->ndkim_sigs; i++) {
        const dkimcheck_sig *s = &f->dkim_sigs[i];
        if (i > 0)
            strbuf_adds(&b, ",");
        strbuf_adds(&b, dkimcheck_result_name(s->result));
        if (s->result == DKIMCHECK_PASS && s->partial)
            strbuf_adds(&b, "+l");
        strbuf_adds(&b, ":");
        strbuf_adds(&b, s->domain ? s->domain : "?");
    }
    return b.s;
}

/* "DOMAIN:REASON,..." for each signature that did not pass, in the order
 * of dl_dkim() ("?" for a missing d=), NULL when there is none.  The
 * reasons are dkimcheck.c's fixed texts.  Caller frees. */
static char *dl_dkim_reason(const facts_t *f)
{
    strbuf b = {0};

    for (size_t i = 0; f != NULL && f->dkim != DKIMCHECK_UNSET && i < f->ndkim_sigs; i++) {
        const dkimcheck_sig *s = &f->dkim_sigs[i];
        if (s->result == DKIMCHECK_PASS || s->reason == NULL)
            continue;
        if (b.len > 0)
            strbuf_adds(&b, ",");
        strbuf_adds(&b, s->domain ? s->domain : "?");
        strbuf_adds(&b, ":");
        strbuf_adds(&b, s->reason);
    }
    return b.s;
}

/* dmarc (RESULT, "-" when not evaluated), dmarc_policy (TAG:PUBLISHED/APPLIED,
 * e.g. "sp:reject/quarantine"; "-" without a policy), dmarc_aligned
 * ("spf", "dkim", "spf+dkim", "none"; "-" when not evaluated). */
static void dl_dmarc(strbuf *b, const facts_t *f)
{
    const dmarccheck_output *d = f ? &f->dmarc : NULL;
    char pol[64];

    if (d == NULL || d->result == DMARCCHECK_UNSET) {
        dl_field(b, "dmarc", NULL);
        dl_field(b, "dmarc_policy", NULL);
        dl_field(b, "dmarc_aligned", NULL);
        return;
    }
    dl_field(b, "dmarc", dmarccheck_result_name(d->result));
    if (d->policy_tag != NULL) {
        snprintf(pol, sizeof(pol), "%s:%s/%s", d->policy_tag, dmarccheck_policy_name(d->published),
                 d->applied == DMARCCHECK_POLICY_UNSET ? "-" : dmarccheck_policy_name(d->applied));
        dl_field(b, "dmarc_policy", pol);
    } else {
        dl_field(b, "dmarc_policy", NULL);
    }
    dl_field(b, "dmarc_aligned", d->spf_aligned && d->dkim_aligned ? "spf+dkim"
                                 : d->spf_aligned                 ? "spf"
                                 : d->dkim_aligned                ? "dkim"
                                                                  : "none");
}

/* " dnsbl_score=N dnsbl=LISTS", "-" when no list was queried. */
static void dl_dnsbl(strbuf *b, const facts_t *f)
{
    char score[32];
    char *lists = NULL;
    bool known = f != NULL && f->dnsbl.evaluated;

    if (known) {
        snprintf(score, sizeof(score), "%d", facts_dnsbl_score(&f->dnsbl));
        lists = facts_dnsbl_matches(&f->dnsbl);
    }
    dl_field(b, "dnsbl_score", known ? score : NULL);
    dl_field(b, "dnsbl", lists);
    free(lists);
}

/* The reply the verdict gives: "CODE XCODE TEXT" for reject/tempfail, the
 * reason for quarantine, NULL otherwise.  Caller frees. */
static char *dl_reply(const verdict_t *v)
{
    strbuf b = {0};
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
                strbuf_adds(&b, " ");
            strbuf_adds(&b, parts[i]);
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
    strbuf b = {0};

    for (size_t i = 0; i < e->ndry_run; i++) {
        if (i > 0)
            strbuf_adds(&b, ",");
        strbuf_adds(&b, e->dry_run[i] ? e->dry_run[i] : "");
    }
    return b.s;
}

char *declog_format(const declog_entry *e)
{
    const facts_t *f = e->facts;
    const verdict_t *v = e->verdict;
    strbuf b = {0};
    char *from = NULL, *dry, *reply, *dkim, elapsed[32];

    if (f != NULL && f->mail_from != NULL)
        from = xasprintf("<%s>", f->mail_from);
    dry = dl_dry_run(e);
    reply = dl_reply(v);
    snprintf(elapsed, sizeof(elapsed), "%ld", e->elapsed_ms);

    strbuf_adds(&b, "decision");
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
    dkim = dl_dkim_reason(f);
    dl_field(&b, "dkim_reason", dkim);
    free(dkim);
    dl_dmarc(&b, f);
    /* header.from as DMARC used it ("-" when DMARC did not run) */
    dl_field(&b, "from_domain", f && f->dmarc.result != DMARCCHECK_UNSET && f->dmarc.domain[0] ? f->dmarc.domain : NULL);
    dl_field(&b, "rule", v ? (v->rule ? v->rule : "default") : NULL);
    dl_field(&b, "dry_run", dry);
    dl_field(&b, "action", v ? verdict_action_name(v->action) : NULL);
    dl_field(&b, "reply", reply);
    dl_field(&b, "elapsed_ms", e->elapsed_ms >= 0 ? elapsed : NULL);

    free(from);
    free(dry);
    free(reply);
    return b.s;
}

/* ---- parsing ----------------------------------------------------------- */

static void dl_err(char *err, size_t errlen, const char *what, size_t at)
{
    if (errlen > 0)
        snprintf(err, errlen, "%s at column %zu", what, at + 1);
}

/* A bare value byte: what strbuf_quote() writes without quotes. */
static bool dl_bare(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

void declog_fields_clear(declog_fields *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->key[i]);
        free(d->val[i]);
    }
    free(d->key);
    free(d->val);
    memset(d, 0, sizeof(*d));
}

bool declog_get(const declog_fields *d, const char *key, const char **val)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->key[i], key) == 0) {
            *val = d->val[i];
            return true;
        }
    }
    *val = NULL;
    return false;
}

/* A quoted value at *pp (its opening quote) into v; *pp ends after the
 * closing quote.  False with err set (offsets from line). */
static bool dl_parse_quoted(const char **pp, strbuf *v, const char *line, char *err, size_t errlen)
{
    const char *p = *pp;

    for (p++; *p != '"'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0') {
            dl_err(err, errlen, "unterminated quoted value", (size_t)(p - line));
            return false;
        }
        if (c < 0x20 || c >= 0x7f) {
            dl_err(err, errlen, "raw control or non-ASCII byte", (size_t)(p - line));
            return false;
        }
        if (c != '\\') {
            strbuf_add(v, p, 1);
            continue;
        }
        if (p[1] == '"' || p[1] == '\\') {
            strbuf_add(v, ++p, 1);
        } else if (p[1] == 'x' && strbuf_hexval(p[2]) >= 0 && strbuf_hexval(p[3]) >= 0 &&
                   (strbuf_hexval(p[2]) | strbuf_hexval(p[3])) != 0) {
            char ch = (char)(strbuf_hexval(p[2]) * 16 + strbuf_hexval(p[3]));
            strbuf_add(v, &ch, 1);
            p += 3;
        } else {
            dl_err(err, errlen, "bad escape", (size_t)(p - line));
            return false;
        }
    }
    p++;
    *pp = p;
    if (*p != ' ' && *p != '\0') {
        dl_err(err, errlen, "text after a quoted value", (size_t)(p - line));
        return false;
    }
    return true;
}

/* A bare value at *pp into v; *pp ends after it. */
static bool dl_parse_bare(const char **pp, strbuf *v, const char *line, char *err, size_t errlen)
{
    const char *s = *pp, *p = s;

    while (dl_bare((unsigned char)*p))
        p++;
    *pp = p;
    if (*p != ' ' && *p != '\0') {
        dl_err(err, errlen, "byte not allowed in a bare value", (size_t)(p - line));
        return false;
    }
    if (p == s) {
        dl_err(err, errlen, "empty bare value", (size_t)(p - line));
        return false;
    }
    strbuf_add(v, s, (size_t)(p - s));
    return true;
}

/* " key=": the next key at *pp into a new entry of out (value NULL). */
static bool dl_parse_key(const char **pp, declog_fields *out, const char *line, char *err, size_t errlen)
{
    const char *p = *pp, *k, *dummy;
    char *key;

    if (*p != ' ') {
        dl_err(err, errlen, "expected a space", (size_t)(p - line));
        return false;
    }
    k = ++p;
    while ((*p >= 'a' && *p <= 'z') || *p == '_')
        p++;
    if (p == k || *p != '=') {
        dl_err(err, errlen, "expected key=", (size_t)(k - line));
        return false;
    }
    key = xstrndup(k, (size_t)(p - k));
    if (declog_get(out, key, &dummy)) {
        free(key);
        dl_err(err, errlen, "duplicate key", (size_t)(k - line));
        return false;
    }
    out->key = xreallocarray(out->key, out->n + 1, sizeof(char *));
    out->val = xreallocarray(out->val, out->n + 1, sizeof(char *));
    out->key[out->n] = key;
    out->val[out->n] = NULL;
    out->n++;
    *pp = p + 1;
    return true;
}

bool declog_parse(const char *line, declog_fields *out, char *err, size_t errlen)
{
    const char *p = line;
    strbuf v = {0};

    memset(out, 0, sizeof(*out));
    if (strncmp(p, "decision ", 9) != 0) {
        dl_err(err, errlen, "not a decision line", 0);
        return false;
    }
    p += 8;
    while (*p != '\0') {
        bool quoted;

        if (!dl_parse_key(&p, out, line, err, errlen))
            goto bad;
        v.len = 0;
        strbuf_add(&v, "", 0);
        quoted = *p == '"';
        if (!(quoted ? dl_parse_quoted(&p, &v, line, err, errlen) : dl_parse_bare(&p, &v, line, err, errlen)))
            goto bad;
        /* a bare "-" is unknown */
        out->val[out->n - 1] = !quoted && strcmp(v.s, "-") == 0 ? NULL : xstrdup(v.s);
    }
    free(v.s);
    if (out->n == 0) {
        dl_err(err, errlen, "no keys", 0);
        return false;
    }
    return true;
bad:
    free(v.s);
    declog_fields_clear(out);
    return false;
}

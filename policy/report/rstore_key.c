/*
 * rstore_key.c - how the report store (rstore.c) writes a row's strings
 * and lists into text columns and reads them back, and the key of a row
 * (rstore_key.h).  Internal to policy/report/rstore*.c.
 *
 * SECURITY: the strings of a row come from mail (domains, DKIM selectors)
 * and from DNS.  Text columns hold strings encoded by rstore_key_enc:
 * bytes outside printable ASCII and the separators "%;,=|" as %XX, so
 * hostile bytes (quotes, backslashes, control bytes, invalid UTF-8 a
 * PostgreSQL database would refuse) round-trip exactly and the lists in
 * one column (reasons, DKIM results) split unambiguously.
 *
 * A row's key is a canonical text of every key field (rs_key_text); its
 * SHA-256 (hex) is the rkey column, UNIQUE per report, so the upsert that
 * adds counts has a short key however long the comments are (a PostgreSQL
 * B-tree entry holds at most about 2.7 kB).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "rstore_key.h"
#include "strbuf.h"
#include "xalloc.h"

/* ---- encoding of text columns ------------------------------------------- */

static bool rs_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && strchr("%;,=|", c) == NULL;
}

void rstore_key_enc(strbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (rs_plain(*p)) {
            strbuf_add(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            strbuf_add(b, e, 3);
        }
    }
    if (b->s == NULL)
        strbuf_add(b, "", 0);
}

char *rstore_key_enc_new(const char *s)
{
    strbuf b = {0};
    rstore_key_enc(&b, s);
    return strbuf_take(&b);
}

/* Decode n bytes of an encoded string: a new string, NULL if malformed. */
char *rstore_key_dec(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;

    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            if (!rs_plain((unsigned char)s[i]))
                goto bad;
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? strbuf_hexval(s[i + 1]) : -1, lo = hi >= 0 ? strbuf_hexval(s[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0))
            goto bad;
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* ---- enum names ------------------------------------------------------------ */

bool rstore_key_policy(const char *s, dmarccheck_policy *out)
{
    for (int v = DMARCCHECK_POLICY_UNSET; v <= DMARCCHECK_POLICY_REJECT; v++)
        if (strcmp(s, dmarccheck_policy_name((dmarccheck_policy)v)) == 0)
            return *out = (dmarccheck_policy)v, true;
    return false;
}

bool rstore_key_disp(const char *s, dmarcrow_disposition *out)
{
    for (int v = DMARCROW_DISP_NONE; v <= DMARCROW_DISP_REJECT; v++)
        if (strcmp(s, dmarcrow_disposition_name((dmarcrow_disposition)v)) == 0)
            return *out = (dmarcrow_disposition)v, true;
    return false;
}

static bool rs_reason_parse(const char *s, size_t n, dmarcrow_reason_type *out)
{
    for (int v = DMARCROW_REASON_LOCAL_POLICY; v <= DMARCROW_REASON_TRUSTED_FORWARDER; v++) {
        const char *name = dmarcrow_reason_name((dmarcrow_reason_type)v);
        if (strlen(name) == n && memcmp(s, name, n) == 0)
            return *out = (dmarcrow_reason_type)v, true;
    }
    return false;
}

static bool rs_dkim_parse(const char *s, dkimcheck_result *out)
{
    for (int v = DKIMCHECK_UNSET; v <= DKIMCHECK_PERMERROR; v++)
        if (strcmp(s, dkimcheck_result_name((dkimcheck_result)v)) == 0)
            return *out = (dkimcheck_result)v, true;
    return false;
}

bool rstore_key_spf(const char *s, spfcheck_result *out)
{
    for (int v = SPFCHECK_UNSET; v <= SPFCHECK_PERMERROR; v++)
        if (strcmp(s, spfcheck_result_name((spfcheck_result)v)) == 0)
            return *out = (spfcheck_result)v, true;
    return false;
}

/* ---- reasons and DKIM results in one column each ---------------------------- */

/* "type[=comment];..." (no "=" for a NULL comment). */
char *rstore_key_reasons_text(const dmarcrow *r)
{
    strbuf b = {0};

    strbuf_add(&b, "", 0);
    for (size_t i = 0; i < r->nreasons; i++) {
        if (i > 0)
            strbuf_adds(&b, ";");
        strbuf_adds(&b, dmarcrow_reason_name(r->reasons[i].type));
        if (r->reasons[i].comment != NULL) {
            strbuf_adds(&b, "=");
            rstore_key_enc(&b, r->reasons[i].comment);
        }
    }
    return strbuf_take(&b);
}

/* "domain,selector,result;..." */
char *rstore_key_dkim_text(const dmarcrow *r)
{
    strbuf b = {0};

    strbuf_add(&b, "", 0);
    for (size_t i = 0; i < r->ndkim; i++) {
        if (i > 0)
            strbuf_adds(&b, ";");
        rstore_key_enc(&b, r->dkim[i].domain);
        strbuf_adds(&b, ",");
        rstore_key_enc(&b, r->dkim[i].selector);
        strbuf_adds(&b, ",");
        strbuf_adds(&b, dkimcheck_result_name(r->dkim[i].result));
    }
    return strbuf_take(&b);
}

/* The next item of a ';'-separated list at *p (advanced past it). */
static size_t rs_item(const char **p, const char **item)
{
    size_t n = strcspn(*p, ";");
    *item = *p;
    *p += n + ((*p)[n] == ';');
    return n;
}

bool rstore_key_reasons_parse(const char *s, dmarcrow *r)
{
    const char *p = s, *it;

    while (*p) {
        size_t n = rs_item(&p, &it);
        const char *eq = memchr(it, '=', n);
        size_t tn = eq ? (size_t)(eq - it) : n;
        dmarcrow_reason *x = &r->reasons[r->nreasons];

        if (r->nreasons == DMARCROW_REASONS_MAX || !rs_reason_parse(it, tn, &x->type))
            return false;
        x->comment = NULL;
        if (eq != NULL && (x->comment = rstore_key_dec(eq + 1, n - tn - 1)) == NULL)
            return false;
        r->nreasons++;
    }
    return true;
}

bool rstore_key_dkim_parse(const char *s, dmarcrow *r)
{
    const char *p = s, *it;

    while (*p) {
        size_t n = rs_item(&p, &it);
        const char *c1 = memchr(it, ',', n);
        const char *c2 = c1 ? memchr(c1 + 1, ',', n - (size_t)(c1 + 1 - it)) : NULL;
        char res[32];

        if (c2 == NULL || r->ndkim == DMARCROW_DKIM_MAX || (size_t)(it + n - c2 - 1) >= sizeof(res))
            return false;
        r->dkim = xreallocarray(r->dkim, r->ndkim + 1, sizeof(*r->dkim));
        dmarcrow_dkim *d = &r->dkim[r->ndkim];
        memset(d, 0, sizeof(*d));
        r->ndkim++;
        memcpy(res, c2 + 1, (size_t)(it + n - c2 - 1));
        res[it + n - c2 - 1] = '\0';
        d->domain = rstore_key_dec(it, (size_t)(c1 - it));
        d->selector = rstore_key_dec(c1 + 1, (size_t)(c2 - c1 - 1));
        if (d->domain == NULL || d->selector == NULL || !rs_dkim_parse(res, &d->result))
            return false;
    }
    return true;
}

/* ---- the key of a row ------------------------------------------------------ */

/* Every key field, encoded, '|'-separated: equal keys, equal text; other
 * keys, other text (the encoding escapes every separator). */
static char *rs_key_text(const dmarcrow *r)
{
    strbuf b = {0};
    char *reasons = rstore_key_reasons_text(r), *dkim = rstore_key_dkim_text(r);

    strbuf_adds(&b, "1|");
    rstore_key_enc(&b, r->policy_domain);
    strbuf_addf(&b, "|%lld|%lld|", (long long)r->begin, (long long)r->end);
    rstore_key_enc(&b, r->source_ip);
    strbuf_adds(&b, "|");
    rstore_key_enc(&b, r->header_from);
    strbuf_adds(&b, "|");
    rstore_key_enc(&b, r->envelope_from);
    strbuf_addf(&b, "|%s|%s|%d|%d|%s|", dmarcrow_disposition_name(r->disposition), reasons,
                r->dkim_aligned, r->spf_aligned, dkim);
    rstore_key_enc(&b, r->spf_domain);
    strbuf_addf(&b, "|%s", spfcheck_result_name(r->spf));
    free(reasons);
    free(dkim);
    return strbuf_take(&b);
}

void rstore_key_hash(const dmarcrow *r, char out[RSTORE_KEY_HEX])
{
    static const char hex[] = "0123456789abcdef";
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];
    char *text = rs_key_text(r);

    sha256_init(&c);
    sha256_update(&c, strlen(text), (const uint8_t *)text);
    sha256_digest(&c, sizeof(d), d);
    free(text);
    for (size_t i = 0; i < sizeof(d); i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * sizeof(d)] = '\0';
}

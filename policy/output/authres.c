/*
 * authres.c - the RFC 8601 Authentication-Results header: formatting ours,
 * recognising existing ones that carry our authserv-id.
 *
 * Formatting goes through a small builder: a method ("spf=pass") collects
 * its properties ("smtp.mailfrom=VALUE"), and ending the method places it on
 * the line, folding with "\n\t" when the line would pass 78 characters.
 * Adding a method (dkim, dmarc, ...) is one function that calls
 * ar_method_begin(), ar_prop() per property and ar_method_end().
 *
 * SECURITY: MAIL FROM and HELO come from the SMTP client; header values we
 * parse come from the message (anyone can write them).  Values are written
 * bare only when they match the RFC 2045 token or the RFC 8601 addr-spec
 * grammar (dot-atom local part, RFC 6376 domain-name), which cannot contain
 * ";", "(", '"', space or control bytes; everything else becomes a
 * quoted-string with '"' and '\' escaped and control/non-ASCII bytes dropped,
 * so a value can never end the property, open a comment or add a result.
 * The parser reads a NUL-terminated string once, left to right, without
 * recursion (comment nesting is a counter): linear time, never past the NUL.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "authres.h"
#include "strbuf.h"
#include "xalloc.h"

/* RFC 5322 2.1.1: lines SHOULD be at most 78 characters (a tab counts as
 * one).  The first line also holds "Authentication-Results: ". */
#define AR_LINE_MAX 78
#define AR_FIRST_COL (sizeof(AUTHRES_HEADER ": ") - 1)
#define AR_FOLD "\n\t"
#define AR_FOLD_COL 1 /* column after a fold: the tab */

/* ---- character classes ------------------------------------------------ */

static bool ar_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ar_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 2045 token character: US-ASCII CHAR except SPACE, CTLs, tspecials. */
static bool ar_is_tchar(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7f)
        return false;
    return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* RFC 5322 atext. */
static bool ar_is_atext(unsigned char c)
{
    return ar_is_alpha(c) || ar_is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 2045 token: 1*tchar over the whole of s[0..n). */
static bool ar_is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ar_is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* RFC 5322 dot-atom-text: 1*atext *("." 1*atext). */
static bool ar_is_dot_atom(const char *s, size_t n)
{
    bool prev_dot = true; /* no leading dot */

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (prev_dot)
                return false;
            prev_dot = true;
        } else if (ar_is_atext((unsigned char)s[i])) {
            prev_dot = false;
        } else {
            return false;
        }
    }
    return !prev_dot;
}

/* RFC 6376 domain-name: sub-domain 1*("." sub-domain), where sub-domain =
 * Let-dig [Ldh-str] (no leading or trailing hyphen). */
static bool ar_is_domain_name(const char *s, size_t n)
{
    size_t labels = 0, i = 0;

    while (i < n) {
        size_t start = i;
        while (i < n && (ar_is_alpha((unsigned char)s[i]) || ar_is_digit((unsigned char)s[i]) || s[i] == '-'))
            i++;
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return false;
        labels++;
        if (i < n) {
            if (s[i] != '.' || i + 1 == n)
                return false;
            i++;
        }
    }
    return labels >= 2;
}

/* RFC 8601 pvalue without CFWS: value / [[local-part] "@"] domain-name.
 * We accept the local part only as a dot-atom (a quoted local part makes the
 * whole value a quoted-string instead). */
static bool ar_is_bare_pvalue(const char *s)
{
    size_t n = strlen(s);
    const char *at = strrchr(s, '@');

    if (ar_is_token(s, n))
        return true;
    if (at == NULL)
        return false;
    if (at != s && !ar_is_dot_atom(s, (size_t)(at - s)))
        return false;
    return ar_is_domain_name(at + 1, n - (size_t)(at - s) - 1);
}

/* ---- the builder ------------------------------------------------------- */

typedef struct ar_builder {
    strbuf text;      /* the value so far */
    size_t col;       /* characters on the current line, header name included */
    char **pieces;    /* the open method: "spf=pass", "smtp.mailfrom=..." */
    size_t npieces;
} ar_builder;

static void ar_put(ar_builder *b, const char *p, size_t n)
{
    strbuf_add(&b->text, p, n);
    b->col += n;
}

static void ar_puts(ar_builder *b, const char *p)
{
    ar_put(b, p, strlen(p));
}

static void ar_fold(ar_builder *b)
{
    ar_puts(b, AR_FOLD);
    b->col = AR_FOLD_COL;
}

/* Separate the next piece of n characters: a space, or a fold when it would
 * not fit and the line already holds more than its indentation. */
static void ar_space_or_fold(ar_builder *b, size_t n)
{
    if (b->col + 1 + n > AR_LINE_MAX && b->col > AR_FOLD_COL)
        ar_fold(b);
    else
        ar_puts(b, " ");
}

/* prefix followed by v as an RFC 2045 value, in a new string: bare when
 * allowed (token, or also addr-spec if addr), else a quoted-string with '"'
 * and '\' escaped and control/non-ASCII bytes dropped. */
static char *ar_value(const char *prefix, const char *v, bool addr)
{
    size_t plen = strlen(prefix), vlen = strlen(v), o;
    char *out;

    if (addr ? ar_is_bare_pvalue(v) : ar_is_token(v, vlen))
        return xasprintf("%s%s", prefix, v);
    out = xmalloc(plen + 2 * vlen + 3);
    memcpy(out, prefix, plen);
    o = plen;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p < 0x20 || *p >= 0x7f)
            continue;
        if (*p == '"' || *p == '\\')
            out[o++] = '\\';
        out[o++] = (char)*p;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

static void ar_begin(ar_builder *b, const char *authserv_id)
{
    char *id = ar_value("", authserv_id, false);

    memset(b, 0, sizeof(*b));
    b->col = AR_FIRST_COL;
    ar_puts(b, id);
    free(id);
}

/* Open a method result: "METHOD=RESULT" (or just "none" for no-result). */
static void ar_method_begin(ar_builder *b, const char *method, const char *result)
{
    b->pieces = xreallocarray(b->pieces, b->npieces + 1, sizeof(char *));
    b->pieces[b->npieces++] = result ? xasprintf("%s=%s", method, result) : xstrdup(method);
}

/* Add "PTYPE.PROPERTY=PVALUE" to the open method. */
static void ar_prop(ar_builder *b, const char *ptype, const char *property, const char *value)
{
    char *prefix = xasprintf("%s.%s=", ptype, property);

    b->pieces = xreallocarray(b->pieces, b->npieces + 1, sizeof(char *));
    b->pieces[b->npieces++] = ar_value(prefix, value, true);
    free(prefix);
}

/* Add "(TEXT)" to the open method: a comment, which A-R consumers ignore.
 * Only letters, digits, space and "-=.,:_" of text are kept, so the
 * comment cannot be closed early or run into a new line. */
static void ar_comment(ar_builder *b, const char *text)
{
    char *c = xmalloc(strlen(text) + 3);
    size_t o = 0;

    c[o++] = '(';
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (ar_is_alpha(*p) || ar_is_digit(*p) || strchr(" -=.,:_", *p) != NULL)
            c[o++] = (char)*p;
    c[o++] = ')';
    c[o] = '\0';
    b->pieces = xreallocarray(b->pieces, b->npieces + 1, sizeof(char *));
    b->pieces[b->npieces++] = c;
}

/* Place the open method after "; ".  It goes to a new line when it does not
 * fit on the current one; only a method longer than a line is folded
 * between its own pieces.  One column is kept free after the method for the
 * ";" of a next one. */
static void ar_method_end(ar_builder *b)
{
    size_t total = 1; /* the ";" that may follow */

    if (b->npieces == 0)
        return;
    for (size_t i = 0; i < b->npieces; i++)
        total += strlen(b->pieces[i]) + (i ? 1 : 0);
    ar_puts(b, ";");
    ar_space_or_fold(b, total);
    for (size_t i = 0; i < b->npieces; i++) {
        size_t n = strlen(b->pieces[i]);
        if (i > 0)
            ar_space_or_fold(b, n + (i + 1 == b->npieces ? 1 : 0));
        ar_put(b, b->pieces[i], n);
        free(b->pieces[i]);
    }
    b->npieces = 0;
}

static char *ar_finish(ar_builder *b)
{
    free(b->pieces);
    return strbuf_take(&b->text);
}

/* ---- methods ----------------------------------------------------------- */

/* RFC 8601 2.7.2 / RFC 7208 2.6 result keywords.  Kept here, not taken from
 * spfcheck_result_name(): these are protocol keywords, and "not evaluated"
 * must never reach the header. */
static const char *ar_spf_keyword(spfcheck_result r)
{
    switch (r) {
    case SPFCHECK_NONE: return "none";
    case SPFCHECK_NEUTRAL: return "neutral";
    case SPFCHECK_PASS: return "pass";
    case SPFCHECK_FAIL: return "fail";
    case SPFCHECK_SOFTFAIL: return "softfail";
    case SPFCHECK_TEMPERROR: return "temperror";
    case SPFCHECK_PERMERROR: return "permerror";
    case SPFCHECK_UNSET: break;
    }
    return NULL;
}

/* spf for MAIL FROM: smtp.mailfrom is the envelope sender, or
 * postmaster@HELO for the null sender (RFC 7208 2.4). */
static bool ar_spf_mailfrom(ar_builder *b, const facts_t *f)
{
    const char *res = ar_spf_keyword(f->spf_mfrom);
    char *pm = NULL;
    const char *from = f->mail_from;

    if (res == NULL)
        return false;
    if (from == NULL || *from == '\0')
        from = pm = xasprintf("postmaster@%s", f->helo ? f->helo : "");
    ar_method_begin(b, "spf", res);
    ar_prop(b, "smtp", "mailfrom", from);
    ar_method_end(b);
    free(pm);
    return true;
}

/* spf for HELO: smtp.helo is the HELO/EHLO argument (RFC 7208 2.3). */
static bool ar_spf_helo(ar_builder *b, const facts_t *f)
{
    const char *res = ar_spf_keyword(f->spf_helo);

    if (res == NULL)
        return false;
    ar_method_begin(b, "spf", res);
    ar_prop(b, "smtp", "helo", f->helo ? f->helo : "");
    ar_method_end(b);
    return true;
}

/* DNS lists have no registered method (RFC 8601 6.2): their result goes
 * into a trailing comment, "(dnsbl score=7 listed=zen:127.0.0.2)", which
 * A-R consumers ignore; only when a list matched (the decision line has the
 * score in every case).  Names come from the config (A-Z a-z 0-9 _ . -) and
 * answers are dotted quads, so the comment cannot be closed early. */
static void ar_dnsbl_comment(ar_builder *b, const facts_t *f)
{
    char *lists, *c;

    if (!f->dnsbl.evaluated)
        return;
    if ((lists = facts_dnsbl_matches(&f->dnsbl)) == NULL)
        return;
    c = xasprintf("(dnsbl score=%d listed=%s)", facts_dnsbl_score(&f->dnsbl), lists);
    ar_space_or_fold(b, strlen(c));
    ar_puts(b, c);
    free(c);
    free(lists);
}

/* dkim: one result per signature with header.d, header.i, header.s,
 * header.a and header.b (RFC 8601 2.7.1, RFC 6008: the first 8 characters
 * of b=, enough to tell signatures of one domain apart), after a result
 * other than pass the reason as a comment ("dkim=policy (key too small)");
 * "dkim=none" for an unsigned message; nothing when not evaluated.  Every
 * value comes from the message and goes through ar_prop()'s quoting; the
 * reasons are dkimcheck.c's fixed texts. */
static bool ar_dkim(ar_builder *b, const facts_t *f)
{
    if (f->dkim == DKIMCHECK_UNSET)
        return false;
    if (f->ndkim_sigs == 0) {
        ar_method_begin(b, "dkim", "none");
        ar_method_end(b);
        return true;
    }
    for (size_t i = 0; i < f->ndkim_sigs; i++) {
        const dkimcheck_sig *s = &f->dkim_sigs[i];
        ar_method_begin(b, "dkim", dkimcheck_result_name(s->result));
        if (s->result != DKIMCHECK_PASS && s->reason)
            ar_comment(b, s->reason);
        if (s->domain)
            ar_prop(b, "header", "d", s->domain);
        if (s->identity)
            ar_prop(b, "header", "i", s->identity);
        if (s->selector)
            ar_prop(b, "header", "s", s->selector);
        if (s->algorithm)
            ar_prop(b, "header", "a", s->algorithm);
        if (s->b)
            ar_prop(b, "header", "b", s->b);
        ar_method_end(b);
    }
    return true;
}

/* dmarc: "dmarc=RESULT (p=P sp=SP applied=A) header.from=DOMAIN" (the
 * comment has the published p and sp, and the policy to apply after t=y;
 * "(from=multiple)" etc. when the From header gave no single domain).
 * The comment holds fixed keywords only; the domain (A-labels, checked by
 * fromhdr.c) goes through ar_prop()'s quoting like any value. */
static bool ar_dmarc(ar_builder *b, const facts_t *f)
{
    const dmarccheck_output *d = &f->dmarc;
    char c[128];
    size_t o = 0;

    if (d->result == DMARCCHECK_UNSET)
        return false;
    ar_method_begin(b, "dmarc", dmarccheck_result_name(d->result));
    if (d->from != FROMHDR_OK) {
        o = (size_t)snprintf(c, sizeof(c), "(from=%s)", fromhdr_status_name(d->from));
    } else if (d->p != DMARCCHECK_POLICY_UNSET) {
        o = (size_t)snprintf(c, sizeof(c), "(p=%s", dmarccheck_policy_name(d->p));
        if (d->sp != DMARCCHECK_POLICY_UNSET)
            o += (size_t)snprintf(c + o, sizeof(c) - o, " sp=%s", dmarccheck_policy_name(d->sp));
        if (d->applied != DMARCCHECK_POLICY_UNSET)
            o += (size_t)snprintf(c + o, sizeof(c) - o, " applied=%s", dmarccheck_policy_name(d->applied));
        snprintf(c + o, sizeof(c) - o, ")");
    }
    if (o > 0) {
        b->pieces = xreallocarray(b->pieces, b->npieces + 1, sizeof(char *));
        b->pieces[b->npieces++] = xstrdup(c);
    }
    if (d->domain[0] != '\0')
        ar_prop(b, "header", "from", d->domain);
    ar_method_end(b);
    return true;
}

char *authres_format(const char *authserv_id, const facts_t *f)
{
    ar_builder b;
    bool any = false;

    ar_begin(&b, authserv_id ? authserv_id : "");
    if (f != NULL) {
        any |= ar_spf_mailfrom(&b, f);
        any |= ar_spf_helo(&b, f);
        any |= ar_dkim(&b, f);
        any |= ar_dmarc(&b, f);
    }
    if (!any) {
        ar_method_begin(&b, "none", NULL);
        ar_method_end(&b);
    }
    if (f != NULL)
        ar_dnsbl_comment(&b, f);
    return ar_finish(&b);
}

/* ---- recognising ours -------------------------------------------------- */

static char ar_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool ar_is_wsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip CFWS: white space, line breaks of folding, and comments (nested,
 * with quoted-pairs).  An unterminated comment runs to the end. */
static const char *ar_skip_cfws(const char *p)
{
    size_t depth = 0;

    while (*p) {
        if (depth == 0 && ar_is_wsp(*p)) {
            p++;
        } else if (*p == '(') {
            depth++;
            p++;
        } else if (depth > 0 && *p == ')') {
            depth--;
            p++;
        } else if (depth > 0 && *p == '\\') {
            p++;
            if (*p)
                p++;
        } else if (depth > 0) {
            p++;
        } else {
            break;
        }
    }
    return p;
}

/* ASCII case-insensitive comparison of s[0..n) with the string id. */
static bool ar_equals_id(const char *s, size_t n, const char *id)
{
    if (strlen(id) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ar_lower(s[i]) != ar_lower(id[i]))
            return false;
    return true;
}

/* Compare the quoted-string starting after the opening '"' at p with id:
 * quoted-pairs are unescaped, folding line breaks removed, white space
 * around the content ignored.  *end is set past the closing quote (or at
 * the NUL of an unterminated one, which then ends at the end of the value). */
static bool ar_quoted_equals(const char *p, const char *id, const char **end)
{
    char *buf = xmalloc(strlen(p) + 1);
    size_t n = 0, start = 0;
    bool eq;

    while (*p && *p != '"') {
        char c = *p++;
        if (c == '\\') {
            if (*p == '\0')
                break;
            c = *p++;
        } else if (c == '\r' || c == '\n') {
            continue;
        }
        buf[n++] = c;
    }
    *end = *p == '"' ? p + 1 : p;
    while (start < n && (buf[start] == ' ' || buf[start] == '\t'))
        start++;
    while (n > start && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    eq = ar_equals_id(buf + start, n - start, id);
    free(buf);
    return eq;
}

/*
 * Ours when, after optional CFWS, the authserv-id (token or quoted-string)
 * equals ours case-insensitively and is followed by CFWS, ";" or the end.
 * What comes after the id is not checked: RFC 8601 requires a version or
 * ";" there, but a header that starts with our id is removed even when the
 * rest is malformed (a forged partial header must not reach a consumer that
 * parses leniently; nobody else may use our id).  An id that runs on into
 * other characters ("ID.evil", "ID/x") is a different id: not ours.
 */
bool authres_is_ours(const char *authserv_id, const char *value)
{
    const char *p;
    size_t idlen;

    if (authserv_id == NULL || *authserv_id == '\0' || value == NULL)
        return false;
    p = ar_skip_cfws(value);
    if (*p == '"') {
        const char *end;
        if (!ar_quoted_equals(p + 1, authserv_id, &end))
            return false;
        p = end;
    } else {
        idlen = strlen(authserv_id);
        for (size_t i = 0; i < idlen; i++, p++)
            if (*p == '\0' || ar_lower(*p) != ar_lower(authserv_id[i]))
                return false;
    }
    return *p == '\0' || *p == ';' || *p == '(' || ar_is_wsp(*p);
}

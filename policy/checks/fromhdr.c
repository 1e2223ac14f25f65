/*
 * fromhdr.c - the RFC5322.From header field parser (fromhdr.h lists the
 * outcomes).
 *
 * Two bounded passes over the value: a lexer turns it into tokens (atoms,
 * quoted-strings, domain-literals and the specials < > , : ; @) dropping
 * white space, folding and comments; a walker splits the tokens into
 * mailboxes (at ',' and, inside a group, ';' outside an angle-addr), and
 * each mailbox yields its domain: the one of its angle-addr, else of the
 * "local@domain" it holds.  Domains go through libidn2 when they are not
 * ASCII.
 *
 * SECURITY: the value is hostile.  Its length is checked first
 * (FROMHDR_MAX_LEN); the token array is sized from it; comment nesting and
 * the number of mailboxes are bounded; domains are copied with their size.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "dname.h"
#include "fromhdr.h"
#include "xalloc.h"

static const char *const fromhdr_names[] = {
    [FROMHDR_UNSET] = "unset",
    [FROMHDR_OK] = "ok",
    [FROMHDR_NONE] = "none",
    [FROMHDR_MULTIPLE] = "multiple",
    [FROMHDR_MULTIPLE_DOMAINS] = "multiple_domains",
    [FROMHDR_NO_DOMAIN] = "no_domain",
    [FROMHDR_IP_LITERAL] = "ip_literal",
    [FROMHDR_INVALID] = "invalid",
};
#define FROMHDR_NNAMES (sizeof(fromhdr_names) / sizeof(fromhdr_names[0]))

const char *fromhdr_status_name(fromhdr_status st)
{
    return (unsigned)st < FROMHDR_NNAMES ? fromhdr_names[st] : "?";
}

bool fromhdr_status_parse(const char *name, fromhdr_status *out)
{
    for (size_t i = 1; name && i < FROMHDR_NNAMES; i++) {
        if (strcasecmp(name, fromhdr_names[i]) == 0) {
            *out = (fromhdr_status)i;
            return true;
        }
    }
    return false;
}

/* ---- lexer ---------------------------------------------------------------- */

typedef enum tok_type { TOK_ATOM, TOK_QSTR, TOK_DLIT, TOK_SPECIAL } tok_type;

typedef struct tok {
    tok_type type;
    const char *p; /* start in the value (for SPECIAL: the character) */
    size_t len;
} tok;

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
    return c == '<' || c == '>' || c == ',' || c == ':' || c == ';' || c == '@';
}

/* Tokens of v into t (room for strlen(v) tokens); false on unbalanced
 * quotes, comments, literals, or too deep comments. */
static bool fromhdr_lex(const char *v, tok *t, size_t *nt)
{
    const char *p = v;
    size_t n = 0;

    while (*p) {
        if (is_ws(*p)) {
            p++;
        } else if (*p == '(') {
            int depth = 0;
            do {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                else if (*p == '(' && ++depth > FROMHDR_MAX_DEPTH)
                    return false;
                else if (*p == ')')
                    depth--;
                p++;
            } while (depth > 0 && *p);
            if (depth > 0)
                return false;
        } else if (*p == '"' || *p == '[') {
            char close = *p == '"' ? '"' : ']';
            const char *s = p++;
            while (*p && *p != close) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                p++;
            }
            if (*p != close)
                return false;
            p++;
            t[n++] = (tok){close == '"' ? TOK_QSTR : TOK_DLIT, s, (size_t)(p - s)};
        } else if (is_special(*p)) {
            t[n++] = (tok){TOK_SPECIAL, p, 1};
            p++;
        } else if (*p == ')' || *p == ']') {
            return false;
        } else {
            const char *s = p;
            while (*p && !is_ws(*p) && !is_special(*p) && *p != '(' && *p != ')' && *p != '"' && *p != '[' &&
                   *p != ']')
                p++;
            t[n++] = (tok){TOK_ATOM, s, (size_t)(p - s)};
        }
    }
    *nt = n;
    return true;
}

static bool tok_is(const tok *t, char c)
{
    return t->type == TOK_SPECIAL && *t->p == c;
}

/* ---- domains ------------------------------------------------------------ */

/* The domain of an atom: lower case, no trailing dot, A-labels. */
static fromhdr_status fromhdr_domain(const tok *t, char *out)
{
    char buf[FROMHDR_DOMAIN_MAX * 4];
    size_t len = t->len;
    bool ascii = true;

    if (len > 0 && t->p[len - 1] == '.')
        len--;
    if (len == 0 || len >= sizeof(buf))
        return FROMHDR_INVALID;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t->p[i];
        if (c >= 0x80)
            ascii = false;
        buf[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    buf[len] = '\0';
    if (!ascii) {
        char *a = NULL;
        if (idn2_to_ascii_8z(buf, &a, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK || a == NULL) {
            idn2_free(a);
            return FROMHDR_INVALID;
        }
        if (strlen(a) >= FROMHDR_DOMAIN_MAX) {
            idn2_free(a);
            return FROMHDR_INVALID;
        }
        memcpy(buf, a, strlen(a) + 1);
        idn2_free(a);
        for (char *p = buf; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    if (!dname_valid(buf, strlen(buf)) || strlen(buf) >= FROMHDR_DOMAIN_MAX)
        return FROMHDR_INVALID;
    memcpy(out, buf, strlen(buf) + 1);
    return FROMHDR_OK;
}

/* ---- mailboxes ------------------------------------------------------------ */

/* An addr-spec t[a..b): local-part tokens, one '@', one domain token.
 * lenient: tokens before the local-part word are a display name.  On OK,
 * local gets the local-part word as written ("" if too long). */
static fromhdr_status fromhdr_addr_spec(const tok *t, size_t a, size_t b, bool lenient, char *dom,
                                        char *local)
{
    size_t at = b, nat = 0;

    for (size_t i = a; i < b; i++) {
        if (tok_is(&t[i], '@')) {
            at = i;
            nat++;
        } else if (t[i].type == TOK_SPECIAL) {
            return FROMHDR_INVALID;
        }
    }
    if (nat == 0)
        return FROMHDR_NO_DOMAIN;
    if (nat > 1 || at == a)
        return FROMHDR_INVALID;
    if (!lenient && at - a > 1) {
        /* local-part is one word or dot-separated words, already joined by
         * the lexer when unquoted: "a.b"; quoted-strings stand alone. */
        return FROMHDR_INVALID;
    }
    if (at + 1 == b)
        return FROMHDR_NO_DOMAIN;
    if (at + 2 != b)
        return FROMHDR_INVALID;
    if (t[at + 1].type == TOK_DLIT)
        return FROMHDR_IP_LITERAL;
    if (t[at + 1].type != TOK_ATOM)
        return FROMHDR_INVALID;
    if (t[at - 1].len < FROMHDR_LOCAL_MAX) {
        memcpy(local, t[at - 1].p, t[at - 1].len);
        local[t[at - 1].len] = '\0';
    }
    return fromhdr_domain(&t[at + 1], dom);
}

/* One mailbox t[a..b) (no ',' at top level inside); its domain into dom,
 * its local part into local. */
static fromhdr_status fromhdr_mailbox(const tok *t, size_t a, size_t b, char *dom, char *local)
{
    size_t lt = b, gt = b;

    for (size_t i = a; i < b; i++) {
        if (tok_is(&t[i], '<')) {
            if (lt != b)
                return FROMHDR_INVALID;
            lt = i;
        } else if (tok_is(&t[i], '>')) {
            if (lt == b || gt != b)
                return FROMHDR_INVALID;
            gt = i;
        }
    }
    if (lt == b)
        return fromhdr_addr_spec(t, a, b, true, dom, local);
    if (gt == b || gt + 1 != b)
        return FROMHDR_INVALID; /* unterminated, or text after '>' */
    a = lt + 1;
    /* obsolete source route: "@a,@b:" before the address */
    if (a < gt && tok_is(&t[a], '@')) {
        while (a < gt && !tok_is(&t[a], ':'))
            a++;
        if (a == gt)
            return FROMHDR_INVALID;
        a++;
    }
    if (a == gt)
        return FROMHDR_NO_DOMAIN; /* "<>" */
    return fromhdr_addr_spec(t, a, gt, false, dom, local);
}

/* Fold one mailbox's result into out; false to stop (invalid). */
static bool fromhdr_add_mailbox(fromhdr_value *out, fromhdr_status st, const char *dom, fromhdr_status *worst)
{
    out->nmailboxes++;
    if (out->nmailboxes > FROMHDR_MAX_MAILBOXES) {
        *worst = FROMHDR_INVALID;
        return false;
    }
    if (st == FROMHDR_OK) {
        if (out->domain[0] == '\0')
            memcpy(out->domain, dom, strlen(dom) + 1);
        else if (strcmp(out->domain, dom) != 0 && *worst == FROMHDR_OK)
            *worst = FROMHDR_MULTIPLE_DOMAINS;
        return true;
    }
    /* invalid > no_domain > ip_literal > multiple_domains > ok */
    if (st == FROMHDR_INVALID)
        *worst = FROMHDR_INVALID;
    else if (st == FROMHDR_NO_DOMAIN && *worst != FROMHDR_INVALID)
        *worst = FROMHDR_NO_DOMAIN;
    else if (st == FROMHDR_IP_LITERAL && (*worst == FROMHDR_OK || *worst == FROMHDR_MULTIPLE_DOMAINS))
        *worst = FROMHDR_IP_LITERAL;
    return *worst != FROMHDR_INVALID;
}

void fromhdr_parse(const char *value, fromhdr_value *out)
{
    size_t len = value ? strlen(value) : 0, nt = 0, start = 0;
    fromhdr_status worst = FROMHDR_OK;
    bool in_group = false, in_angle = false;
    tok *t;

    memset(out, 0, sizeof(*out));
    if (len > FROMHDR_MAX_LEN) {
        out->status = FROMHDR_INVALID;
        return;
    }
    t = xcalloc(len + 1, sizeof(tok));
    if (!fromhdr_lex(value ? value : "", t, &nt)) {
        free(t);
        out->status = FROMHDR_INVALID;
        return;
    }
    for (size_t i = 0; i <= nt && worst != FROMHDR_INVALID; i++) {
        bool end = i == nt;
        char dom[FROMHDR_DOMAIN_MAX], local[FROMHDR_LOCAL_MAX];

        if (!end && tok_is(&t[i], '<')) {
            in_angle = true;
            continue;
        }
        if (!end && tok_is(&t[i], '>')) {
            in_angle = false;
            continue;
        }
        if (!end && in_angle)
            continue;
        if (!end && tok_is(&t[i], ':')) {
            if (in_group) {
                worst = FROMHDR_INVALID; /* nested group */
                break;
            }
            in_group = out->group = true;
            start = i + 1; /* the display name of the group is dropped */
            continue;
        }
        if (!end && !tok_is(&t[i], ',') && !tok_is(&t[i], ';'))
            continue;
        if (!end && tok_is(&t[i], ';')) {
            if (!in_group) {
                worst = FROMHDR_INVALID;
                break;
            }
            in_group = false;
        }
        if (i > start) {
            fromhdr_status st;
            dom[0] = local[0] = '\0';
            st = fromhdr_mailbox(t, start, i, dom, local);
            if (st == FROMHDR_OK && out->nmailboxes == 0 && local[0] != '\0')
                snprintf(out->address, sizeof(out->address), "%s@%s", local, dom);
            fromhdr_add_mailbox(out, st, dom, &worst);
        }
        start = i + 1;
    }
    if (in_angle)
        worst = FROMHDR_INVALID;
    if (worst == FROMHDR_OK && out->nmailboxes == 0)
        worst = FROMHDR_NO_DOMAIN;
    out->status = worst;
    free(t);
}

/* ---- the message ------------------------------------------------------------ */

void fromhdr_msg_reset(fromhdr_msg *m)
{
    memset(m, 0, sizeof(*m));
}

void fromhdr_msg_add(fromhdr_msg *m, const char *value)
{
    if (m->nfields++ == 0)
        fromhdr_parse(value, &m->first);
}

fromhdr_status fromhdr_msg_status(const fromhdr_msg *m)
{
    if (m->nfields == 0)
        return FROMHDR_NONE;
    if (m->nfields > 1)
        return FROMHDR_MULTIPLE;
    return m->first.status;
}

const char *fromhdr_msg_domain(const fromhdr_msg *m)
{
    return fromhdr_msg_status(m) == FROMHDR_OK ? m->first.domain : NULL;
}

const char *fromhdr_msg_address(const fromhdr_msg *m)
{
    return fromhdr_msg_status(m) == FROMHDR_OK && m->first.nmailboxes == 1 && m->first.address[0] != '\0'
               ? m->first.address
               : NULL;
}

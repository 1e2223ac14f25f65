/*
 * dmarcmail.c - the report mail as bytes (dmarcmail.h has the layout and
 * the rules on values).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nettle/base64.h>

#include "dmarcmail.h"
#include "strbuf.h"

#define DM_FOLD 78        /* header line length aimed at */
#define DM_B64_IN 57      /* bytes of input per base64 line: 76 characters */
#define DM_VALUE_MAX 900  /* bytes of any one header value */

static void dm_err(char *err, size_t errsz, const char *what)
{
    if (errsz > 0)
        snprintf(err, errsz, "%s", what);
}

/* Printable ASCII (space too when allow_space), none of bad, 1..DM_VALUE_MAX bytes. */
static bool dm_ok(const char *v, bool allow_space, const char *bad)
{
    size_t n;

    if (v == NULL || (n = strlen(v)) == 0 || n > DM_VALUE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c > 0x7e || c < 0x20 || (c == ' ' && !allow_space) || strchr(bad, c) != NULL)
            return false;
    }
    return true;
}

/* An address: one '@' with something on both sides, no RFC 5322 specials
 * that would let it become a list, a display name or a comment. */
static bool dm_addr_ok(const char *a)
{
    const char *at;

    if (!dm_ok(a, false, "()<>[]:;,\\\""))
        return false;
    at = strchr(a, '@');
    return at != NULL && at != a && at[1] != '\0' && strchr(at + 1, '@') == NULL;
}

bool dmarcmail_date(int64_t t, char *out, size_t outsz)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    int n;

    if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 < 1900 || tm.tm_year + 1900 > 9999)
        return false;
    n = snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n > 0 && (size_t)n < outsz;
}

/* "YYYY-MM-DDTHH:MM:SSZ" for the text part. */
static void dm_iso(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/* A header field "name: value", folded at spaces before DM_FOLD where a
 * word allows it. */
static void dm_header(strbuf *b, const char *name, const char *value, const char *eol)
{
    size_t col = strlen(name) + 1;
    bool fresh = true; /* no word on this line yet */
    const char *p = value;

    strbuf_adds(b, name);
    strbuf_adds(b, ":");
    if (*p != ' ') {
        strbuf_adds(b, " ");
        col++;
    }
    while (*p != '\0') {
        const char *sp = strchr(p + 1, ' ');
        size_t wlen = sp ? (size_t)(sp - p) : strlen(p); /* a word with its leading space */
        if (!fresh && col + wlen > DM_FOLD) {
            strbuf_adds(b, eol); /* the word's space starts the continuation line */
            col = 0;
        }
        strbuf_add(b, p, wlen);
        col += wlen;
        fresh = false;
        p += wlen;
    }
    strbuf_adds(b, eol);
}

/* A boundary unique to the mail: "=_mxguard_" and a hash of its Message-ID. */
static void dm_boundary(const char *message_id, char out[64])
{
    uint64_t h = 1469598103934665603ull;

    for (const char *p = message_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    snprintf(out, 64, "=_mxguard_%016llx", (unsigned long long)h);
}

static void dm_text_part(strbuf *b, const dmarcmail_input *in, const char *eol)
{
    char begin[32], end[32];

    dm_iso(in->begin, begin);
    dm_iso(in->end, end);
    strbuf_addf(b, "Content-Type: text/plain; charset=us-ascii%s", eol);
    strbuf_addf(b, "Content-Transfer-Encoding: 7bit%s%s", eol, eol);
    strbuf_addf(b, "This is a DMARC aggregate report (RFC 9990) from %s%s", in->receiver, eol);
    strbuf_addf(b, "for the policy domain %s,%s", in->policy_domain, eol);
    strbuf_addf(b, "messages received from %s to %s.%s", begin, end, eol);
    strbuf_addf(b, "The report is attached, gzip-compressed XML.%s", eol);
}

static void dm_attachment(strbuf *b, const dmarcmail_input *in, const char *eol)
{
    char line[BASE64_ENCODE_RAW_LENGTH(DM_B64_IN) + 1];

    strbuf_addf(b, "Content-Type: application/gzip;%s name=\"%s\"%s", eol, in->filename, eol);
    strbuf_addf(b, "Content-Transfer-Encoding: base64%s", eol);
    strbuf_addf(b, "Content-Disposition: attachment;%s filename=\"%s\"%s%s", eol, in->filename, eol, eol);
    for (size_t off = 0; off < in->gzlen; off += DM_B64_IN) {
        size_t n = in->gzlen - off < DM_B64_IN ? in->gzlen - off : DM_B64_IN;
        base64_encode_raw(line, n, in->gz + off);
        strbuf_add(b, line, BASE64_ENCODE_RAW_LENGTH(n));
        strbuf_adds(b, eol);
    }
}

static bool dm_check(const dmarcmail_input *in, char *err, size_t errsz)
{
    const char *why = NULL;

    if (!dm_addr_ok(in->from))
        why = "the From address is not a plain address";
    else if (!dm_addr_ok(in->to))
        why = "the To address is not a plain address";
    else if (!dm_ok(in->subject, true, ""))
        why = "the Subject is empty, too long or not printable ASCII";
    else if (!dm_addr_ok(in->message_id))
        why = "the Message-ID is not left@right";
    else if (!dm_ok(in->filename, false, "\"\\/"))
        why = "the file name is empty, too long or has a character it must not have";
    else if (!dm_ok(in->receiver, false, "=") || !dm_ok(in->policy_domain, false, "="))
        why = "the receiver or policy domain is not printable ASCII";
    else if (in->gz == NULL || in->gzlen == 0)
        why = "no report to attach";
    if (why != NULL)
        dm_err(err, errsz, why);
    return why == NULL;
}

char *dmarcmail_render(const dmarcmail_input *in, size_t *len, char *err, size_t errsz)
{
    const char *eol = in->crlf ? "\r\n" : "\n";
    char date[40], boundary[64], mid[DM_VALUE_MAX + 3];
    strbuf b = {0};
    char *out;

    if (!dm_check(in, err, errsz))
        return NULL;
    if (!dmarcmail_date(in->date, date, sizeof(date))) {
        dm_err(err, errsz, "the date is out of range");
        return NULL;
    }
    dm_boundary(in->message_id, boundary);
    snprintf(mid, sizeof(mid), "<%s>", in->message_id);
    dm_header(&b, "From", in->from, eol);
    dm_header(&b, "To", in->to, eol);
    dm_header(&b, "Subject", in->subject, eol);
    dm_header(&b, "Date", date, eol);
    dm_header(&b, "Message-ID", mid, eol);
    dm_header(&b, "MIME-Version", "1.0", eol);
    dm_header(&b, "Auto-Submitted", "auto-generated", eol);
    strbuf_addf(&b, "Content-Type: multipart/mixed;%s boundary=\"%s\"%s%s", eol, boundary, eol, eol);
    strbuf_addf(&b, "This is a multi-part message in MIME format.%s%s", eol, eol);
    strbuf_addf(&b, "--%s%s", boundary, eol);
    dm_text_part(&b, in, eol);
    strbuf_addf(&b, "%s--%s%s", eol, boundary, eol);
    dm_attachment(&b, in, eol);
    strbuf_addf(&b, "%s--%s--%s", eol, boundary, eol);
    *len = b.len;
    out = strbuf_take(&b);
    return out;
}

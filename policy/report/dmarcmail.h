/*
 * dmarcmail.h - the mail that carries one DMARC aggregate report (RFC 9990
 * 3.1.1) to one destination, as the bytes handed to `sendmail -i`:
 *
 *   From, To, Subject (dmarcxml_subject), Date (RFC 5322, UTC),
 *   Message-ID, MIME-Version, Auto-Submitted: auto-generated, and a
 *   multipart/mixed body: a short text/plain part (us-ascii, 7bit) that
 *   says what the report is, and the gzip'd report as application/gzip,
 *   base64 (nettle) in lines of 76, named by dmarcxml_filename.
 *
 * Lines end in LF (what `sendmail -i` on a pipe expects) or CRLF, one or
 * the other throughout.  Header lines are folded at spaces to stay within
 * 78 characters where a word allows it (never past RFC 5322's 998).  The
 * boundary starts with "=_", which neither base64 nor the text part can
 * contain.
 *
 * Values are checked, not trusted: an address, Message-ID, Subject or
 * file name with a control byte, a non-ASCII byte or a character that
 * would end its header field early is refused (NULL with the reason), so a
 * hostile rua or config value can never add a header or a recipient.
 * Nothing here does I/O or logs; the input belongs to the caller.
 */
#ifndef MXG_DMARCMAIL_H
#define MXG_DMARCMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dmarcmail_input {
    const char *from;          /* reports.email: local@domain */
    const char *to;            /* one destination: local@domain (rua.h) */
    const char *subject;       /* dmarcxml_subject() */
    const char *message_id;    /* without <>: left@right */
    int64_t date;              /* UTC seconds: the Date header */
    const char *receiver;      /* for the text part: who reports */
    const char *policy_domain; /* for the text part: about which domain */
    int64_t begin, end;        /* for the text part: the period */
    const char *filename;      /* dmarcxml_filename() */
    const unsigned char *gz;   /* the attachment: gzip'd XML */
    size_t gzlen;
    bool crlf;                 /* CRLF line ends, else LF */
} dmarcmail_input;

/* The mail (caller frees; *len its bytes, NUL-terminated too) or NULL with
 * the reason in err (errsz bytes) when a value is refused. */
char *dmarcmail_render(const dmarcmail_input *in, size_t *len, char *err, size_t errsz);

/* RFC 5322 date-time of t in UTC, "Thu, 01 Jan 1970 00:00:00 +0000", into
 * out (at least 32 bytes); false when t does not fit a struct tm. */
bool dmarcmail_date(int64_t t, char *out, size_t outsz);

#endif

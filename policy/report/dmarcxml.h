/*
 * dmarcxml.h - one DMARC aggregate report (RFC 9990) as a document: the
 * XML in namespace urn:ietf:params:xml:ns:dmarc-2.0 with its elements in
 * the order the schema fixes, its gzip form, the attachment's file name and
 * the report mail's Subject.  Input is plain C data that the caller owns;
 * nothing here keeps a pointer to it, does I/O or logs.
 *
 * What reaches the document (values come from hostile mail):
 *   - Domains (policy domain, receiver, header_from, envelope_from,
 *     envelope_to, DKIM d= and s=, SPF domain) must be domain names as
 *     dname.h defines them (ASCII letters, digits, '-', '_'; A-labels for
 *     IDNs); they are written lower case without a trailing dot.
 *   - A row whose source_ip is not an IPv4 or IPv6 address, whose count is
 *     0, or whose header_from, envelope_from or envelope_to is not a domain
 *     name is skipped whole (counted in dmarcxml_stats.rows_skipped): the
 *     report must not carry a value the schema's reader cannot trust.
 *   - A DKIM or SPF result whose domain (or selector) is not a domain name
 *     is left out of its row (counted in dkim_dropped / spf_dropped); the
 *     row's policy_evaluated still tells the DMARC outcome.
 *   - Free text (org_name, email, extra_contact_info, generator, reason
 *     comments, human_result) is escaped: & < > " ' as entities, control
 *     bytes (C0, DEL, C1) and bytes that are not well-formed UTF-8 as '?';
 *     well-formed UTF-8 other than U+FFFE/U+FFFF is kept.  At most
 *     DMARCXML_TEXT_MAX input bytes of each are written.
 *   - At most DMARCXML_DKIM_MAX DKIM results a row: aligned passes first
 *     (in input order), then the others in input order; the rest are
 *     dropped (counted in dkim_dropped).
 */
#ifndef MXG_DMARCXML_H
#define MXG_DMARCXML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMARCXML_NS "urn:ietf:params:xml:ns:dmarc-2.0"
#define DMARCXML_DKIM_MAX 100
#define DMARCXML_TEXT_MAX 1024
#define DMARCXML_UNIQUE_ID_MAX 64
#define DMARCXML_REPORT_ID_MAX 128

/* p=, sp=, np= of the DMARC policy record */
typedef enum dmarcxml_policy {
    DMARCXML_POLICY_NONE,
    DMARCXML_POLICY_QUARANTINE,
    DMARCXML_POLICY_REJECT
} dmarcxml_policy;

/* what mxguard applied to the row's messages */
typedef enum dmarcxml_disposition {
    DMARCXML_DISP_NONE,
    DMARCXML_DISP_PASS,
    DMARCXML_DISP_QUARANTINE,
    DMARCXML_DISP_REJECT
} dmarcxml_disposition;

typedef enum dmarcxml_reason_type {
    DMARCXML_REASON_LOCAL_POLICY,
    DMARCXML_REASON_MAILING_LIST,
    DMARCXML_REASON_OTHER,
    DMARCXML_REASON_POLICY_TEST_MODE,
    DMARCXML_REASON_TRUSTED_FORWARDER
} dmarcxml_reason_type;

typedef enum dmarcxml_discovery {
    DMARCXML_DISCOVERY_TREEWALK,
    DMARCXML_DISCOVERY_PSL
} dmarcxml_discovery;

/* RFC 8601 2.7.1 DKIM results */
typedef enum dmarcxml_dkim_result {
    DMARCXML_DKIM_NONE,
    DMARCXML_DKIM_PASS,
    DMARCXML_DKIM_FAIL,
    DMARCXML_DKIM_POLICY,
    DMARCXML_DKIM_NEUTRAL,
    DMARCXML_DKIM_TEMPERROR,
    DMARCXML_DKIM_PERMERROR
} dmarcxml_dkim_result;

/* RFC 8601 2.7.2 SPF results */
typedef enum dmarcxml_spf_result {
    DMARCXML_SPF_NONE,
    DMARCXML_SPF_PASS,
    DMARCXML_SPF_FAIL,
    DMARCXML_SPF_SOFTFAIL,
    DMARCXML_SPF_POLICY,
    DMARCXML_SPF_NEUTRAL,
    DMARCXML_SPF_TEMPERROR,
    DMARCXML_SPF_PERMERROR
} dmarcxml_spf_result;

typedef struct dmarcxml_reason {
    dmarcxml_reason_type type;
    const char *comment; /* NULL: no comment element */
} dmarcxml_reason;

typedef struct dmarcxml_dkim {
    const char *domain;   /* d= */
    const char *selector; /* s= */
    dmarcxml_dkim_result result;
    bool aligned;             /* d= aligned with header_from (orders the list) */
    const char *human_result; /* NULL: none */
} dmarcxml_dkim;

/* The one SPF result of a row; its scope is always mfrom. */
typedef struct dmarcxml_spf {
    const char *domain;
    dmarcxml_spf_result result;
    const char *human_result; /* NULL: none */
} dmarcxml_spf;

typedef struct dmarcxml_row {
    const char *source_ip; /* IPv4 or IPv6 text; written in canonical form */
    uint64_t count;        /* messages; 0 skips the row */
    dmarcxml_disposition disposition;
    bool dkim_aligned_pass; /* policy_evaluated dkim: pass / fail */
    bool spf_aligned_pass;  /* policy_evaluated spf: pass / fail */
    const dmarcxml_reason *reasons;
    size_t nreasons;
    const char *header_from;
    const char *envelope_from; /* "" for the null sender <>; NULL: omitted */
    const char *envelope_to;   /* NULL: omitted */
    const dmarcxml_dkim *dkim;
    size_t ndkim;
    const dmarcxml_spf *spf; /* NULL: no SPF result */
} dmarcxml_row;

typedef struct dmarcxml_meta {
    const char *org_name;           /* required, free text */
    const char *email;              /* required, free text */
    const char *extra_contact_info; /* NULL: omitted */
    const char *report_id; /* RFC 9990 ridfmt: dot-atom-text ["@" dot-atom-text] */
    const char *receiver;  /* the reporting receiver's domain (file name, Submitter) */
    const char *unique_id; /* 1*(ALPHA / DIGIT), for the file name */
    int64_t begin, end;    /* UTC seconds since the epoch, begin <= end */
    const char *generator; /* NULL: omitted */
} dmarcxml_meta;

typedef struct dmarcxml_published {
    const char *domain; /* where the DMARC record was found */
    dmarcxml_policy p;
    bool has_sp;
    dmarcxml_policy sp;
    bool has_np;
    dmarcxml_policy np;
    char adkim, aspf; /* 'r', 's', or 0 to omit */
    dmarcxml_discovery discovery;
    bool testing; /* t=y */
} dmarcxml_published;

typedef struct dmarcxml_report {
    dmarcxml_meta meta;
    dmarcxml_published policy;
    const dmarcxml_row *rows;
    size_t nrows;
} dmarcxml_report;

/* What dmarcxml_render() left out. */
typedef struct dmarcxml_stats {
    size_t rows_written;
    size_t rows_skipped;
    size_t dkim_dropped;
    size_t spf_dropped;
} dmarcxml_stats;

/* The XML document (caller frees) or NULL when the report cannot be
 * written: invalid metadata or policy domain, or no row left to write (the
 * schema requires one record); then err (errsz bytes) says why.  stats,
 * when not NULL, is filled either way. */
char *dmarcxml_render(const dmarcxml_report *r, dmarcxml_stats *stats, char *err, size_t errsz);

/* gzip (RFC 1952, mtime 0, so a re-send is byte for byte the same) of
 * data[0..len) into *out (caller frees), *outlen bytes.  false on a zlib
 * error (then *out is NULL). */
bool dmarcxml_gzip(const char *data, size_t len, unsigned char **out, size_t *outlen);

/* "receiver!policy-domain!begin!end!unique-id.xml.gz" (caller frees), or
 * NULL when one of them is invalid. */
char *dmarcxml_filename(const dmarcxml_report *r);

/* "Report Domain: D Submitter: S Report-ID: <ID>" (caller frees), or NULL
 * when one of them is invalid. */
char *dmarcxml_subject(const dmarcxml_report *r);

#endif

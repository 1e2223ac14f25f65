/*
 * conf.h - the mxguard.conf loader (libconfig syntax).
 *
 * A conf_t is an immutable snapshot: once loaded nobody changes it; a
 * reload loads a new one and swaps it whole (milter/snapshot.h).  Its fields
 * are public and read-only, like Postfix's var_* parameters.  Loading checks
 * everything it can without side effects (syntax, unknown keys, types,
 * ranges, result and action names, network and socket syntax, the user) and
 * reports every error as FILE:LINE: reason.
 */
#ifndef MXG_CONF_H
#define MXG_CONF_H

#include <stdbool.h>

#include "cidr.h"
#include "dnsbl.h"
#include "rules.h"

typedef struct conf {
    char *path;            /* file it was loaded from */
    char *socket;          /* "unix:/path", "inet:PORT@HOST", "inet6:PORT@HOST" (engine.h);
                              inet:HOST:PORT as written is stored as inet:PORT@HOST */
    char *user;            /* drop privileges to this user, or NULL */
    bool allow_root;       /* may run as root (euid 0) without a user */
    unsigned socket_mode;  /* permission bits of a unix socket (default 0660) */
    char *socket_group;    /* group of a unix socket, or NULL (the user's) */
    char *pidfile;         /* write the pid here, or NULL */
    char *syslog_facility; /* "mail" by default */
    char *log_file;        /* also append log lines here, or NULL (log.h) */
    char *authserv_id;     /* A-R authserv-id; default: the host name */
    bool authserv_id_set;  /* authserv_id is in the file (else the MTA's {j} comes first) */
    unsigned milter_timeout; /* seconds the engine waits for the MTA */
    char *metrics;         /* Prometheus endpoint "ADDR:PORT", or NULL (off) */
    int socket_line;       /* config line of socket, pidfile; 0: not set */
    int pidfile_line;
    /* dns { } */
    char *dns_upstream;    /* "system" or "ADDR[@PORT]" */
    unsigned dns_timeout_ms;
    /* spf { } */
    bool spf_enabled;      /* evaluate SPF of MAIL FROM */
    bool spf_helo;         /* evaluate SPF of the HELO identity */
    /* authentication_results { } */
    bool authres_add;      /* insert our A-R header */
    bool authres_strip;    /* remove A-R headers that carry our authserv-id */
    /* dkim { } */
    bool dkim_enabled;     /* verify DKIM signatures (the body is then read) */
    unsigned dkim_min_key_bits;   /* smaller keys give dkim=policy */
    unsigned dkim_max_signatures; /* verified per message; the rest policy */
    unsigned dkim_clock_skew;     /* seconds t= may lie in the future */
    char **dkim_required_headers; /* NULL-terminated, lower case; may be empty */
    /* dmarc { } */
    bool dmarc_enabled;    /* evaluate DMARC at end of message */
    char *dmarc_mode;      /* "rfc9989" or "rfc7489" */
    char *dmarc_psl_file;  /* Public Suffix List (rfc7489 mode) */
    unsigned dmarc_max_queries; /* DNS queries per message */
    unsigned dmarc_timeout_ms;  /* time per message for its DMARC lookups */
    cidr_list *trusted;    /* trusted_networks: checks skipped, "trusted" condition */
    rules_t *rules;        /* the policy table */
    dnsbl_conf_t *dnsbl;   /* dnsbl lists and dnsbl_options (never NULL once loaded) */
    /* reports { }: DMARC aggregate reports (RFC 9990) */
    bool reports_enabled;       /* the daemon records report rows */
    char *reports_store;        /* "sqlite:/PATH" or "postgresql://..." (rstore.h) */
    char *reports_org_name;     /* required when enabled (else NULL) */
    char *reports_email;        /* required when enabled (else NULL): metadata, From, sender */
    char *reports_receiver;     /* the reporting domain: as set, else email's domain (NULL without email) */
    char *reports_extra_contact_info; /* or NULL */
    unsigned reports_flush_interval;  /* seconds between flushes to the store */
    unsigned reports_max_rows;        /* distinct rows held in memory */
    unsigned reports_retention_days;  /* stored reports kept this long after their period */
    char *reports_sendmail;           /* the MTA's sendmail program */
    unsigned reports_rate_limit;      /* reports per destination per hour, 0: no limit */
    unsigned reports_max_recipients;  /* rua addresses a report goes to */
    int reports_line;                 /* line of the reports group; 0: absent */
} conf_t;

/* Defaults of reports { }. */
#define REPORTS_DEFAULT_STORE "sqlite:/var/lib/mxguard/reports.db"
#define REPORTS_DEFAULT_FLUSH_INTERVAL 60u
#define REPORTS_DEFAULT_MAX_ROWS 100000u
#define REPORTS_DEFAULT_RETENTION_DAYS 30u
#define REPORTS_DEFAULT_SENDMAIL "/usr/sbin/sendmail"
#define REPORTS_DEFAULT_RATE_LIMIT 60u
#define REPORTS_DEFAULT_MAX_RECIPIENTS 4u
/* The longest reports.receiver: the Report-ID "<16 hex digits>@<receiver>"
 * must fit DMARCXML_REPORT_ID_MAX (128) characters (report.c checks the sum). */
#define REPORTS_RECEIVER_MAX 111u

/* Called once per error, in file order.  An error about the file as a whole
 * (missing, unreadable, not a regular file) is "FILE: reason". */
typedef void (*conf_error_fn)(const char *msg /* "FILE:LINE: reason" */, void *arg);

/* Load a file.  Returns NULL after reporting every error through errfn
 * (which may be NULL: errors are then logged with log_error). */
conf_t *conf_load(const char *path, conf_error_fn errfn, void *arg);
/* Load from a string; name stands for the file name in messages. */
conf_t *conf_load_string(const char *text, const char *name, conf_error_fn errfn, void *arg);
void conf_free(conf_t *c);

/* What only starting the daemon needs, not a reload (which keeps the socket
 * and pidfile): the directories of the pidfile and of a unix socket exist.
 * Reports each problem as FILE:LINE: reason through errfn (NULL: log_error)
 * and returns how many there were.  mxguard -n and the start call it. */
size_t conf_check_start(const conf_t *c, conf_error_fn errfn, void *arg);

#endif

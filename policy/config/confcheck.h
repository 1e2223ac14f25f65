/*
 * confcheck.h - the syntax of mxguard.conf's string values: the milter
 * socket, user and group names, paths, the log file, the syslog facility,
 * the authserv-id, the DNS upstream, the metrics listener, the DMARC mode,
 * the PSL file and the DMARC report settings.  The key tables of conf.c name these as their checks.
 *
 * Each check returns true for a good value, else false with the reason in
 * err (errlen bytes), without FILE:LINE (the loader adds it).  Checking has
 * no side effect: a user or group is looked up, a directory stat()ed,
 * nothing is opened or created.
 */
#ifndef MXG_CONFCHECK_H
#define MXG_CONFCHECK_H

#include <stdbool.h>
#include <stddef.h>

/* unix:/path, local:/path, inet:PORT@HOST, inet:HOST:PORT, inet:[IPV6]:PORT,
 * inet6:PORT@HOST. */
bool confcheck_socket(const char *v, char *err, size_t errlen);
/* The engine's spelling of a valid socket (inet:PORT@HOST, inet6:PORT@IPV6
 * for the HOST:PORT forms; a copy of anything else).  Caller frees. */
char *confcheck_socket_canonical(const char *v);
/* An existing user / group. */
bool confcheck_user(const char *v, char *err, size_t errlen);
bool confcheck_group(const char *v, char *err, size_t errlen);
/* An absolute path. */
bool confcheck_path(const char *v, char *err, size_t errlen);
/* log_file: an absolute path in a directory that exists, not a directory. */
bool confcheck_log_file(const char *v, char *err, size_t errlen);
/* A syslog facility name (mail, daemon, user, local0..local7). */
bool confcheck_facility(const char *v, char *err, size_t errlen);
/* A host name usable as the authserv-id of an A-R header. */
bool confcheck_authserv_id(const char *v, char *err, size_t errlen);
/* "system" or a forwarder ADDR[@PORT]. */
bool confcheck_upstream(const char *v, char *err, size_t errlen);
/* The metrics listener ADDR:PORT. */
bool confcheck_metrics(const char *v, char *err, size_t errlen);
/* "rfc9989" or "rfc7489". */
bool confcheck_dmarc_mode(const char *v, char *err, size_t errlen);
/* dmarc.psl_file: an absolute path to a readable file. */
bool confcheck_psl(const char *v, char *err, size_t errlen);
/* reports.store: sqlite:/PATH or a postgresql:// (postgres://) URI (rstore.h). */
bool confcheck_report_store(const char *v, char *err, size_t errlen);
/* reports.email: local@domain, the domain a valid host name, no spaces,
 * quotes or angle brackets (it becomes a header, an envelope sender and an
 * XML value). */
bool confcheck_report_email(const char *v, char *err, size_t errlen);
/* reports.receiver: a domain name of at most REPORTS_RECEIVER_MAX (conf.h)
 * characters. */
bool confcheck_report_receiver(const char *v, char *err, size_t errlen);
/* reports.org_name, reports.extra_contact_info: 1 to 1024 bytes of text
 * without control characters. */
bool confcheck_report_text(const char *v, char *err, size_t errlen);
/* reports.sendmail: an absolute path. */
bool confcheck_report_sendmail(const char *v, char *err, size_t errlen);

#endif

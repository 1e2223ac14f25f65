/*
 * log.h - the one logging channel of mxguard.
 *
 * Severities mean fixed things: info (normal events, the decision line),
 * warn (recoverable trouble: a DNS server timing out, a bad reload), error
 * (a message could not be handled as configured), fatal (the environment
 * makes running impossible: logs and exits 1).  Messages go to syslog, to a
 * log file when one is open (log_file: hosts without syslog) and, when
 * enabled, to stderr.  Tests capture the output with log_capture().
 * Logging is thread-safe.
 */
#ifndef MXG_LOG_H
#define MXG_LOG_H

#include <stdbool.h>
#include <stdarg.h>

/* Open syslog with ident "mxguard" and the facility name ("mail", "local0",
 * ...); returns false for an unknown facility name.  Until called, nothing goes
 * to syslog. */
bool log_open_syslog(const char *facility);
/* Translate a facility name to its LOG_* value; -1 if unknown. */
int log_facility_value(const char *name);
/* Also write every message to stderr (foreground mode, -n, tools). */
void log_set_stderr(bool on);

/* Also append every message to the file at path (created mode 0640 if
 * missing), one line each, time-stamped like a syslog file in RFC 3339
 * form (log_format_line), which "mxguard summary" reads.  path NULL closes
 * it.  On failure the file in use (if any) stays and err says why. */
bool log_open_file(const char *path, char *err, size_t errlen);
/* Open the same path again (after logrotate renamed it: SIGUSR1, SIGHUP).
 * True if no file is configured; on failure the old one stays. */
bool log_reopen_file(char *err, size_t errlen);
/* The path of the open log file, or NULL; valid until the next open (call
 * from the thread that opens). */
const char *log_file_path(void);
/* One log file line for msg at time t (seconds, microseconds) with
 * newline: "2026-12-04T20:41:25.123456+00:00 HOST mxguard[PID]: msg"
 * with the level prefix ("warning: ", ...); returns its length, truncated
 * to len - 1. */
size_t log_format_line(char *buf, size_t len, long sec, long usec, const char *host, long pid, int level,
                       const char *msg);

/* A capture callback receives every formatted message (after level prefix is
 * decided); NULL removes it.  For tests. */
typedef void (*log_capture_fn)(int level, const char *msg, void *arg);
void log_capture(log_capture_fn fn, void *arg);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void log_vmsg(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif

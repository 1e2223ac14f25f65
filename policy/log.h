/*
 * log.h - the one logging channel of mxguard.
 *
 * Severities mean fixed things: info (normal events, the decision line),
 * warn (recoverable trouble: a DNS server timing out, a bad reload), error
 * (a message could not be handled as configured), fatal (the environment
 * makes running impossible: logs and exits 1).  Messages go to syslog and,
 * when enabled, to stderr.  Tests capture the output with log_capture().
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

/*
 * report_send.h - delivery for "mxguard report", internal to the tool
 * (report.c is its one user): pipe a rendered report mail to sendmail, or
 * write the gzip'd report as a file under --output-dir.
 *
 * Both return true on success and otherwise false with a one-line reason
 * in why (whysz bytes); they log nothing.  Strings and data are the
 * caller's, used during the call only.
 */
#ifndef MXG_REPORT_SEND_H
#define MXG_REPORT_SEND_H

#include <stdbool.h>
#include <stddef.h>

/* Pipe mail[0..len) to `prog -i -f from -- to` (no shell; stdin the pipe,
 * every descriptor past stderr closed): true when it read the whole mail
 * and exited 0 within timeout seconds (it is killed past them).  The
 * caller ignores SIGPIPE (a sendmail that exits early is a failure, not
 * the end of the process). */
bool report_send_mail(const char *prog, const char *from, const char *to, const char *mail, size_t len,
                      unsigned timeout, char *why, size_t whysz);

/* Write data[0..len) to dir/dest/filename (directories made 0755 when
 * missing), mode 0644, fsync'd under a temporary name in the same
 * directory and then renamed, so a reader never sees half a file. */
bool report_send_file(const char *dir, const char *dest, const char *filename, const unsigned char *data,
                      size_t len, char *why, size_t whysz);

#endif

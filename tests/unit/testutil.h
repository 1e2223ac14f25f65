/*
 * testutil.h - helpers shared by the Check unit tests.
 */
#ifndef MXG_TESTUTIL_H
#define MXG_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <check.h>

/* Path of a file under tests/ in the source tree (static buffer). */
const char *tu_path(const char *rel);
/* Write text to a new temporary file; returns its path (caller frees,
 * tu_cleanup() removes all files written). */
char *tu_write_temp(const char *text);
void tu_cleanup(void);

/* Capture log messages into a buffer: tu_log_start() begins, tu_log_text()
 * returns everything captured so far (one message a line), tu_log_stop(). */
void tu_log_start(void);
const char *tu_log_text(void);
void tu_log_stop(void);

/* Run a suite; returns the process exit status (0 when all passed). */
int tu_run(Suite *s);

#endif

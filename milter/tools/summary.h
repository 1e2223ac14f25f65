/*
 * summary.h - "mxguard summary": counts over decision lines (mxguard(8),
 * DECISION LINE) read from a syslog file or stdin.
 *
 * Lines of other programs are skipped; mxguard lines that are not decision
 * lines (start-up, reload) are counted apart; a decision line that does not
 * parse (declog_parse) is counted as malformed and reported, never fatal.
 */
#ifndef MXG_SUMMARY_H
#define MXG_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

typedef struct summary_options {
    time_t since;     /* only lines at or after this time; 0: all */
    const char *rule; /* only decisions this rule made or would have made (dry-run); NULL: all */
    size_t top;       /* domains listed per action; 0 means 10 */
} summary_options;

typedef struct summary summary_t;

/* o is copied (rule is borrowed: it must outlive the summary). */
summary_t *summary_new(const summary_options *o);
void summary_free(summary_t *s);
/* One input line (without or with its trailing newline). */
void summary_line(summary_t *s, const char *line);
/* The report, as text or as one JSON object. */
void summary_print(const summary_t *s, FILE *fp, bool json);

/* Parse a --since value: "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" or with a
 * "T" (local time), or a span back from now: "90m", "12h", "7d".  False on
 * anything else. */
bool summary_parse_since(const char *text, time_t now, time_t *out);

/* The subcommand: mxguard summary [--since T] [--rule NAME] [--format
 * text|json] [--top N] [FILE...]; returns the exit status. */
int summary_main(int argc, char **argv);

#endif

/*
 * declog.h - the decision line: exactly one log line per message, in
 * key=value form that an operator can grep and a script can parse (the
 * format is documented in mxguard(8)).  Values are quoted with "..." when
 * they contain a space, quote, backslash, '=' or a control character;
 * inside quotes \" and \\ are escaped and control bytes become \xHH.
 */
#ifndef MXG_DECLOG_H
#define MXG_DECLOG_H

#include <stddef.h>

#include "facts.h"
#include "rules.h"

typedef struct declog_entry {
    const facts_t *facts;
    const rules_verdict *verdict;   /* the verdict applied */
    facts_stage stage;              /* stage at which it was applied */
    const char *const *dry_run;     /* names of dry-run rules that matched */
    size_t ndry_run;
    long elapsed_ms;                /* from MAIL FROM (or connect) to verdict */
} declog_entry;

/* The line, starting with "decision ".  Caller frees. */
char *declog_format(const declog_entry *e);

#endif

/*
 * cfgload.h - what the config loaders (conf.c, rules.c, dnsbl.c) share:
 * errors reported at FILE:LINE of the libconfig setting they are about,
 * the walk over a list of named groups ("rules", "dnsbl") with its
 * duplicate-name check, and the one syntax of such names.
 *
 * Ownership: nothing here keeps a pointer past the call, except that a
 * cfgload_t holds its callback and argument for as long as the caller
 * keeps it.
 */
#ifndef MXG_CFGLOAD_H
#define MXG_CFGLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include <libconfig.h>

/* Longest name of a rule or a DNS list. */
#define CFGLOAD_NAME_MAX 64

/* Where a loader's errors go: file (NULL: the file being loaded) and line
 * (0: none) of the setting, and the reason without either. */
typedef void (*cfgload_error_fn)(const char *file, int line, const char *reason, void *arg);

/* One load: the callback and the number of errors reported so far. */
typedef struct cfgload {
    cfgload_error_fn errfn; /* NULL: errors are only counted */
    void *arg;
    int nerrors;
} cfgload_t;

/* Report an error about setting s (NULL: the file as a whole). */
void cfgload_err(cfgload_t *cx, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A boolean setting into *out; false (and an error "WHAT: expected true
 * or false") otherwise. */
bool cfgload_bool(cfgload_t *cx, const config_setting_t *s, const char *what, bool *out);

/* A rule or list name: 1 to CFGLOAD_NAME_MAX of A-Z a-z 0-9 _ . - */
bool cfgload_name_valid(const char *name);

/* Parse one group of a named-group list; returns the name it was given
 * (still valid when the walk ends) and its line in *line. */
typedef const char *(*cfgload_group_fn)(cfgload_t *cx, const config_setting_t *g, int *line, void *arg);

/* Walk list (a libconfig list; NULL: nothing) of groups, calling parse for
 * each group and reporting, through cx:
 *   "WHAT: expected a list ( SHAPE, ... )" when list is not a list,
 *   "WHAT: each ITEM must be a group SHAPE" for an element that is not,
 *   "duplicate DUP name \"N\" (first defined at line L)" for a name seen
 *   before (at the element's name setting). */
void cfgload_groups(cfgload_t *cx, const config_setting_t *list, const char *what, const char *item,
                    const char *shape, const char *dup, cfgload_group_fn parse, void *arg);

#endif

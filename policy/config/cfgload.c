/*
 * cfgload.c - what the config loaders share: FILE:LINE errors, the walk
 * over a list of named groups, the syntax of names.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgload.h"
#include "xalloc.h"

void cfgload_err(cfgload_t *cx, const config_setting_t *s, const char *fmt, ...)
{
    char reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    cx->nerrors++;
    if (cx->errfn)
        cx->errfn(s ? config_setting_source_file(s) : NULL, s ? (int)config_setting_source_line(s) : 0, reason,
                  cx->arg);
}

bool cfgload_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > CFGLOAD_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

typedef struct cfgload_seen {
    const char *name;
    int line;
} cfgload_seen;

void cfgload_groups(cfgload_t *cx, const config_setting_t *list, const char *what, const char *item,
                    const char *shape, const char *dup, cfgload_group_fn parse, void *arg)
{
    cfgload_seen *seen = NULL;
    size_t nseen = 0;

    if (list == NULL)
        return;
    if (!config_setting_is_list(list)) {
        cfgload_err(cx, list, "%s: expected a list ( %s, ... )", what, shape);
        return;
    }
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        const char *name;
        int line = 0;

        if (!config_setting_is_group(g)) {
            cfgload_err(cx, g, "%s: each %s must be a group %s", what, item, shape);
            continue;
        }
        name = parse(cx, g, &line, arg);
        for (size_t j = 0; j < nseen; j++) {
            if (strcmp(seen[j].name, name) == 0) {
                const config_setting_t *ns = config_setting_get_member(g, "name");
                cfgload_err(cx, ns ? ns : g, "duplicate %s name \"%s\" (first defined at line %d)", dup, name,
                            seen[j].line);
                break;
            }
        }
        seen = xreallocarray(seen, nseen + 1, sizeof(cfgload_seen));
        seen[nseen].name = name;
        seen[nseen++].line = line;
    }
    free(seen);
}

bool cfgload_bool(cfgload_t *cx, const config_setting_t *s, const char *what, bool *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        cfgload_err(cx, s, "%s: expected true or false", what);
        return false;
    }
    *out = config_setting_get_bool(s) != 0;
    return true;
}

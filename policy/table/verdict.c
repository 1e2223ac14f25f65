/*
 * verdict.c - the names of the actions.
 */
#include "config.h"

#include <stddef.h>
#include <strings.h>

#include "verdict.h"

static const char *const verdict_action_names[] = {
    [ACTION_ACCEPT] = "accept",         [ACTION_REJECT] = "reject",
    [ACTION_TEMPFAIL] = "tempfail",     [ACTION_QUARANTINE] = "quarantine",
    [ACTION_DISCARD] = "discard",
};
#define VERDICT_NACTIONS (sizeof(verdict_action_names) / sizeof(verdict_action_names[0]))

const char *verdict_action_name(verdict_action a)
{
    return (unsigned)a < VERDICT_NACTIONS ? verdict_action_names[a] : "?";
}

bool verdict_action_parse(const char *name, verdict_action *out)
{
    if (name == NULL)
        return false;
    for (size_t i = 0; i < VERDICT_NACTIONS; i++) {
        if (strcasecmp(name, verdict_action_names[i]) == 0) {
            *out = (verdict_action)i;
            return true;
        }
    }
    return false;
}

/*
 * rstore.c - the DMARC aggregate report store (rstore.h).  For now only the
 * URI syntax the config loader checks; the back ends come with the store.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "rstore.h"

bool rstore_uri_valid(const char *uri, char *err, size_t errsz)
{
    if (strncmp(uri, "sqlite:", 7) == 0) {
        if (uri[7] != '/' || uri[8] == '\0') {
            snprintf(err, errsz, "sqlite: needs an absolute file path");
            return false;
        }
        return true;
    }
    if (strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0)
        return true;
    snprintf(err, errsz, "unknown store kind");
    return false;
}

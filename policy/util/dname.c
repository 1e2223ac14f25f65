/*
 * dname.c - domain name syntax shared by the config loader and the checks.
 */
#include "config.h"

#include <string.h>

#include "dname.h"

bool dname_valid(const char *name, size_t len)
{
    size_t label = 0;

    if (name == NULL || len == 0 || len > DNAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return false;
        if (++label > DNAME_LABEL_MAX)
            return false;
    }
    return label > 0;
}

bool dname_normalize(const char *name, char *out, size_t outsz)
{
    size_t len;

    if (name == NULL)
        return false;
    len = strlen(name);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len >= outsz || !dname_valid(name, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    out[len] = '\0';
    return true;
}

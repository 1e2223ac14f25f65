/*
 * cidr.c - lists of IPv4/IPv6 networks and membership tests.
 *
 * Networks are parsed with inet_pton (no hand-written address parsing) and
 * kept as 16-byte addresses with a family and a prefix length.  A client
 * address given as IPv4-mapped IPv6 (::ffff:192.0.2.1, what a dual-stack
 * socket reports for an IPv4 peer) is compared as the IPv4 address.
 *
 * SECURITY: cidr_list_match() receives the client address from the MTA;
 * it only ever goes to inet_pton, and anything unparsable matches nothing.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "xalloc.h"

typedef struct cidr_net {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char addr[16];  /* network address (4 bytes used for IPv4) */
    unsigned prefix;         /* prefix length in bits */
} cidr_net;

struct cidr_list {
    cidr_net *nets;
    size_t count;
};

cidr_list *cidr_list_new(void)
{
    return xcalloc(1, sizeof(cidr_list));
}

void cidr_list_free(cidr_list *l)
{
    if (l == NULL)
        return;
    free(l->nets);
    free(l);
}

size_t cidr_list_count(const cidr_list *l)
{
    return l ? l->count : 0;
}

/* Parse a bare address; returns its family (AF_INET/AF_INET6) or 0. */
static int cidr_parse_addr(const char *text, unsigned char out[16])
{
    memset(out, 0, 16);
    if (inet_pton(AF_INET, text, out) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, text, out) == 1)
        return AF_INET6;
    return 0;
}

/* Does addr (len bytes) have any bit set beyond the first prefix bits? */
static bool cidr_host_bits_set(const unsigned char *addr, size_t len, unsigned prefix)
{
    for (size_t i = 0; i < len; i++) {
        unsigned first = (unsigned)i * 8; /* bit index of this byte's MSB */
        unsigned char mask;

        if (first + 8 <= prefix)
            continue;
        mask = first >= prefix ? 0xff : (unsigned char)(0xff >> (prefix - first));
        if (addr[i] & mask)
            return true;
    }
    return false;
}

/* Do the first prefix bits of a and b agree? */
static bool cidr_prefix_equal(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
    size_t whole = prefix / 8;
    unsigned rest = prefix % 8;

    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool cidr_list_add(cidr_list *l, const char *text, char *err, size_t errlen)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash;
    cidr_net net;
    unsigned max;
    size_t alen;

    if (text == NULL || *text == '\0') {
        snprintf(err, errlen, "empty network");
        return false;
    }
    slash = strchr(text, '/');
    alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= INET6_ADDRSTRLEN) {
        snprintf(err, errlen, "invalid network \"%s\"", text);
        return false;
    }
    memcpy(buf, text, alen);
    buf[alen] = '\0';
    memset(&net, 0, sizeof(net));
    net.family = cidr_parse_addr(buf, net.addr);
    if (net.family == 0) {
        snprintf(err, errlen, "invalid network \"%s\": not an IPv4 or IPv6 address", text);
        return false;
    }
    max = net.family == AF_INET ? 32 : 128;
    net.prefix = max;
    if (slash) {
        const char *p = slash + 1;
        unsigned v = 0;

        if (*p == '\0' || strlen(p) > 3) {
            snprintf(err, errlen, "invalid network \"%s\": bad prefix length", text);
            return false;
        }
        for (; *p; p++) {
            if (*p < '0' || *p > '9') {
                snprintf(err, errlen, "invalid network \"%s\": bad prefix length", text);
                return false;
            }
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v > max) {
            snprintf(err, errlen, "invalid network \"%s\": prefix length above %u", text, max);
            return false;
        }
        net.prefix = v;
    }
    if (cidr_host_bits_set(net.addr, max / 8, net.prefix)) {
        snprintf(err, errlen, "invalid network \"%s\": host bits set", text);
        return false;
    }
    l->nets = xreallocarray(l->nets, l->count + 1, sizeof(cidr_net));
    l->nets[l->count++] = net;
    return true;
}

bool cidr_list_match(const cidr_list *l, const char *addr)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned char a[16];
    int family;

    if (l == NULL || addr == NULL || *addr == '\0')
        return false;
    family = cidr_parse_addr(addr, a);
    if (family == 0)
        return false;
    if (family == AF_INET6 && memcmp(a, mapped, sizeof(mapped)) == 0) {
        memmove(a, a + 12, 4);
        memset(a + 4, 0, 12);
        family = AF_INET;
    }
    for (size_t i = 0; i < l->count; i++) {
        const cidr_net *n = &l->nets[i];
        if (n->family == family && cidr_prefix_equal(a, n->addr, n->prefix))
            return true;
    }
    return false;
}

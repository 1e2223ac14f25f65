/*
 * cidr.h - lists of IPv4/IPv6 networks ("192.0.2.0/24", "2001:db8::/32",
 * "127.0.0.1") and membership tests.  Used for trusted networks and the
 * client_ip condition of the policy table.
 */
#ifndef MXG_CIDR_H
#define MXG_CIDR_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cidr_list cidr_list;

cidr_list *cidr_list_new(void);
void cidr_list_free(cidr_list *l);
/* Add one network; false (and a reason in err) if the text is not a valid
 * address or prefix (host bits set are an error: "192.0.2.1/24"). */
bool cidr_list_add(cidr_list *l, const char *text, char *err, size_t errlen);
size_t cidr_list_count(const cidr_list *l);
/* Is the text address inside any network of the list?  false for NULL, ""
 * or an unparsable address.  IPv4-mapped IPv6 addresses match IPv4 entries. */
bool cidr_list_match(const cidr_list *l, const char *addr);

#endif

/*
 * selfaddr.h: does an address reach this very host? A mapping whose target
 * does, at one of the server's own ports, feeds the server back into
 * itself (a loop, or a way around the API's allowlist). "Reaches this
 * host": 127.0.0.0/8, ::1, the unspecified address (0.0.0.0/8, ::), the
 * IPv4-mapped form of any of those (::ffff:127.0.0.1), or an address of one
 * of the host's interfaces (and the mapped form of the IPv4 ones).
 */
#ifndef GT_SELFADDR_H
#define GT_SELFADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Raw address a of n bytes (4 or 16, network order): 1 if loopback,
 * unspecified, or an IPv4-mapped form of either; 0 otherwise. Interfaces
 * are not consulted: a pure function.
 */
int	gt_self_is_local(const uint8_t *a, size_t n);
/*
 * As gt_self_is_local, or an address of one of this host's interfaces
 * (getifaddrs, re-read at most every 2 s). 1 or 0.
 */
int	gt_self_addr(const uint8_t *a, size_t n);
/* The same for a sockaddr (AF_INET, AF_INET6); 0 for anything else. */
int	gt_self_sockaddr(const struct sockaddr *sa, socklen_t len);
/*
 * host as a mapping spells it: 1 if it reaches this host (an IP literal in
 * any spelling inet_pton takes, or "localhost" and names under
 * ".localhost", RFC 6761), 0 if it is an IP literal that does not, -1 for
 * any other name (only resolving it tells: the dialer checks then).
 */
int	gt_self_host(const char *host);

#endif

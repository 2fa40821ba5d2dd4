/*
 * addr.h: IP addresses as text, the one parser and formatter of the tree.
 * An IP literal is what inet_pton takes: dotted-quad IPv4 or IPv6 text,
 * no scope ("%eth0"), no port; "[v6]" brackets only where a flag or the
 * function says so. Also CIDR blocks ("addr/prefix"), parsed once for the
 * API allowlist and for the configuration check.
 *
 * Nothing here allocates: every output goes to a buffer the caller owns.
 */
#ifndef GT_ADDR_H
#define GT_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for any text gt_addr_format() writes: "[v6]:65535" and a NUL. */
#define GT_ADDR_STRLEN		64
/* Longest host name or literal gt_addr_split() and the dialer take. */
#define GT_ADDR_HOSTMAX		255

/* Flag: "[v6]" is accepted (parsing) or written (formatting). */
#define GT_ADDR_BRACKETS	0x01

/* The family of IP literal s: AF_INET, AF_INET6, or 0 if s is not one. */
int	gt_addr_ip_family(const char *s);
/*
 * Parse IP literal s (with GT_ADDR_BRACKETS also "[v6]") and port into *ss
 * and *len (the sockaddr's real length). 0, or -1 with errno EINVAL and
 * *ss, *len untouched.
 */
int	gt_addr_parse_ip(const char *s, uint16_t port, int flags,
	    struct sockaddr_storage *ss, socklen_t *len);
/*
 * Split "host:port" or "[v6]:port" into host (without brackets; a bare
 * host must hold no ':') and port 1..65535. host[hostlen] is the caller's;
 * the host is not checked further (it may be a name). 0 or -1.
 */
int	gt_addr_split(const char *s, char *host, size_t hostlen,
	    uint16_t *port);
/*
 * host and port as one string: "host:port", or "[host]:port" if host holds
 * ':'. 0, or -1 if it did not fit.
 */
int	gt_addr_join(const char *host, uint16_t port, char *buf, size_t size);
/*
 * Write sa (len bytes, AF_INET or AF_INET6) as "a.b.c.d:port" or
 * "[v6]:port". 0, or -1 with "?" in buf for another family, a short len
 * or a buf too small (GT_ADDR_STRLEN always fits).
 */
int	gt_addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
	    size_t size);
/* The address alone: "a.b.c.d", "v6", or "[v6]" with GT_ADDR_BRACKETS. */
int	gt_addr_format_ip(const struct sockaddr *sa, socklen_t len, int flags,
	    char *buf, size_t size);
/*
 * The raw address of sa: sets *p (borrowed from sa) and returns 4 for
 * AF_INET, 16 for AF_INET6, 0 for anything else or a short len.
 */
size_t	gt_addr_bytes(const struct sockaddr *sa, socklen_t len,
	    const uint8_t **p);

struct gt_cidr {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];	/* network bytes, masked */
	unsigned	prefix;		/* 0..32 or 0..128 */
};

/* gt_cidr_scan() results. */
#define GT_CIDR_OK		0
#define GT_CIDR_EADDR		-1	/* the address is not an IP literal */
#define GT_CIDR_EPREFIX		-2	/* the prefix is not 0..32 / 0..128 */
/* gt_cidr_scan() flag: no leading zeros in the prefix ("/08"; YAML's octal). */
#define GT_CIDR_STRICT		0x01

/*
 * Parse "a.b.c.d/n", "x::y/n" or a bare address (/32, /128) into *c with
 * the host bits cleared; "::ffff:a.b.c.d/96..128" (an IPv4 block written the
 * IPv6 way) becomes the IPv4 block. The prefix is 1..3 decimal digits.
 * Returns GT_CIDR_OK, GT_CIDR_EADDR or GT_CIDR_EPREFIX; *c is written only
 * on success.
 */
int	gt_cidr_scan(const char *s, int flags, struct gt_cidr *c);
/* Room for any text gt_cidr_format() writes: an IPv6 address, "/128", NUL. */
#define GT_CIDR_STRLEN		(46 + 5)
/* c as "addr/prefix" into buf. 0, or -1 if it did not fit. */
int	gt_cidr_format(const struct gt_cidr *c, char *buf, size_t size);
/* Does sa (AF_INET, AF_INET6; v4-mapped v6 matches v4 rules) fall in any of list? */
int	gt_cidr_match(const struct gt_cidr *list, size_t n, const struct sockaddr *sa);

#endif

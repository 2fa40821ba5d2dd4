/*
 * proxy_hdr.h: HAProxy's PROXY protocol header (haproxy doc/proxy-protocol.txt),
 * version 1 (text) and 2 (binary), for TCP over IPv4 and IPv6. A pure
 * encoder: no sockets, no I/O. The forwarder writes the header to a direct
 * target; the tunnel carries the same addresses in a ConnectRequest
 * extension (frame.h) and gt-client writes it to its target.
 */
#ifndef GT_PROXY_HDR_H
#define GT_PROXY_HDR_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

#define GT_PROXY_NONE	0
#define GT_PROXY_V1	1
#define GT_PROXY_V2	2

/*
 * The longest header we write: v1 TCP6 with two 39-character addresses is
 * 104 bytes, v2 TCP6 is 16 + 36 = 52. 108 is the spec's v1 receive bound.
 */
#define GT_PROXY_HDR_MAX	108
#define GT_PROXY_V2_SIG		"\r\n\r\n\0\r\nQUIT\n"	/* 12 bytes */
#define GT_PROXY_V2_SIGLEN	12

/* One proxied TCP connection's endpoints, as sent in the header. */
struct gt_proxy_addr {
	uint8_t		version;	/* GT_PROXY_V1 or GT_PROXY_V2 */
	uint8_t		family;		/* 4 or 6 */
	uint8_t		src[16];	/* network order; IPv4 in the first 4 */
	uint8_t		dst[16];
	uint16_t	src_port;	/* host order */
	uint16_t	dst_port;
};

/* "" (none), "v1", "v2" into a GT_PROXY_* version; -1 for anything else. */
int	gt_proxy_version_parse(const char *);
/*
 * Fill pa for version from a connection's peer (src) and local (dst)
 * addresses, AF_INET or AF_INET6. A v4-mapped IPv6 address counts as IPv4;
 * when the two families still differ the IPv4 one is mapped into IPv6.
 * 0, or -1 for another family or version.
 */
int	gt_proxy_addr_set(struct gt_proxy_addr *pa, int version,
	    const struct sockaddr *src, const struct sockaddr *dst);
/*
 * Write pa's header into buf (len bytes; GT_PROXY_HDR_MAX always suffices).
 * Returns its length, or -1 with nothing meaningful in buf when pa is
 * invalid (version, family) or buf too small.
 */
int	gt_proxy_hdr_encode(const struct gt_proxy_addr *pa, uint8_t *buf,
	    size_t len);

#endif

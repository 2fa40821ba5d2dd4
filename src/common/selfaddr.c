/*
 * selfaddr.c: the classification behind the self-target guard (selfaddr.h).
 * Interface addresses come from getifaddrs, kept a couple of seconds so a
 * burst of dials does not ask the kernel for each one; an address added to
 * an interface is known within that time.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ifaddrs.h>

#include <string.h>
#include <strings.h>
#include <time.h>

#include "gt/loop.h"
#include "gt/addr.h"
#include "gt/selfaddr.h"

#define SELF_MAXIF	256	/* interface addresses kept */
#define SELF_TTL_MS	2000	/* how long they are trusted */

struct self_if {
	uint8_t		a[16];
	size_t		n;	/* 4 or 16 */
};

static struct self_if	self_ifs[SELF_MAXIF];
static size_t		self_nifs;
static long long	self_read_ms = -1;

static const uint8_t self_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* An IPv4-mapped IPv6 address is its IPv4 one: compare in one form only. */
static void
self_unmap(const uint8_t **a, size_t *n)
{
	if (*n == 16 && memcmp(*a, self_v4mapped, 12) == 0) {
		*a += 12;
		*n = 4;
	}
}

/* Loopback, unspecified, or a mapped form of one: no interface needed. */
int
gt_self_is_local(const uint8_t *a, size_t n)
{
	static const uint8_t zero[16];

	self_unmap(&a, &n);
	if (n == 4)
		/* 127/8 is loopback; 0/8 ("this network") lands here too. */
		return a[0] == 127 || a[0] == 0;
	if (n == 16)
		return memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1);
	return 0;
}

/* Read the interface addresses again when the copy has grown old. */
static void
self_refresh(void)
{
	struct ifaddrs	*ifa, *p;
	const uint8_t	*b;
	size_t		 n;
	long long	 now = gt_mono_ms();

	if (self_read_ms >= 0 && now - self_read_ms < SELF_TTL_MS)
		return;
	if (getifaddrs(&ifa) == -1)
		return;		/* keep the old copy: better than none */
	self_nifs = 0;
	for (p = ifa; p != NULL && self_nifs < SELF_MAXIF; p = p->ifa_next) {
		if (p->ifa_addr == NULL)
			continue;
		n = gt_addr_bytes(p->ifa_addr, p->ifa_addr->sa_family ==
		    AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6), &b);
		if (n == 0)
			continue;
		self_unmap(&b, &n);
		memcpy(self_ifs[self_nifs].a, b, n);
		self_ifs[self_nifs].n = n;
		self_nifs++;
	}
	freeifaddrs(ifa);
	self_read_ms = now;
}

/* Local by itself, or one of this host's interface addresses. */
int
gt_self_addr(const uint8_t *a, size_t n)
{
	size_t i;

	if (n != 4 && n != 16)
		return 0;
	if (gt_self_is_local(a, n))
		return 1;
	self_unmap(&a, &n);
	self_refresh();
	for (i = 0; i < self_nifs; i++)
		if (self_ifs[i].n == n && memcmp(self_ifs[i].a, a, n) == 0)
			return 1;
	return 0;
}

/* The sockaddr form, for the dialer's resolved addresses. */
int
gt_self_sockaddr(const struct sockaddr *sa, socklen_t len)
{
	const uint8_t	*b;
	size_t		 n;

	if (sa == NULL || (n = gt_addr_bytes(sa, len, &b)) == 0)
		return 0;
	return gt_self_addr(b, n);
}

/* Names that always mean this host (RFC 6761 keeps .localhost for it). */
static int
self_localhost(const char *h)
{
	size_t len = strlen(h), sfx = sizeof(".localhost") - 1;

	if (len > 0 && h[len - 1] == '.')
		len--;
	if (len == sfx - 1 && strncasecmp(h, "localhost", len) == 0)
		return 1;
	return len > sfx && strncasecmp(h + len - sfx, ".localhost", sfx) == 0;
}

/* A mapping's target_host: a literal is decided now, a name only by the dialer. */
int
gt_self_host(const char *host)
{
	struct sockaddr_storage	ss;
	socklen_t		sl;

	if (host == NULL || host[0] == '\0')
		return -1;
	if (self_localhost(host))
		return 1;
	if (gt_addr_parse_ip(host, 0, GT_ADDR_BRACKETS, &ss, &sl) == -1)
		return -1;
	return gt_self_sockaddr((struct sockaddr *)&ss, sl);
}

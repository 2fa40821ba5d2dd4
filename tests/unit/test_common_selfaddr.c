/* test_common_selfaddr.c: which addresses and spellings reach this host. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <cmocka.h>

#include "gt/selfaddr.h"

/* Every spelling of loopback and unspecified, bare and IPv4-mapped. */
static void
test_self_literals(void **state)
{
	size_t i;
	static const char *const yes[] = {
		"127.0.0.1", "127.0.0.2", "127.1.2.3", "127.255.255.255",
		"0.0.0.0", "0.1.2.3",
		"::1", "0::1", "0:0:0:0:0:0:0:1", "::0001", "0000::0001",
		"::", "0::0", "0:0:0:0:0:0:0:0",
		"::ffff:127.0.0.1", "::FFFF:127.0.0.1", "::ffff:7f00:1",
		"::ffff:7F00:0001", "0:0:0:0:0:ffff:127.0.0.1",
		"0000:0000:0000:0000:0000:ffff:7f00:0001", "::ffff:127.9.8.7",
		"::ffff:0.0.0.0", "::ffff:0:0", "[::1]", "[::ffff:127.0.0.1]",
		"localhost", "LOCALHOST", "localhost.", "LocalHost",
		"foo.localhost", "a.b.LOCALHOST.",
	};
	static const char *const no[] = {
		"192.0.2.1", "198.51.100.7", "203.0.113.9", "128.0.0.1",
		"126.255.255.255", "2001:db8::1", "::2", "::1:0",
		"1::", "::ffff:192.0.2.1", "::ffff:8.8.8.8", "fe80::dead:beef:1",
		"2001:db8::127.0.0.1",
	};
	static const char *const names[] = {
		"example.com", "localhost.example.com", "notlocalhost",
		"mylocalhost", "0x7f000001", "",
	};

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (gt_self_host(yes[i]) != 1)
			fail_msg("\"%s\" should reach this host", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (gt_self_host(no[i]) != 0)
			fail_msg("\"%s\" should not reach this host", no[i]);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (gt_self_host(names[i]) != -1)
			fail_msg("\"%s\" is a name only resolving decides", names[i]);
	}
	assert_int_equal(gt_self_host(NULL), -1);
}

/* The pure check on raw bytes, without interfaces. */
static void
test_self_bytes(void **state)
{
	uint8_t a4[4] = { 127, 0, 0, 1 }, o4[4] = { 10, 0, 0, 1 };
	uint8_t a6[16], m6[16];

	(void)state;
	assert_int_equal(gt_self_is_local(a4, 4), 1);
	assert_int_equal(gt_self_is_local(o4, 4), 0);
	memset(a6, 0, sizeof(a6));
	assert_int_equal(gt_self_is_local(a6, 16), 1);	/* :: */
	a6[15] = 1;
	assert_int_equal(gt_self_is_local(a6, 16), 1);	/* ::1 */
	a6[15] = 2;
	assert_int_equal(gt_self_is_local(a6, 16), 0);	/* ::2 */
	memset(m6, 0, sizeof(m6));
	m6[10] = m6[11] = 0xff;
	memcpy(m6 + 12, a4, 4);
	assert_int_equal(gt_self_is_local(m6, 16), 1);	/* ::ffff:127.0.0.1 */
	memcpy(m6 + 12, o4, 4);
	assert_int_equal(gt_self_is_local(m6, 16), 0);	/* ::ffff:10.0.0.1 */
	assert_int_equal(gt_self_is_local(a4, 3), 0);
	assert_int_equal(gt_self_addr(a4, 0), 0);
}

/* Every interface address of this host, in every spelling, is this host. */
static void
test_self_interfaces(void **state)
{
	struct ifaddrs	*ifa, *p;
	char		 text[INET6_ADDRSTRLEN], mapped[INET6_ADDRSTRLEN + 8];
	struct sockaddr_in6 sin6;
	int		 n = 0;

	(void)state;
	assert_int_equal(getifaddrs(&ifa), 0);
	for (p = ifa; p != NULL; p = p->ifa_next) {
		if (p->ifa_addr == NULL)
			continue;
		if (p->ifa_addr->sa_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)
			    (void *)p->ifa_addr;

			inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
			snprintf(mapped, sizeof(mapped), "::ffff:%s", text);
			if (gt_self_host(text) != 1 || gt_self_host(mapped) != 1)
				fail_msg("interface address %s (or %s) not "
				    "seen as this host", text, mapped);
			/* The sockaddr form of the mapped one too. */
			memset(&sin6, 0, sizeof(sin6));
			sin6.sin6_family = AF_INET6;
			sin6.sin6_addr.s6_addr[10] = 0xff;
			sin6.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&sin6.sin6_addr.s6_addr[12], &sin->sin_addr, 4);
			assert_int_equal(gt_self_sockaddr((struct sockaddr *)
			    &sin6, sizeof(sin6)), 1);
			assert_int_equal(gt_self_sockaddr(p->ifa_addr,
			    sizeof(*sin)), 1);
			n++;
		} else if (p->ifa_addr->sa_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)
			    (void *)p->ifa_addr;

			inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof(text));
			if (gt_self_host(text) != 1)
				fail_msg("interface address %s not seen as "
				    "this host", text);
			assert_int_equal(gt_self_sockaddr(p->ifa_addr,
			    sizeof(*s6)), 1);
			n++;
		}
	}
	freeifaddrs(ifa);
	assert_true(n > 0);	/* at least the loopback interface */
	/* Not an address family we dial. */
	assert_int_equal(gt_self_sockaddr(NULL, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_literals),
		cmocka_unit_test(test_self_bytes),
		cmocka_unit_test(test_self_interfaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

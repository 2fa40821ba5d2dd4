/* test_common_addr.c: IP literals, host:port, formatting and CIDR blocks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "gt/addr.h"

/* A string of n copies of c (n < 1024). */
static const char *
repeat(char c, size_t n)
{
	static char buf[1024];

	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* Which strings are literals, of which family. */
static void
test_ip_family(void **state)
{
	size_t i;
	static const char *const bad[] = {
		"", " ", "localhost", "example.com", "1.2.3", "1.2.3.4.5",
		"1.2.3.256", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\n",
		"0x7f.0.0.1", "[::1]", "::1]", "[::1", ":::1", "1::2::3",
		"fe80::1%eth0", "::g", "1.2.3.4:80", "12345::", "-1.2.3.4",
		"0:0:0:0:0:0:0:0:0", "1.2.3.4/8",
	};

	(void)state;
	assert_int_equal(gt_addr_ip_family("127.0.0.1"), AF_INET);
	assert_int_equal(gt_addr_ip_family("0.0.0.0"), AF_INET);
	assert_int_equal(gt_addr_ip_family("255.255.255.255"), AF_INET);
	assert_int_equal(gt_addr_ip_family("::"), AF_INET6);
	assert_int_equal(gt_addr_ip_family("::1"), AF_INET6);
	assert_int_equal(gt_addr_ip_family("2001:DB8::A"), AF_INET6);
	assert_int_equal(gt_addr_ip_family("::ffff:10.0.0.1"), AF_INET6);
	assert_int_equal(gt_addr_ip_family(
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"), AF_INET6);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gt_addr_ip_family(bad[i]) != 0)
			fail_msg("\"%s\" taken for a literal", bad[i]);
	assert_int_equal(gt_addr_ip_family(NULL), 0);
	/* Overlong: digits and colons far past any literal. */
	assert_int_equal(gt_addr_ip_family(repeat('1', 1000)), 0);
	assert_int_equal(gt_addr_ip_family(repeat(':', 1000)), 0);
}

/* Literals to sockaddrs, with and without brackets. */
static void
test_parse_ip(void **state)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	char			 over[128];

	(void)state;
	assert_int_equal(gt_addr_parse_ip("10.1.2.3", 8080, 0, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(sin->sin_port), 8080);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x0a010203);

	assert_int_equal(gt_addr_parse_ip("::1", 65535, 0, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(sin6->sin6_port), 65535);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));

	/* Brackets only when asked, and only around IPv6. */
	errno = 0;
	assert_int_equal(gt_addr_parse_ip("[::1]", 1, 0, &ss, &len), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(gt_addr_parse_ip("[::1]", 1, GT_ADDR_BRACKETS, &ss,
	    &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(gt_addr_parse_ip("[1.2.3.4]", 1, GT_ADDR_BRACKETS,
	    &ss, &len), -1);
	assert_int_equal(gt_addr_parse_ip("[]", 1, GT_ADDR_BRACKETS, &ss,
	    &len), -1);
	assert_int_equal(gt_addr_parse_ip("[", 1, GT_ADDR_BRACKETS, &ss,
	    &len), -1);
	assert_int_equal(gt_addr_parse_ip("[::1", 1, GT_ADDR_BRACKETS, &ss,
	    &len), -1);
	assert_int_equal(gt_addr_parse_ip("[[::1]]", 1, GT_ADDR_BRACKETS, &ss,
	    &len), -1);
	assert_int_equal(gt_addr_parse_ip("[::1]:80", 1, GT_ADDR_BRACKETS,
	    &ss, &len), -1);
	/* A bare literal still works with the flag. */
	assert_int_equal(gt_addr_parse_ip("1.2.3.4", 1, GT_ADDR_BRACKETS, &ss,
	    &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);

	/* Junk, names, ports and scopes are not literals; outputs untouched. */
	memset(&ss, 0xa5, sizeof(ss));
	len = 7;
	assert_int_equal(gt_addr_parse_ip("localhost", 1, GT_ADDR_BRACKETS,
	    &ss, &len), -1);
	assert_int_equal(gt_addr_parse_ip("1.2.3.4:80", 1, 0, &ss, &len), -1);
	assert_int_equal(gt_addr_parse_ip("fe80::1%lo", 1, 0, &ss, &len), -1);
	assert_int_equal(gt_addr_parse_ip("", 1, 0, &ss, &len), -1);
	assert_int_equal(gt_addr_parse_ip(NULL, 1, 0, &ss, &len), -1);
	assert_int_equal(len, 7);
	assert_int_equal(((unsigned char *)&ss)[0], 0xa5);
	/* Overlong inside brackets. */
	over[0] = '[';
	memset(over + 1, ':', sizeof(over) - 3);
	over[sizeof(over) - 2] = ']';
	over[sizeof(over) - 1] = '\0';
	assert_int_equal(gt_addr_parse_ip(over, 1, GT_ADDR_BRACKETS, &ss,
	    &len), -1);
	assert_int_equal(gt_addr_parse_ip(repeat('9', 1000), 1,
	    GT_ADDR_BRACKETS, &ss, &len), -1);
}

/* host:port and [v6]:port, and everything that is neither. */
static void
test_split(void **state)
{
	char		host[GT_ADDR_HOSTMAX + 1], small[4], big[1100];
	uint16_t	port = 0;
	size_t		i;
	static const char *const bad[] = {
		"", ":", ":80", "host", "host:", "host:0", "host:65536",
		"host:99999", "host:123456", "host:-1", "host:+80", "host: 80",
		"host:80 ", "host:8o", "host:0x50", "::1:80", "[::1]", "[::1]80",
		"[::1]:", "[]:80", "[::1:80", "::1]:80", "[[::1]:80",
		"h]st:80", "[::1]:80:80", "host:80:80",
	};

	(void)state;
	assert_int_equal(gt_addr_split("example.com:443", host, sizeof(host),
	    &port), 0);
	assert_string_equal(host, "example.com");
	assert_int_equal(port, 443);
	assert_int_equal(gt_addr_split("10.0.0.1:1", host, sizeof(host),
	    &port), 0);
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(port, 1);
	assert_int_equal(gt_addr_split("[2001:db8::1]:65535", host,
	    sizeof(host), &port), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(port, 65535);
	/* Leading zeros are still decimal. */
	assert_int_equal(gt_addr_split("h:00080", host, sizeof(host), &port),
	    0);
	assert_int_equal(port, 80);

	port = 7;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (gt_addr_split(bad[i], host, sizeof(host), &port) != -1)
			fail_msg("split accepted \"%s\"", bad[i]);
	assert_int_equal(port, 7);
	assert_int_equal(gt_addr_split(NULL, host, sizeof(host), &port), -1);
	/* A host that does not fit the caller's buffer. */
	assert_int_equal(gt_addr_split("abcd:80", small, sizeof(small),
	    &port), -1);
	assert_int_equal(gt_addr_split("abc:80", small, sizeof(small),
	    &port), 0);
	/* The longest host, and one byte more. */
	snprintf(big, sizeof(big), "%s:80", repeat('a', GT_ADDR_HOSTMAX));
	assert_int_equal(gt_addr_split(big, host, sizeof(host), &port), 0);
	assert_int_equal(strlen(host), GT_ADDR_HOSTMAX);
	snprintf(big, sizeof(big), "%s:80", repeat('a', GT_ADDR_HOSTMAX + 1));
	assert_int_equal(gt_addr_split(big, host, sizeof(host), &port), -1);
	snprintf(big, sizeof(big), "%s:80", repeat('a', 590));
	assert_int_equal(gt_addr_split(big, host, sizeof(host), &port), -1);
}

/* sockaddrs to text, and back through split and parse. */
static void
test_format(void **state)
{
	struct sockaddr_storage	 ss, back;
	struct sockaddr		 un;
	socklen_t		 len, blen;
	char			 buf[GT_ADDR_STRLEN], host[GT_ADDR_HOSTMAX + 1],
				 small[8];
	uint16_t		 port;
	size_t			 i;
	static const char *const v[] = {
		"0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1",
		"2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"::ffff:10.0.0.1",
	};

	(void)state;
	assert_int_equal(gt_addr_parse_ip("192.0.2.7", 80, 0, &ss, &len), 0);
	assert_int_equal(gt_addr_format((struct sockaddr *)&ss, len, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "192.0.2.7:80");
	assert_int_equal(gt_addr_format_ip((struct sockaddr *)&ss, len,
	    GT_ADDR_BRACKETS, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "192.0.2.7");

	/* IPv6 comes out canonical, bracketed with a port. */
	assert_int_equal(gt_addr_parse_ip("2001:DB8:0:0::1", 443, 0, &ss,
	    &len), 0);
	assert_int_equal(gt_addr_format((struct sockaddr *)&ss, len, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "[2001:db8::1]:443");
	assert_int_equal(gt_addr_format_ip((struct sockaddr *)&ss, len, 0,
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2001:db8::1");
	assert_int_equal(gt_addr_format_ip((struct sockaddr *)&ss, len,
	    GT_ADDR_BRACKETS, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[2001:db8::1]");

	/* Round trips, the longest form fits GT_ADDR_STRLEN. */
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(gt_addr_parse_ip(v[i], 65535, 0, &ss, &len), 0);
		assert_int_equal(gt_addr_format((struct sockaddr *)&ss, len,
		    buf, sizeof(buf)), 0);
		assert_int_equal(gt_addr_split(buf, host, sizeof(host), &port),
		    0);
		assert_int_equal(port, 65535);
		assert_string_equal(host, v[i]);
		assert_int_equal(gt_addr_parse_ip(host, port, 0, &back, &blen),
		    0);
		assert_int_equal(blen, len);
		assert_memory_equal(&back, &ss, len);
	}

	/* Short buffers, short lengths and other families give "?". */
	assert_int_equal(gt_addr_parse_ip("10.0.0.1", 80, 0, &ss, &len), 0);
	assert_int_equal(gt_addr_format((struct sockaddr *)&ss, len, small,
	    sizeof(small)), -1);
	assert_string_equal(small, "?");
	assert_int_equal(gt_addr_format((struct sockaddr *)&ss, len - 1, buf,
	    sizeof(buf)), -1);
	assert_string_equal(buf, "?");
	memset(&un, 0, sizeof(un));
	un.sa_family = AF_UNIX;
	assert_int_equal(gt_addr_format(&un, sizeof(un), buf, sizeof(buf)), -1);
	assert_string_equal(buf, "?");
	assert_int_equal(gt_addr_format(NULL, 0, buf, sizeof(buf)), -1);
	assert_int_equal(gt_addr_format((struct sockaddr *)&ss, len, buf, 0),
	    -1);
}

/* host + port joined, brackets for IPv6. */
static void
test_join(void **state)
{
	char buf[GT_ADDR_STRLEN], small[6];

	(void)state;
	assert_int_equal(gt_addr_join("example.com", 443, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "example.com:443");
	assert_int_equal(gt_addr_join("::1", 80, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[::1]:80");
	assert_int_equal(gt_addr_join("10.0.0.1", 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.1:0");
	assert_int_equal(gt_addr_join("abcd", 8080, small, sizeof(small)), -1);
	assert_int_equal(gt_addr_join("h", 1, NULL, 0), -1);
}

/* Raw bytes of a sockaddr. */
static void
test_bytes(void **state)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	const uint8_t		*p;
	static const uint8_t	 v4[4] = { 10, 0, 0, 1 };

	(void)state;
	assert_int_equal(gt_addr_parse_ip("10.0.0.1", 1, 0, &ss, &len), 0);
	assert_int_equal(gt_addr_bytes((struct sockaddr *)&ss, len, &p), 4);
	assert_memory_equal(p, v4, 4);
	assert_int_equal(gt_addr_parse_ip("::1", 1, 0, &ss, &len), 0);
	assert_int_equal(gt_addr_bytes((struct sockaddr *)&ss, len, &p), 16);
	assert_int_equal(p[15], 1);
	assert_int_equal(gt_addr_bytes((struct sockaddr *)&ss, 8, &p), 0);
	assert_int_equal(gt_addr_bytes(NULL, 0, &p), 0);
}

/* CIDR blocks: forms, masking, mapped IPv4, and the two kinds of error. */
static void
test_cidr(void **state)
{
	struct gt_cidr	c;
	size_t		i;
	static const char *const badaddr[] = {
		"", "/8", "1.2.3/8", "abc", " 1.2.3.4", "1.2.3.256/8",
		"1::2::3/64", "fe80::zz/64", "[::1]/128", "localhost/8",
		"aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa/8",
	};
	static const char *const badprefix[] = {
		"1.2.3.4/33", "::1/129", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/+8",
		"1.2.3.4/ 8", "1.2.3.4/8 ", "1.2.3.4/8/8", "1.2.3.4/0x8",
		"1.2.3.4/0008", "1.2.3.4/4294967328", "::1/12a",
	};

	(void)state;
	assert_int_equal(gt_cidr_scan("10.1.2.3/8", 0, &c), GT_CIDR_OK);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(c.addr[0], 10);
	assert_int_equal(c.addr[1], 0);
	assert_int_equal(gt_cidr_scan("192.168.77.200/20", 0, &c), GT_CIDR_OK);
	assert_int_equal(c.addr[2], 64);
	assert_int_equal(c.addr[3], 0);
	assert_int_equal(gt_cidr_scan("2001:db8::1", 0, &c), GT_CIDR_OK);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(gt_cidr_scan("::/0", 0, &c), GT_CIDR_OK);
	assert_int_equal(c.prefix, 0);
	assert_int_equal(gt_cidr_scan("::ffff:10.0.0.0/104", 0, &c),
	    GT_CIDR_OK);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	/* Leading zeros: the allowlist takes them, strict mode does not. */
	assert_int_equal(gt_cidr_scan("1.2.3.4/08", 0, &c), GT_CIDR_OK);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(gt_cidr_scan("1.2.3.4/08", GT_CIDR_STRICT, &c),
	    GT_CIDR_EPREFIX);
	assert_int_equal(gt_cidr_scan("1.2.3.4/0", GT_CIDR_STRICT, &c),
	    GT_CIDR_OK);
	assert_int_equal(gt_cidr_scan("1.2.3.4/10", GT_CIDR_STRICT, &c),
	    GT_CIDR_OK);

	for (i = 0; i < sizeof(badaddr) / sizeof(badaddr[0]); i++)
		if (gt_cidr_scan(badaddr[i], 0, &c) != GT_CIDR_EADDR)
			fail_msg("\"%s\" not refused for its address",
			    badaddr[i]);
	for (i = 0; i < sizeof(badprefix) / sizeof(badprefix[0]); i++)
		if (gt_cidr_scan(badprefix[i], 0, &c) != GT_CIDR_EPREFIX)
			fail_msg("\"%s\" not refused for its prefix",
			    badprefix[i]);
	assert_int_equal(gt_cidr_scan(NULL, 0, &c), GT_CIDR_EADDR);
	assert_int_equal(gt_cidr_scan(repeat('1', 1000), 0, &c),
	    GT_CIDR_EADDR);
	assert_int_equal(gt_cidr_scan("1.2.3.4", 0, NULL), GT_CIDR_EADDR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_family),
		cmocka_unit_test(test_parse_ip),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_cidr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_codec_proxy.c: the PROXY protocol header encoder (proxy_hdr.h)
 * against the bytes of haproxy's doc/proxy-protocol.txt: its v1 example
 * line and longest lines, the v2 signature and address blocks; address
 * conversion from sockaddrs; and every output buffer size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "gt/proxy_hdr.h"

/* An IPv4 pa from dotted text. */
static struct gt_proxy_addr
pa4(int version, const char *src, uint16_t sport, const char *dst,
    uint16_t dport)
{
	struct gt_proxy_addr pa;

	memset(&pa, 0, sizeof(pa));
	pa.version = (uint8_t)version;
	pa.family = 4;
	assert_int_equal(inet_pton(AF_INET, src, pa.src), 1);
	assert_int_equal(inet_pton(AF_INET, dst, pa.dst), 1);
	pa.src_port = sport;
	pa.dst_port = dport;
	return pa;
}

/* An IPv6 pa from text. */
static struct gt_proxy_addr
pa6(int version, const char *src, uint16_t sport, const char *dst,
    uint16_t dport)
{
	struct gt_proxy_addr pa;

	memset(&pa, 0, sizeof(pa));
	pa.version = (uint8_t)version;
	pa.family = 6;
	assert_int_equal(inet_pton(AF_INET6, src, pa.src), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, pa.dst), 1);
	pa.src_port = sport;
	pa.dst_port = dport;
	return pa;
}

/* Encode pa and expect exactly the n bytes at want. */
static void
expect_hdr(const struct gt_proxy_addr *pa, const void *want, size_t n)
{
	uint8_t	buf[GT_PROXY_HDR_MAX];
	int	got;

	memset(buf, 0xee, sizeof(buf));
	got = gt_proxy_hdr_encode(pa, buf, sizeof(buf));
	if (got != (int)n)
		fail_msg("length %d, want %zu (%.*s)", got, n,
		    got > 0 ? got : 0, (const char *)buf);
	assert_memory_equal(buf, want, n);
}

#define EXPECT_V1(pa, line)	expect_hdr(pa, line, sizeof(line) - 1)

/* v1 lines: the spec's example and its longest TCP4 and TCP6 lines. */
static void
test_v1(void **state)
{
	struct gt_proxy_addr pa;

	(void)state;
	pa = pa4(GT_PROXY_V1, "192.168.0.1", 56324, "192.168.0.11", 443);
	EXPECT_V1(&pa, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
	pa = pa4(GT_PROXY_V1, "255.255.255.255", 65535, "255.255.255.255",
	    65535);
	EXPECT_V1(&pa, "PROXY TCP4 255.255.255.255 255.255.255.255 65535 "
	    "65535\r\n");
	assert_int_equal(gt_proxy_hdr_encode(&pa, (uint8_t[64]){ 0 }, 64), 56);
	/* No leading zeroes, port 0, address 0. */
	pa = pa4(GT_PROXY_V1, "0.0.0.0", 0, "10.0.0.9", 7);
	EXPECT_V1(&pa, "PROXY TCP4 0.0.0.0 10.0.0.9 0 7\r\n");
	pa = pa6(GT_PROXY_V1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	EXPECT_V1(&pa, "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
	{
		uint8_t b[GT_PROXY_HDR_MAX];

		assert_int_equal(gt_proxy_hdr_encode(&pa, b, sizeof(b)), 104);
	}
	pa = pa6(GT_PROXY_V1, "::1", 40000, "::1", 8080);
	EXPECT_V1(&pa, "PROXY TCP6 ::1 ::1 40000 8080\r\n");
}

/* v1 IPv6 text: hex groups only, the longest zero run (first on a tie) as "::". */
static void
test_v1_ipv6_text(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "::", "::" },
		{ "::1", "::1" },
		{ "1::", "1::" },
		{ "2001:db8::1", "2001:db8::1" },
		{ "2001:DB8:0:0:0:0:0:1", "2001:db8::1" },
		{ "1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7" },	/* one zero stays */
		{ "1:0:0:2:0:0:0:3", "1:0:0:2::3" },		/* the longest */
		{ "1:0:0:2:0:0:3:4", "1::2:0:0:3:4" },		/* the first on a tie */
		{ "0:0:1:2:3:4:5:6", "::1:2:3:4:5:6" },
		{ "1:2:3:4:5:6:0:0", "1:2:3:4:5:6::" },
		{ "fe80::a:b0:c00:d000", "fe80::a:b0:c00:d000" },
		/* inet_ntop would write these with a dotted quad; v1 may not. */
		{ "::ffff:1.2.3.4", "::ffff:102:304" },
		{ "::1.2.3.4", "::102:304" },
	};
	struct gt_proxy_addr	pa;
	char			want[160];
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pa = pa6(GT_PROXY_V1, t[i].in, 1, "::2", 2);
		snprintf(want, sizeof(want), "PROXY TCP6 %s ::2 1 2\r\n",
		    t[i].out);
		expect_hdr(&pa, want, strlen(want));
	}
}

/* v2: signature, 0x21, 0x11/0x21, length, addresses, ports. */
static void
test_v2(void **state)
{
	static const uint8_t w4[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a,			/* signature */
		0x21,				/* version 2, PROXY */
		0x11,				/* TCP over IPv4 */
		0x00, 0x0c,			/* 2*4 + 2*2 */
		192, 168, 0, 1,			/* source */
		192, 168, 0, 11,		/* destination */
		0xdc, 0x04,			/* 56324 */
		0x01, 0xbb,			/* 443 */
	};
	static const uint8_t w6[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a,
		0x21,
		0x21,				/* TCP over IPv6 */
		0x00, 0x24,			/* 2*16 + 2*2 */
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
		0xc7, 0x38,			/* 51000 */
		0x00, 0x50,			/* 80 */
	};
	struct gt_proxy_addr pa;

	(void)state;
	assert_memory_equal(GT_PROXY_V2_SIG, w4, GT_PROXY_V2_SIGLEN);
	pa = pa4(GT_PROXY_V2, "192.168.0.1", 56324, "192.168.0.11", 443);
	expect_hdr(&pa, w4, sizeof(w4));
	pa = pa6(GT_PROXY_V2, "2001:db8::1", 51000, "2001:db8::2", 80);
	expect_hdr(&pa, w6, sizeof(w6));
}

/* From sockaddrs: v4, v6, v4-mapped as TCP4, mixed families as TCP6. */
static void
test_addr_set(void **state)
{
	struct sockaddr_in	s4, d4;
	struct sockaddr_in6	s6, d6;
	struct sockaddr_un	su;
	struct gt_proxy_addr	pa;

	(void)state;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = htons(40000);
	inet_pton(AF_INET, "127.0.0.2", &s4.sin_addr);
	d4 = s4;
	d4.sin_port = htons(8080);
	inet_pton(AF_INET, "127.0.0.1", &d4.sin_addr);
	assert_int_equal(gt_proxy_addr_set(&pa, GT_PROXY_V1,
	    (struct sockaddr *)&s4, (struct sockaddr *)&d4), 0);
	EXPECT_V1(&pa, "PROXY TCP4 127.0.0.2 127.0.0.1 40000 8080\r\n");

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons(40001);
	inet_pton(AF_INET6, "::ffff:127.0.0.2", &s6.sin6_addr);
	d6 = s6;
	d6.sin6_port = htons(8081);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &d6.sin6_addr);
	/* A dual-stack listener's IPv4 user is an IPv4 user. */
	assert_int_equal(gt_proxy_addr_set(&pa, GT_PROXY_V1,
	    (struct sockaddr *)&s6, (struct sockaddr *)&d6), 0);
	assert_int_equal(pa.family, 4);
	EXPECT_V1(&pa, "PROXY TCP4 127.0.0.2 127.0.0.1 40001 8081\r\n");

	inet_pton(AF_INET6, "2001:db8::5", &s6.sin6_addr);
	inet_pton(AF_INET6, "2001:db8::6", &d6.sin6_addr);
	assert_int_equal(gt_proxy_addr_set(&pa, GT_PROXY_V2,
	    (struct sockaddr *)&s6, (struct sockaddr *)&d6), 0);
	assert_int_equal(pa.family, 6);
	assert_int_equal(pa.version, GT_PROXY_V2);
	assert_int_equal(pa.src_port, 40001);
	assert_int_equal(pa.dst_port, 8081);
	assert_int_equal(pa.src[15], 5);

	/* IPv6 user, IPv4 listener address: one family, IPv6, for both. */
	pa.version = GT_PROXY_V1;
	assert_int_equal(gt_proxy_addr_set(&pa, GT_PROXY_V1,
	    (struct sockaddr *)&s6, (struct sockaddr *)&d4), 0);
	EXPECT_V1(&pa, "PROXY TCP6 2001:db8::5 ::ffff:7f00:1 40001 8080\r\n");
	assert_int_equal(gt_proxy_addr_set(&pa, GT_PROXY_V1,
	    (struct sockaddr *)&d4, (struct sockaddr *)&s6), 0);
	EXPECT_V1(&pa, "PROXY TCP6 ::ffff:7f00:1 2001:db8::5 8080 40001\r\n");

	/* Other families and versions are refused. */
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	assert_int_equal(gt_proxy_addr_set(&pa, GT_PROXY_V1,
	    (struct sockaddr *)&su, (struct sockaddr *)&d4), -1);
	assert_int_equal(gt_proxy_addr_set(&pa, GT_PROXY_V1,
	    (struct sockaddr *)&s4, (struct sockaddr *)&su), -1);
	assert_int_equal(gt_proxy_addr_set(&pa, GT_PROXY_V1, NULL,
	    (struct sockaddr *)&d4), -1);
	assert_int_equal(gt_proxy_addr_set(&pa, 0,
	    (struct sockaddr *)&s4, (struct sockaddr *)&d4), -1);
	assert_int_equal(gt_proxy_addr_set(&pa, 3,
	    (struct sockaddr *)&s4, (struct sockaddr *)&d4), -1);
}

/*
 * Every output size from 0 to the maximum, for the longest header of each
 * kind: -1 below its length, the length from there on, and never a byte
 * written past the size given.
 */
static void
test_bounds(void **state)
{
	struct gt_proxy_addr	pa[6];
	uint8_t			buf[GT_PROXY_HDR_MAX + 16], ref[GT_PROXY_HDR_MAX];
	int			need, got;
	size_t			i, len, k;

	(void)state;
	pa[0] = pa4(GT_PROXY_V1, "255.255.255.255", 65535, "255.255.255.255",
	    65535);
	pa[1] = pa6(GT_PROXY_V1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    65535, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	pa[2] = pa4(GT_PROXY_V2, "1.2.3.4", 1, "5.6.7.8", 2);
	pa[3] = pa6(GT_PROXY_V2, "::1", 1, "::2", 2);
	pa[4] = pa4(GT_PROXY_V1, "0.0.0.0", 0, "0.0.0.0", 0);
	pa[5] = pa6(GT_PROXY_V1, "::", 0, "::", 0);
	for (i = 0; i < 6; i++) {
		need = gt_proxy_hdr_encode(&pa[i], ref, sizeof(ref));
		assert_true(need > 0 && need <= GT_PROXY_HDR_MAX);
		for (len = 0; len <= GT_PROXY_HDR_MAX; len++) {
			memset(buf, 0xee, sizeof(buf));
			got = gt_proxy_hdr_encode(&pa[i], buf, len);
			assert_int_equal(got, (int)len < need ? -1 : need);
			for (k = len; k < sizeof(buf); k++)
				if (buf[k] != 0xee)
					fail_msg("pa %zu, size %zu: byte %zu "
					    "written", i, len, k);
			if (got > 0)
				assert_memory_equal(buf, ref, (size_t)need);
		}
	}
	/* Exact lengths: the spec's figures. */
	assert_int_equal(gt_proxy_hdr_encode(&pa[0], ref, sizeof(ref)), 56);
	assert_int_equal(gt_proxy_hdr_encode(&pa[1], ref, sizeof(ref)), 104);
	assert_int_equal(gt_proxy_hdr_encode(&pa[2], ref, sizeof(ref)), 28);
	assert_int_equal(gt_proxy_hdr_encode(&pa[3], ref, sizeof(ref)), 52);
}

/* Bad arguments: -1 and nothing else. */
static void
test_invalid(void **state)
{
	struct gt_proxy_addr	pa;
	uint8_t			buf[GT_PROXY_HDR_MAX];
	int			v, f;

	(void)state;
	for (v = 0; v < 256; v++)
		for (f = 0; f < 256; f++) {
			pa = pa4(GT_PROXY_V1, "1.2.3.4", 1, "5.6.7.8", 2);
			pa.version = (uint8_t)v;
			pa.family = (uint8_t)f;
			if ((v == 1 || v == 2) && (f == 4 || f == 6))
				assert_true(gt_proxy_hdr_encode(&pa, buf,
				    sizeof(buf)) > 0);
			else
				assert_int_equal(gt_proxy_hdr_encode(&pa, buf,
				    sizeof(buf)), -1);
		}
	pa = pa4(GT_PROXY_V1, "1.2.3.4", 1, "5.6.7.8", 2);
	assert_int_equal(gt_proxy_hdr_encode(NULL, buf, sizeof(buf)), -1);
	assert_int_equal(gt_proxy_hdr_encode(&pa, NULL, sizeof(buf)), -1);

	assert_int_equal(gt_proxy_version_parse(NULL), GT_PROXY_NONE);
	assert_int_equal(gt_proxy_version_parse(""), GT_PROXY_NONE);
	assert_int_equal(gt_proxy_version_parse("v1"), GT_PROXY_V1);
	assert_int_equal(gt_proxy_version_parse("v2"), GT_PROXY_V2);
	assert_int_equal(gt_proxy_version_parse("v3"), -1);
	assert_int_equal(gt_proxy_version_parse("V1"), -1);
	assert_int_equal(gt_proxy_version_parse("v1 "), -1);
	assert_int_equal(gt_proxy_version_parse("1"), -1);
	assert_int_equal(gt_proxy_version_parse("v"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1),
		cmocka_unit_test(test_v1_ipv6_text),
		cmocka_unit_test(test_v2),
		cmocka_unit_test(test_addr_set),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

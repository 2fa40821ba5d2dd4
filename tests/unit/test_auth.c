/* test_auth.c: CIDR allowlist and HS256 JWT checks. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>
#include <jwt.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include "gt/auth.h"

static const unsigned char key[] = "0123456789abcdef0123456789abcdef-test-key";
static const unsigned char key2[] = "fedcba9876543210fedcba9876543210-other-key";
#define KEYLEN	(sizeof(key) - 1)
#define KEY2LEN	(sizeof(key2) - 1)

static const time_t now = 1700000000;

/* ---- CIDR ---- */

/* An AF_INET sockaddr for text. */
static struct sockaddr_storage
sa4(const char *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, s, &sin->sin_addr), 1);
	return ss;
}

/* An AF_INET6 sockaddr for text. */
static struct sockaddr_storage
sa6(const char *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
	return ss;
}

/* Does peer (v4 or v6 text) match the one rule text? */
static int
m1(const char *rule, const char *peer)
{
	struct gt_cidr c;
	struct sockaddr_storage ss;

	assert_int_equal(gt_cidr_parse(rule, &c), 0);
	ss = strchr(peer, ':') != NULL ? sa6(peer) : sa4(peer);
	return gt_cidr_match(&c, 1, (struct sockaddr *)&ss);
}

static void
test_cidr_v4(void **state)
{
	struct gt_cidr c;

	(void)state;
	assert_int_equal(gt_cidr_parse("10.1.2.0/24", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 24);
	assert_true(m1("10.1.2.0/24", "10.1.2.0"));
	assert_true(m1("10.1.2.0/24", "10.1.2.255"));
	assert_false(m1("10.1.2.0/24", "10.1.3.0"));
	assert_false(m1("10.1.2.0/24", "10.1.1.255"));
	assert_true(m1("172.16.0.0/12", "172.31.255.255"));
	assert_false(m1("172.16.0.0/12", "172.32.0.0"));
	/* /32 and a bare address */
	assert_true(m1("127.0.0.1/32", "127.0.0.1"));
	assert_false(m1("127.0.0.1/32", "127.0.0.2"));
	assert_true(m1("127.0.0.1", "127.0.0.1"));
	assert_false(m1("127.0.0.1", "127.0.0.2"));
	assert_int_equal(gt_cidr_parse("127.0.0.1", &c), 0);
	assert_int_equal(c.prefix, 32);
	/* /0: every IPv4 address, no IPv6 one */
	assert_true(m1("0.0.0.0/0", "1.2.3.4"));
	assert_true(m1("0.0.0.0/0", "255.255.255.255"));
	assert_false(m1("0.0.0.0/0", "::1"));
	assert_false(m1("0.0.0.0/0", "2001:db8::1"));
}

static void
test_cidr_v6(void **state)
{
	struct gt_cidr c;

	(void)state;
	assert_int_equal(gt_cidr_parse("2001:db8::/32", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 32);
	assert_true(m1("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(m1("2001:db8::/32", "2001:db9::1"));
	assert_true(m1("2001:db8:0:1::/63", "2001:db8:0:1:ffff::"));
	assert_false(m1("2001:db8:0:2::/63", "2001:db8:0:1::"));
	/* /128 and bare */
	assert_true(m1("::1/128", "::1"));
	assert_false(m1("::1/128", "::2"));
	assert_true(m1("::1", "::1"));
	assert_int_equal(gt_cidr_parse("::1", &c), 0);
	assert_int_equal(c.prefix, 128);
	/* /0: every IPv6 address, no IPv4 one */
	assert_true(m1("::/0", "::1"));
	assert_true(m1("::/0", "ffff:ffff::"));
	assert_false(m1("::/0", "1.2.3.4"));
	assert_false(m1("::/0", "::ffff:1.2.3.4"));	/* that is IPv4 */
	/* an IPv4 peer never matches an IPv6 rule */
	assert_false(m1("::/96", "1.2.3.4"));
	assert_false(m1("::1.2.3.4/128", "1.2.3.4"));
}

static void
test_cidr_host_bits(void **state)
{
	struct gt_cidr c;
	static const uint8_t v6net[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x00 };

	(void)state;
	assert_int_equal(gt_cidr_parse("192.168.77.200/20", &c), 0);
	assert_int_equal(c.addr[0], 192);
	assert_int_equal(c.addr[1], 168);
	assert_int_equal(c.addr[2], 64);
	assert_int_equal(c.addr[3], 0);
	assert_true(m1("192.168.77.200/20", "192.168.64.1"));
	assert_true(m1("192.168.77.200/20", "192.168.79.255"));
	assert_false(m1("192.168.77.200/20", "192.168.80.0"));
	assert_int_equal(gt_cidr_parse("1.2.3.4/0", &c), 0);
	assert_int_equal(c.addr[0] | c.addr[1] | c.addr[2] | c.addr[3], 0);
	assert_int_equal(gt_cidr_parse("2001:db8:1234:5678::1/40", &c), 0);
	assert_memory_equal(c.addr, v6net, 16);
	assert_true(m1("2001:db8:1234:5678::1/40", "2001:db8:12ff::9"));
	assert_false(m1("2001:db8:1234:5678::1/40", "2001:db8:1300::"));
}

static void
test_cidr_malformed(void **state)
{
	struct gt_cidr c;
	size_t i;
	static const char *const bad[] = {
		"", "1.2.3.4/33", "::1/129", "1.2.3/8", "1.2.3.4/-1",
		"1.2.3.4/ 8", "abc", "1.2.3.4/", "1.2.3.4/+8", " 1.2.3.4",
		"1.2.3.4 ", "1.2.3.4/8 ", "1.2.3.4/8/8", "/8", "1.2.3.4/0x8",
		"1.2.3.4/0008", "1.2.3.256", "::1/", ":::1", "1::2::3",
		"1.2.3.4/4294967328", "2001:db8::/1000", "1.2.3.4\n",
		"::1/12a", "0:0:0:0:0:0:0:0:0/1",
		"aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa/8",
	};

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (gt_cidr_parse(bad[i], &c) != -1)
			fail_msg("accepted bad CIDR \"%s\"", bad[i]);
	}
	assert_int_equal(gt_cidr_parse(NULL, &c), -1);
	/* the edges of the valid range */
	assert_int_equal(gt_cidr_parse("1.2.3.4/32", &c), 0);
	assert_int_equal(gt_cidr_parse("1.2.3.4/0", &c), 0);
	assert_int_equal(gt_cidr_parse("::/128", &c), 0);
	assert_int_equal(gt_cidr_parse("::/0", &c), 0);
	assert_int_equal(gt_cidr_parse("1.2.3.4/08", &c), 0);
	assert_int_equal(c.prefix, 8);
}

static void
test_cidr_v4_mapped(void **state)
{
	struct gt_cidr c;

	(void)state;
	/* a v4 peer seen through a dual-stack socket matches v4 rules */
	assert_true(m1("127.0.0.1/32", "::ffff:127.0.0.1"));
	assert_false(m1("127.0.0.1/32", "::ffff:127.0.0.2"));
	assert_true(m1("10.0.0.0/8", "::ffff:10.20.30.40"));
	assert_true(m1("0.0.0.0/0", "::ffff:8.8.8.8"));
	/* a rule written the mapped way is an IPv4 rule */
	assert_int_equal(gt_cidr_parse("::ffff:10.0.0.0/104", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_true(m1("::ffff:10.0.0.0/104", "10.9.9.9"));
	assert_true(m1("::ffff:10.0.0.0/104", "::ffff:10.9.9.9"));
	assert_false(m1("::ffff:10.0.0.0/104", "11.0.0.1"));
	/* but not a real IPv6 peer that only looks alike */
	assert_false(m1("10.0.0.0/8", "::10.0.0.1"));
	assert_false(m1("10.0.0.0/8", "64:ff9b::10.0.0.1"));
}

static void
test_cidr_list(void **state)
{
	struct gt_cidr list[4];
	struct sockaddr_storage ss;
	struct sockaddr un;

	(void)state;
	assert_int_equal(gt_cidr_parse("127.0.0.1/32", &list[0]), 0);
	assert_int_equal(gt_cidr_parse("::1/128", &list[1]), 0);
	assert_int_equal(gt_cidr_parse("192.168.0.0/16", &list[2]), 0);
	assert_int_equal(gt_cidr_parse("fd00::/8", &list[3]), 0);

	ss = sa4("127.0.0.1");
	assert_true(gt_cidr_match(list, 4, (struct sockaddr *)&ss));
	ss = sa4("127.0.0.2");
	assert_false(gt_cidr_match(list, 4, (struct sockaddr *)&ss));
	ss = sa4("192.168.200.3");
	assert_true(gt_cidr_match(list, 4, (struct sockaddr *)&ss));
	ss = sa6("::1");
	assert_true(gt_cidr_match(list, 4, (struct sockaddr *)&ss));
	ss = sa6("fd12:3456::1");
	assert_true(gt_cidr_match(list, 4, (struct sockaddr *)&ss));
	ss = sa6("fe80::1");
	assert_false(gt_cidr_match(list, 4, (struct sockaddr *)&ss));
	ss = sa6("::ffff:192.168.1.1");
	assert_true(gt_cidr_match(list, 4, (struct sockaddr *)&ss));
	/* only the first n rules count; an empty list matches nothing */
	ss = sa4("192.168.200.3");
	assert_false(gt_cidr_match(list, 2, (struct sockaddr *)&ss));
	assert_false(gt_cidr_match(list, 0, (struct sockaddr *)&ss));
	assert_false(gt_cidr_match(NULL, 0, (struct sockaddr *)&ss));
	/* other families and NULL never match */
	memset(&un, 0, sizeof(un));
	un.sa_family = AF_UNIX;
	assert_false(gt_cidr_match(list, 4, &un));
	assert_false(gt_cidr_match(list, 4, NULL));
}

/* ---- JWT ---- */

/* base64url without padding of len bytes; malloc'ed. */
static char *
b64url(const void *p, size_t len)
{
	size_t olen, i, j;
	unsigned char *buf;
	char *out;

	buf = malloc(len * 4 / 3 + 8);
	assert_non_null(buf);
	assert_int_equal(mbedtls_base64_encode(buf, len * 4 / 3 + 8, &olen,
	    p, len), 0);
	out = malloc(olen + 1);
	assert_non_null(out);
	for (i = j = 0; i < olen; i++) {
		if (buf[i] == '=')
			continue;
		out[j++] = buf[i] == '+' ? '-' : buf[i] == '/' ? '_' :
		    (char)buf[i];
	}
	out[j] = '\0';
	free(buf);
	return out;
}

/*
 * header.payload.signature from JSON texts, signed HS256 with k (or with
 * the literal sig text when sig is not NULL). malloc'ed.
 */
static char *
craft(const char *hdr, const char *payload, const unsigned char *k,
    size_t klen, const char *sig)
{
	char *h, *p, *s, *out, *signing;
	unsigned char mac[32];
	size_t n;

	h = b64url(hdr, strlen(hdr));
	p = b64url(payload, strlen(payload));
	n = strlen(h) + strlen(p) + 2;
	signing = malloc(n);
	assert_non_null(signing);
	snprintf(signing, n, "%s.%s", h, p);
	if (sig == NULL) {
		assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(
		    MBEDTLS_MD_SHA256), k, klen,
		    (const unsigned char *)signing, strlen(signing), mac), 0);
		s = b64url(mac, sizeof(mac));
	} else
		s = strdup(sig);
	n = strlen(signing) + strlen(s) + 2;
	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%s.%s", signing, s);
	free(h);
	free(p);
	free(s);
	free(signing);
	return out;
}

/* A token made by libjwt with alg and the grants JSON. malloc'ed. */
static char *
libjwt_token(jwt_alg_t alg, const unsigned char *k, size_t klen,
    const char *grants)
{
	jwt_t *jwt;
	char *s;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_set_alg(jwt, alg, k, (int)klen), 0);
	assert_int_equal(jwt_add_grants_json(jwt, grants), 0);
	s = jwt_encode_str(jwt);
	assert_non_null(s);
	jwt_free(jwt);
	return s;
}

/* Verify with the test key at the test time; return the code. */
static int
v(const char *tok, enum gt_role *role)
{
	enum gt_role r;
	char sub[64];

	return gt_jwt_verify(tok, key, KEYLEN, now, role != NULL ? role : &r,
	    sub, sizeof(sub));
}

/* The claims JSON with exp/nbf offsets from now and a role. */
static void
claims(char *buf, size_t len, long expoff, const char *role)
{
	snprintf(buf, len, "{\"sub\":\"alice\",\"exp\":%lld,\"role\":\"%s\"}",
	    (long long)now + expoff, role);
}

static void
test_jwt_valid(void **state)
{
	char c[256], sub[64], *tok;
	enum gt_role role;

	(void)state;
	claims(c, sizeof(c), 60, "admin");
	tok = libjwt_token(JWT_ALG_HS256, key, KEYLEN, c);
	role = GT_ROLE_NONE;
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN, now, &role, sub,
	    sizeof(sub)), GT_JWT_OK);
	assert_int_equal(role, GT_ROLE_ADMIN);
	assert_string_equal(sub, "alice");
	free(tok);

	claims(c, sizeof(c), 1, "read");
	tok = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", c, key, KEYLEN,
	    NULL);
	assert_int_equal(v(tok, &role), GT_JWT_OK);
	assert_int_equal(role, GT_ROLE_READ);
	free(tok);

	/* no sub is fine; sub NULL is fine */
	snprintf(c, sizeof(c), "{\"exp\":%lld,\"role\":\"read\"}",
	    (long long)now + 10);
	tok = craft("{\"alg\":\"HS256\"}", c, key, KEYLEN, NULL);
	strcpy(sub, "stale");
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN, now, &role, sub,
	    sizeof(sub)), GT_JWT_OK);
	assert_string_equal(sub, "");
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN, now, &role, NULL, 0),
	    GT_JWT_OK);
	free(tok);
}

static void
test_jwt_alg_none(void **state)
{
	char c[256], *p, tok[1024], *t2;
	enum gt_role role = GT_ROLE_ADMIN;

	(void)state;
	claims(c, sizeof(c), 60, "admin");
	p = b64url(c, strlen(c));
	/* {"alg":"none"} with an empty signature */
	snprintf(tok, sizeof(tok), "eyJhbGciOiJub25lIn0.%s.", p);
	assert_int_equal(v(tok, &role), GT_JWT_E_ALG);
	assert_int_equal(role, GT_ROLE_NONE);
	/* and with a signature that would be right for HS256 */
	t2 = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(t2, NULL), GT_JWT_E_ALG);
	free(t2);
	/* case, missing alg, alg not a string */
	t2 = craft("{\"alg\":\"hs256\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(t2, NULL), GT_JWT_E_ALG);
	free(t2);
	t2 = craft("{\"typ\":\"JWT\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(t2, NULL), GT_JWT_E_ALG);
	free(t2);
	t2 = craft("{\"alg\":256}", c, key, KEYLEN, NULL);
	assert_int_equal(v(t2, NULL), GT_JWT_E_ALG);
	free(t2);
	/* a duplicate alg cannot smuggle a second opinion */
	t2 = craft("{\"alg\":\"HS256\",\"alg\":\"none\"}", c, key, KEYLEN,
	    NULL);
	assert_int_not_equal(v(t2, NULL), GT_JWT_OK);
	free(t2);
	/* a critical extension we do not know */
	t2 = craft("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", c,
	    key, KEYLEN, NULL);
	assert_int_equal(v(t2, NULL), GT_JWT_E_MALFORMED);
	free(t2);
	free(p);
}

static void
test_jwt_other_algs(void **state)
{
	char c[256], *tok, fake[400];
	unsigned char sig[256];

	(void)state;
	claims(c, sizeof(c), 60, "admin");
	/* a real HS384 token under the same key */
	tok = libjwt_token(JWT_ALG_HS384, key, KEYLEN, c);
	assert_int_equal(v(tok, NULL), GT_JWT_E_ALG);
	free(tok);
	tok = libjwt_token(JWT_ALG_HS512, key, KEYLEN, c);
	assert_int_equal(v(tok, NULL), GT_JWT_E_ALG);
	free(tok);
	/* RS256 header with a signature-sized blob */
	memset(sig, 0x5a, sizeof(sig));
	{
		char *s = b64url(sig, sizeof(sig));

		snprintf(fake, sizeof(fake), "%s", s);
		free(s);
	}
	tok = craft("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", c, NULL, 0, fake);
	assert_int_equal(v(tok, NULL), GT_JWT_E_ALG);
	free(tok);
	/* RS256 header, HMAC'd with the key (the classic confusion) */
	tok = craft("{\"alg\":\"RS256\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(tok, NULL), GT_JWT_E_ALG);
	free(tok);
}

static void
test_jwt_forged(void **state)
{
	char c[256], *tok, *dot;
	size_t n;

	(void)state;
	claims(c, sizeof(c), 60, "admin");
	tok = libjwt_token(JWT_ALG_HS256, key, KEYLEN, c);
	assert_int_equal(v(tok, NULL), GT_JWT_OK);
	/* a flipped character in the middle of the signature */
	dot = strrchr(tok, '.');
	dot[10] = dot[10] == 'A' ? 'B' : 'A';
	assert_int_equal(v(tok, NULL), GT_JWT_E_SIGNATURE);
	free(tok);
	/* a flipped character in the payload */
	tok = libjwt_token(JWT_ALG_HS256, key, KEYLEN, c);
	dot = strchr(tok, '.');
	dot[5] = dot[5] == 'x' ? 'y' : 'x';
	assert_int_not_equal(v(tok, NULL), GT_JWT_OK);
	free(tok);
	/* signed with another key */
	tok = libjwt_token(JWT_ALG_HS256, key2, KEY2LEN, c);
	assert_int_equal(v(tok, NULL), GT_JWT_E_SIGNATURE);
	free(tok);
	/* a key that is a prefix of the real one */
	tok = libjwt_token(JWT_ALG_HS256, key, KEYLEN, c);
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN - 1, now,
	    &(enum gt_role){0}, NULL, 0), GT_JWT_E_SIGNATURE);
	/* no key at all never verifies */
	assert_int_equal(gt_jwt_verify(tok, NULL, 0, now,
	    &(enum gt_role){0}, NULL, 0), GT_JWT_E_SIGNATURE);
	/* signature cut short, or removed */
	n = strlen(tok);
	tok[n - 4] = '\0';
	assert_int_equal(v(tok, NULL), GT_JWT_E_SIGNATURE);
	dot = strrchr(tok, '.');
	dot[1] = '\0';
	assert_int_equal(v(tok, NULL), GT_JWT_E_SIGNATURE);
	free(tok);
}

static void
test_jwt_times(void **state)
{
	char c[256], *tok;
	enum gt_role role = GT_ROLE_ADMIN;

	(void)state;
	/* expired a second ago, and exactly now */
	claims(c, sizeof(c), -1, "admin");
	tok = craft("{\"alg\":\"HS256\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(tok, &role), GT_JWT_E_EXPIRED);
	assert_int_equal(role, GT_ROLE_NONE);
	free(tok);
	claims(c, sizeof(c), 0, "admin");
	tok = craft("{\"alg\":\"HS256\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(tok, NULL), GT_JWT_E_EXPIRED);
	free(tok);
	/* missing exp, exp of the wrong type */
	tok = craft("{\"alg\":\"HS256\"}", "{\"role\":\"admin\"}", key, KEYLEN,
	    NULL);
	assert_int_equal(v(tok, NULL), GT_JWT_E_NO_EXP);
	free(tok);
	snprintf(c, sizeof(c), "{\"exp\":\"%lld\",\"role\":\"admin\"}",
	    (long long)now + 60);
	tok = craft("{\"alg\":\"HS256\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(tok, NULL), GT_JWT_E_NO_EXP);
	free(tok);
	snprintf(c, sizeof(c), "{\"exp\":%lld.5,\"role\":\"admin\"}",
	    (long long)now + 60);
	tok = craft("{\"alg\":\"HS256\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(tok, NULL), GT_JWT_E_NO_EXP);
	free(tok);
	/* nbf in the future; nbf now is fine */
	snprintf(c, sizeof(c), "{\"exp\":%lld,\"nbf\":%lld,\"role\":\"admin\"}",
	    (long long)now + 60, (long long)now + 1);
	tok = craft("{\"alg\":\"HS256\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(tok, NULL), GT_JWT_E_NOT_YET);
	free(tok);
	snprintf(c, sizeof(c), "{\"exp\":%lld,\"nbf\":%lld,\"role\":\"admin\"}",
	    (long long)now + 60, (long long)now);
	tok = craft("{\"alg\":\"HS256\"}", c, key, KEYLEN, NULL);
	assert_int_equal(v(tok, NULL), GT_JWT_OK);
	free(tok);
}

static void
test_jwt_role(void **state)
{
	char c[256], *tok;

	(void)state;
	claims(c, sizeof(c), 60, "root");
	tok = libjwt_token(JWT_ALG_HS256, key, KEYLEN, c);
	assert_int_equal(v(tok, NULL), GT_JWT_E_ROLE);
	free(tok);
	claims(c, sizeof(c), 60, "Admin");
	tok = libjwt_token(JWT_ALG_HS256, key, KEYLEN, c);
	assert_int_equal(v(tok, NULL), GT_JWT_E_ROLE);
	free(tok);
	snprintf(c, sizeof(c), "{\"exp\":%lld}", (long long)now + 60);
	tok = libjwt_token(JWT_ALG_HS256, key, KEYLEN, c);
	assert_int_equal(v(tok, NULL), GT_JWT_E_ROLE);
	free(tok);
	snprintf(c, sizeof(c), "{\"exp\":%lld,\"role\":[\"admin\"]}",
	    (long long)now + 60);
	tok = libjwt_token(JWT_ALG_HS256, key, KEYLEN, c);
	assert_int_equal(v(tok, NULL), GT_JWT_E_ROLE);
	free(tok);
}

static void
test_jwt_garbage(void **state)
{
	char *big, *tok, c[256];
	size_t i;
	static const char *const bad[] = {
		"", "a.b", "a.b.c.d", "a.b.c", "...", "..", ".", "@@@.###.$$$",
		"eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9..",
		"eyJhbGciOiJIUzI1NiJ9.!!!!.abcd",
		"eyJhbGciOiJIUzI1NiJ9=.e30.abcd", "e30.e30.e30",
		"bm90IGpzb24.e30.abcd", "WzFd.e30.abcd",
		"eyJhbGciOiJIUzI1NiJ9 .e30.abcd", "Bearer x.y.z",
	};

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = v(bad[i], NULL);

		if (rc == GT_JWT_OK)
			fail_msg("accepted \"%s\"", bad[i]);
		/* everything here but "e30" (no alg) is malformed */
		if (strcmp(bad[i], "e30.e30.e30") == 0)
			assert_int_equal(rc, GT_JWT_E_ALG);
		else if (rc != GT_JWT_E_MALFORMED)
			fail_msg("\"%s\": %d, not malformed", bad[i], rc);
	}
	assert_int_equal(v(NULL, NULL), GT_JWT_E_MALFORMED);
	/* 10 KB, as junk and as a well-formed token with a huge claim */
	big = malloc(10241);
	assert_non_null(big);
	memset(big, 'a', 10240);
	big[10240] = '\0';
	assert_int_equal(v(big, NULL), GT_JWT_E_MALFORMED);
	memset(big, 'x', 9000);
	big[9000] = '\0';
	snprintf(c, sizeof(c), "{\"exp\":%lld,\"role\":\"admin\",\"pad\":\"",
	    (long long)now + 60);
	{
		size_t n = strlen(c) + 9000 + 3;
		char *pl = malloc(n);

		assert_non_null(pl);
		snprintf(pl, n, "%s%s\"}", c, big);
		tok = craft("{\"alg\":\"HS256\"}", pl, key, KEYLEN, NULL);
		assert_int_equal(v(tok, NULL), GT_JWT_E_MALFORMED);
		free(tok);
		free(pl);
	}
	free(big);
	/* a payload that is not an object */
	tok = craft("{\"alg\":\"HS256\"}", "[1,2]", key, KEYLEN, NULL);
	assert_int_equal(v(tok, NULL), GT_JWT_E_MALFORMED);
	free(tok);
	tok = craft("{\"alg\":\"HS256\"}", "{\"exp\":", key, KEYLEN, NULL);
	assert_int_equal(v(tok, NULL), GT_JWT_E_MALFORMED);
	free(tok);
}

static void
test_jwt_issue_roundtrip(void **state)
{
	char *tok, sub[64], small[4];
	enum gt_role role;
	time_t t = time(NULL);
	jwt_t *jwt;

	(void)state;
	tok = gt_jwt_issue(key, KEYLEN, "alice@ops", GT_ROLE_READ, t, 120);
	assert_non_null(tok);
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN, t, &role, sub,
	    sizeof(sub)), GT_JWT_OK);
	assert_int_equal(role, GT_ROLE_READ);
	assert_string_equal(sub, "alice@ops");
	/* truncated subject */
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN, t, &role, small,
	    sizeof(small)), GT_JWT_OK);
	assert_string_equal(small, "ali");
	/* its window: nbf = now, exp = now + ttl */
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN, t + 119, &role, NULL,
	    0), GT_JWT_OK);
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN, t + 120, &role, NULL,
	    0), GT_JWT_E_EXPIRED);
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN, t - 1, &role, NULL,
	    0), GT_JWT_E_NOT_YET);
	assert_int_equal(gt_jwt_verify(tok, key2, KEY2LEN, t, &role, NULL, 0),
	    GT_JWT_E_SIGNATURE);
	/* libjwt agrees it is HS256 with the claims we set */
	assert_int_equal(jwt_decode(&jwt, tok, key, (int)KEYLEN), 0);
	assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
	assert_int_equal(jwt_get_grant_int(jwt, "iat"), (long)t);
	assert_int_equal(jwt_get_grant_int(jwt, "exp"), (long)t + 120);
	assert_string_equal(jwt_get_grant(jwt, "role"), "read");
	jwt_free(jwt);
	free(tok);

	tok = gt_jwt_issue(key, KEYLEN, "bob", GT_ROLE_ADMIN, t, 3600);
	assert_non_null(tok);
	assert_int_equal(gt_jwt_verify(tok, key, KEYLEN, t, &role, NULL, 0),
	    GT_JWT_OK);
	assert_int_equal(role, GT_ROLE_ADMIN);
	free(tok);
	/* refused inputs */
	assert_null(gt_jwt_issue(key, KEYLEN, "x", GT_ROLE_NONE, t, 60));
	assert_null(gt_jwt_issue(key, KEYLEN, "x", GT_ROLE_ADMIN, t, 0));
	assert_null(gt_jwt_issue(key, KEYLEN, "x", GT_ROLE_ADMIN, t, -5));
	assert_null(gt_jwt_issue(NULL, 0, "x", GT_ROLE_ADMIN, t, 60));
}

static void
test_ct_memcmp_strerror(void **state)
{
	int codes[] = { GT_JWT_OK, GT_JWT_E_MALFORMED, GT_JWT_E_ALG,
	    GT_JWT_E_SIGNATURE, GT_JWT_E_EXPIRED, GT_JWT_E_NO_EXP,
	    GT_JWT_E_NOT_YET, GT_JWT_E_ROLE };
	size_t i, j;

	(void)state;
	assert_int_equal(gt_ct_memcmp("abcd", "abcd", 4), 0);
	assert_int_not_equal(gt_ct_memcmp("abcd", "abce", 4), 0);
	assert_int_not_equal(gt_ct_memcmp("xbcd", "abcd", 4), 0);
	assert_int_equal(gt_ct_memcmp("a", "b", 0), 0);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		assert_non_null(gt_jwt_strerror(codes[i]));
		for (j = 0; j < i; j++)
			assert_string_not_equal(gt_jwt_strerror(codes[i]),
			    gt_jwt_strerror(codes[j]));
	}
	assert_string_equal(gt_jwt_strerror(GT_JWT_E_EXPIRED), "token expired");
	assert_string_equal(gt_jwt_strerror(GT_JWT_E_ALG),
	    "algorithm not allowed");
	assert_non_null(gt_jwt_strerror(-99));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_v4),
		cmocka_unit_test(test_cidr_v6),
		cmocka_unit_test(test_cidr_host_bits),
		cmocka_unit_test(test_cidr_malformed),
		cmocka_unit_test(test_cidr_v4_mapped),
		cmocka_unit_test(test_cidr_list),
		cmocka_unit_test(test_jwt_valid),
		cmocka_unit_test(test_jwt_alg_none),
		cmocka_unit_test(test_jwt_other_algs),
		cmocka_unit_test(test_jwt_forged),
		cmocka_unit_test(test_jwt_times),
		cmocka_unit_test(test_jwt_role),
		cmocka_unit_test(test_jwt_garbage),
		cmocka_unit_test(test_jwt_issue_roundtrip),
		cmocka_unit_test(test_ct_memcmp_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

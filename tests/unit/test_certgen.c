/* test_certgen.c: SAN parsing, name checks, the SAN/EKU encoders, issuing, file writing and the CRL. */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include "gt/certgen.h"

/* A temp folder per test, removed (one level plus one subfolder) after. */
struct tdir {
	char	path[64];
};

/* Make a fresh temp folder. */
static void
tdir_make(struct tdir *t)
{
	snprintf(t->path, sizeof(t->path), "/tmp/test_certgen.XXXXXX");
	assert_non_null(mkdtemp(t->path));
}

/* Remove every file in path (and in its subfolders, one level), then path. */
static void
tdir_rm(const char *path, int depth)
{
	char		 sub[512];
	struct dirent	*e;
	struct stat	 st;
	DIR		*d;

	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode) && depth > 0)
			tdir_rm(sub, depth - 1);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

/* Count the entries of a folder (without . and ..). */
static int
tdir_count(const char *path)
{
	struct dirent	*e;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Read a whole small file into buf; returns its length or -1. */
static long
slurp(const char *path, char *buf, size_t size)
{
	FILE	*f;
	size_t	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (long)n;
}

/* Good SAN lists: DNS and IPv4/IPv6, case-insensitive prefixes. */
static void
test_san_parse_good(void **state)
{
	struct gt_certgen_san_list	l;
	char				err[GT_CERTGEN_ERRLEN];
	const unsigned char		v4[] = { 127, 0, 0, 1 };
	const unsigned char		v6[16] = { [15] = 1 };
	const unsigned char		v6b[16] = { 0x20, 0x01, 0x0d, 0xb8,
					    [15] = 0x42 };

	(void)state;
	assert_int_equal(gt_certgen_san_parse("DNS:localhost,IP:127.0.0.1", &l,
	    err, sizeof(err)), 0);
	assert_int_equal(l.sl_n, 2);
	assert_int_equal(l.sl_v[0].san_type, GT_CERTGEN_SAN_DNS);
	assert_int_equal(l.sl_v[0].san_len, 9);
	assert_memory_equal(l.sl_v[0].san_data, "localhost", 9);
	assert_int_equal(l.sl_v[1].san_type, GT_CERTGEN_SAN_IP);
	assert_int_equal(l.sl_v[1].san_len, 4);
	assert_memory_equal(l.sl_v[1].san_data, v4, 4);

	assert_int_equal(gt_certgen_san_parse("IP:::1,IP:2001:db8::42,"
	    "dns:*.Example.COM,ip:10.1.2.3", &l, err, sizeof(err)), 0);
	assert_int_equal(l.sl_n, 4);
	assert_int_equal(l.sl_v[0].san_type, GT_CERTGEN_SAN_IP);
	assert_int_equal(l.sl_v[0].san_len, 16);
	assert_memory_equal(l.sl_v[0].san_data, v6, 16);
	assert_int_equal(l.sl_v[1].san_len, 16);
	assert_memory_equal(l.sl_v[1].san_data, v6b, 16);
	assert_int_equal(l.sl_v[2].san_type, GT_CERTGEN_SAN_DNS);
	assert_int_equal(l.sl_v[2].san_len, 13);
	assert_memory_equal(l.sl_v[2].san_data, "*.Example.COM", 13);
	assert_int_equal(l.sl_v[3].san_len, 4);
}

/* The 253-byte name, 63-byte label and 32-name limits. */
static void
test_san_parse_limits(void **state)
{
	struct gt_certgen_san_list	l;
	char				err[GT_CERTGEN_ERRLEN], s[1024], name[300];
	size_t				i;

	(void)state;
	/* 253 bytes: labels of 63 + 63 + 63 + 61 and three dots. */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	snprintf(s, sizeof(s), "DNS:%.253s", name);
	assert_int_equal(gt_certgen_san_parse(s, &l, err, sizeof(err)), 0);
	assert_int_equal(l.sl_v[0].san_len, 253);
	snprintf(s, sizeof(s), "DNS:%.254s", name);
	assert_int_equal(gt_certgen_san_parse(s, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "253"));
	/* A 64-byte label. */
	snprintf(s, sizeof(s), "DNS:%.64s.com", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(gt_certgen_san_parse(s, &l, err, sizeof(err)), -1);

	/* 32 names fit, 33 do not. */
	s[0] = '\0';
	for (i = 0; i < GT_CERTGEN_SAN_MAX; i++)
		strcat(s, i ? ",DNS:a" : "DNS:a");
	assert_int_equal(gt_certgen_san_parse(s, &l, err, sizeof(err)), 0);
	assert_int_equal(l.sl_n, GT_CERTGEN_SAN_MAX);
	strcat(s, ",DNS:a");
	assert_int_equal(gt_certgen_san_parse(s, &l, err, sizeof(err)), -1);
}

/* Each malformed kind is refused with a message naming -san. */
static void
test_san_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", ",", "DNS:a,", ",DNS:a", "DNS:a,,IP:1.2.3.4",	/* empty items */
		"FOO:x", "DNS", "IP", "URI:http://x", "email:a@b", "localhost",	/* prefixes */
		"IP:", "IP:1.2.3", "IP:256.1.1.1", "IP:1.2.3.4/24", "IP:::g",
		"IP:1.2.3.4 ", "IP: 1.2.3.4", "IP:localhost", "IP:[::1]",	/* IPs */
		"DNS:", "DNS:a b", "DNS:-a", "DNS:a-", "DNS:a..b", "DNS:.a",
		"DNS:a.", "DNS:a_b", "DNS:a/b", "DNS:a:b", "DNS:*", "DNS:*.",
		"DNS:a.*.b", "DNS:*a.b", "DNS:\xc3\xa9t\xc3\xa9", "DNS:a\tb",	/* DNS */
	};
	struct gt_certgen_san_list	l;
	char				err[GT_CERTGEN_ERRLEN];
	size_t				i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (gt_certgen_san_parse(bad[i], &l, err, sizeof(err)) != -1)
			fail_msg("accepted bad SAN list \"%s\"", bad[i]);
		assert_non_null(strstr(err, "-san"));
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(gt_certgen_san_parse(NULL, &l, err, sizeof(err)), -1);
	assert_int_equal(gt_certgen_san_parse("DNS:a,,b", &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty item"));
	assert_int_equal(gt_certgen_san_parse("XX:a", &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "DNS: or IP:"));
	assert_int_equal(gt_certgen_san_parse("IP:1.2.3", &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid IP"));
	assert_int_equal(gt_certgen_san_parse("DNS:a!b", &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid DNS"));
}

/* CN: length, control characters (C0, DEL, C1) and UTF-8. */
static void
test_cn_check(void **state)
{
	static const char *const good[] = { "gt CA", "localhost", "a,b\\c=d",
	    "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "x" };
	static const char *const bad[] = { "", "a\tb", "a\nb", "a\x7f",
	    "\x1b[31m", "a\xc2\x85" /* U+0085 */, "\xff", "\xc3", "\xc3\x28",
	    "\xc0\xaf" /* overlong */, "\xed\xa0\x80" /* surrogate */,
	    "\xf4\x90\x80\x80" /* > U+10FFFF */ };
	char	err[GT_CERTGEN_ERRLEN], cn[80];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (gt_certgen_cn_check(good[i], err, sizeof(err)) != 0)
			fail_msg("refused good CN \"%s\": %s", good[i], err);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (gt_certgen_cn_check(bad[i], err, sizeof(err)) != -1)
			fail_msg("accepted bad CN #%zu", i);
		assert_non_null(strstr(err, "-cn"));
	}
	memset(cn, 'a', sizeof(cn));
	cn[64] = '\0';
	assert_int_equal(gt_certgen_cn_check(cn, err, sizeof(err)), 0);
	cn[64] = 'a';
	cn[65] = '\0';
	assert_int_equal(gt_certgen_cn_check(cn, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "64"));
	assert_int_equal(gt_certgen_cn_check("a\x01", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control"));
}

/* Client names that name files, and -key-type words. */
static void
test_filename_and_key_type(void **state)
{
	enum gt_certgen_key_type	t;
	char				err[GT_CERTGEN_ERRLEN];

	(void)state;
	assert_int_equal(gt_certgen_filename_check("alice", err, sizeof(err)), 0);
	assert_int_equal(gt_certgen_filename_check("bob-2.host_x", err,
	    sizeof(err)), 0);
	assert_int_equal(gt_certgen_filename_check(".alice", err, sizeof(err)), -1);
	assert_int_equal(gt_certgen_filename_check("..", err, sizeof(err)), -1);
	assert_int_equal(gt_certgen_filename_check("a/b", err, sizeof(err)), -1);
	assert_int_equal(gt_certgen_filename_check("a b", err, sizeof(err)), -1);
	assert_int_equal(gt_certgen_filename_check("caf\xc3\xa9", err,
	    sizeof(err)), -1);
	assert_int_equal(gt_certgen_key_type_parse("ec256", &t, err, sizeof(err)), 0);
	assert_int_equal(t, GT_CERTGEN_KEY_EC256);
	assert_int_equal(gt_certgen_key_type_parse("rsa2048", &t, err,
	    sizeof(err)), 0);
	assert_int_equal(t, GT_CERTGEN_KEY_RSA2048);
	assert_int_equal(gt_certgen_key_type_parse("rsa", &t, err, sizeof(err)), -1);
	assert_int_equal(gt_certgen_key_type_parse("", &t, err, sizeof(err)), -1);
}

/* The SAN encoding parses back to the same names. */
static void
test_san_encode(void **state)
{
	struct gt_certgen_san_list	 l;
	unsigned char			 buf[512], *der, *p, *end;
	const unsigned char		 v6[16] = { [15] = 1 };
	size_t				 len, n;
	char				 err[GT_CERTGEN_ERRLEN];

	(void)state;
	assert_int_equal(gt_certgen_san_parse("DNS:localhost,IP:127.0.0.1,IP:::1",
	    &l, err, sizeof(err)), 0);
	assert_int_equal(gt_certgen_san_encode(&l, buf, sizeof(buf), &der,
	    &len), 0);
	assert_ptr_equal(der + len, buf + sizeof(buf));
	/* Read it back with the ASN.1 parser: SEQUENCE { [2] "localhost", [7] 4, [7] 16 }. */
	p = der;
	end = der + len;
	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &n,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
	assert_ptr_equal(p + n, end);
	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &n,
	    MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2), 0);
	assert_int_equal(n, 9);
	assert_memory_equal(p, "localhost", 9);
	p += n;
	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &n,
	    MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(p, "\x7f\x00\x00\x01", 4);
	p += n;
	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &n,
	    MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7), 0);
	assert_int_equal(n, 16);
	assert_memory_equal(p, v6, 16);
	p += n;
	assert_ptr_equal(p, end);

	/* A buffer too small and an empty list fail. */
	assert_true(gt_certgen_san_encode(&l, buf, 20, &der, &len) < 0);
	l.sl_n = 0;
	assert_true(gt_certgen_san_encode(&l, buf, sizeof(buf), &der, &len) < 0);
}

/* Parse an EKU encoding back into its OIDs (at most two). */
static size_t
eku_oids(unsigned char *der, size_t len, mbedtls_asn1_buf oids[2])
{
	unsigned char	*p = der, *end = der + len;
	size_t		 n, k = 0;

	assert_int_equal(mbedtls_asn1_get_tag(&p, end, &n,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
	assert_ptr_equal(p + n, end);
	while (p < end) {
		assert_true(k < 2);
		assert_int_equal(mbedtls_asn1_get_tag(&p, end, &n,
		    MBEDTLS_ASN1_OID), 0);
		oids[k].p = p;
		oids[k].len = n;
		k++;
		p += n;
	}
	return k;
}

/* The EKU encoding parses back to the right OIDs. */
static void
test_eku_encode(void **state)
{
	unsigned char		buf[64], *der;
	mbedtls_asn1_buf	o[2];
	size_t			len;

	(void)state;
	assert_int_equal(gt_certgen_eku_encode(GT_CERTGEN_EKU_SERVER, buf,
	    sizeof(buf), &der, &len), 0);
	assert_int_equal(eku_oids(der, len, o), 1);
	assert_int_equal(o[0].len, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
	assert_memory_equal(o[0].p, MBEDTLS_OID_SERVER_AUTH, o[0].len);

	assert_int_equal(gt_certgen_eku_encode(GT_CERTGEN_EKU_CLIENT, buf,
	    sizeof(buf), &der, &len), 0);
	assert_int_equal(eku_oids(der, len, o), 1);
	assert_memory_equal(o[0].p, MBEDTLS_OID_CLIENT_AUTH,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));

	assert_int_equal(gt_certgen_eku_encode(GT_CERTGEN_EKU_SERVER |
	    GT_CERTGEN_EKU_CLIENT, buf, sizeof(buf), &der, &len), 0);
	assert_int_equal(eku_oids(der, len, o), 2);
	assert_memory_equal(o[0].p, MBEDTLS_OID_SERVER_AUTH, o[0].len);
	assert_memory_equal(o[1].p, MBEDTLS_OID_CLIENT_AUTH, o[1].len);

	assert_true(gt_certgen_eku_encode(0, buf, sizeof(buf), &der, &len) < 0);
	assert_true(gt_certgen_eku_encode(4, buf, sizeof(buf), &der, &len) < 0);
	assert_true(gt_certgen_eku_encode(GT_CERTGEN_EKU_SERVER, buf, 5, &der,
	    &len) < 0);
}

/* Shared by the issuing tests: a random source and a CA. */
struct ca {
	struct gt_certgen_rng	rng;
	mbedtls_pk_context	key;
	mbedtls_x509_crt	crt;
	unsigned char		pem[GT_CERTGEN_PEM_MAX];
	size_t			len;
};

/* Make a CA with cn and key type t. */
static void
ca_make(struct ca *c, const char *cn, enum gt_certgen_key_type t)
{
	struct gt_certgen_req	req = { .req_kind = GT_CERTGEN_CA, .req_cn = cn };
	char			err[GT_CERTGEN_ERRLEN];

	assert_int_equal(gt_certgen_rng_init(&c->rng, err, sizeof(err)), 0);
	mbedtls_pk_init(&c->key);
	mbedtls_x509_crt_init(&c->crt);
	assert_int_equal(gt_certgen_key_generate(&c->key, t, &c->rng, err,
	    sizeof(err)), 0);
	gt_certgen_validity(&req, time(NULL), GT_CERTGEN_CA_DAYS);
	if (gt_certgen_issue(&req, &c->key, NULL, &c->key, &c->rng, c->pem,
	    sizeof(c->pem), &c->len, err, sizeof(err)) != 0)
		fail_msg("issue CA: %s", err);
	assert_int_equal(c->len, strlen((char *)c->pem));
	assert_int_equal(mbedtls_x509_crt_parse(&c->crt, c->pem, c->len + 1), 0);
}

/* Free a CA made by ca_make. */
static void
ca_free(struct ca *c)
{
	mbedtls_x509_crt_free(&c->crt);
	mbedtls_pk_free(&c->key);
	gt_certgen_rng_free(&c->rng);
}

/* Issue a leaf from c and parse it into crt. */
static void
leaf_make(struct ca *c, enum gt_certgen_kind kind, const char *cn,
    const struct gt_certgen_san_list *sans, enum gt_certgen_key_type t,
    mbedtls_x509_crt *crt)
{
	struct gt_certgen_req	req = { .req_kind = kind, .req_cn = cn,
				    .req_sans = sans };
	mbedtls_pk_context	key;
	unsigned char		pem[GT_CERTGEN_PEM_MAX];
	size_t			len;
	char			err[GT_CERTGEN_ERRLEN];

	mbedtls_pk_init(&key);
	assert_int_equal(gt_certgen_key_generate(&key, t, &c->rng, err,
	    sizeof(err)), 0);
	gt_certgen_validity(&req, time(NULL), GT_CERTGEN_LEAF_DAYS);
	if (gt_certgen_issue(&req, &key, &c->crt, &c->key, &c->rng, pem,
	    sizeof(pem), &len, err, sizeof(err)) != 0)
		fail_msg("issue leaf: %s", err);
	mbedtls_x509_crt_init(crt);
	assert_int_equal(mbedtls_x509_crt_parse(crt, pem, len + 1), 0);
	assert_int_equal(mbedtls_pk_check_pair(&crt->pk, &key), 0);
	mbedtls_pk_free(&key);
}

/* Whether crt's SAN list holds an entry of tag with those bytes. */
static int
has_san(const mbedtls_x509_crt *crt, unsigned char tag, const void *v,
    size_t len)
{
	const mbedtls_x509_sequence	*s;

	for (s = &crt->subject_alt_names; s != NULL; s = s->next)
		if (s->buf.tag == tag && s->buf.len == len &&
		    memcmp(s->buf.p, v, len) == 0)
			return 1;
	return 0;
}

/* A CA: CA:TRUE, keyCertSign|cRLSign, serial, validity, self-signed. */
static void
test_issue_ca(void **state)
{
	struct ca	c;
	time_t		now = time(NULL);
	struct tm	tm;
	uint32_t	flags = 0;

	(void)state;
	ca_make(&c, "gt CA", GT_CERTGEN_KEY_EC256);
	assert_int_equal(c.crt.version, 3);
	assert_int_equal(c.crt.ca_istrue, 1);
	assert_int_equal(c.crt.max_pathlen, 1);	/* pathlen 0, stored + 1 */
	assert_int_equal(mbedtls_x509_crt_check_key_usage(&c.crt,
	    MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN), 0);
	assert_int_equal(mbedtls_x509_crt_check_key_usage(&c.crt,
	    MBEDTLS_X509_KU_DIGITAL_SIGNATURE), MBEDTLS_ERR_X509_BAD_INPUT_DATA);
	assert_int_equal(c.crt.sig_md, MBEDTLS_MD_SHA256);
	assert_int_equal(c.crt.sig_pk, MBEDTLS_PK_ECDSA);
	/* Self-signed: issuer == subject and it verifies against itself. */
	assert_int_equal(c.crt.issuer_raw.len, c.crt.subject_raw.len);
	assert_memory_equal(c.crt.issuer_raw.p, c.crt.subject_raw.p,
	    c.crt.subject_raw.len);
	assert_int_equal(mbedtls_x509_crt_verify(&c.crt, &c.crt, NULL, NULL,
	    &flags, NULL, NULL), 0);
	/* A positive 128-bit serial: 16 bytes (or 15 by chance), top bit clear. */
	assert_true(c.crt.serial.len >= 15 && c.crt.serial.len <= 16);
	assert_true((c.crt.serial.p[0] & 0x80) == 0);
	/* notBefore an hour ago (to the minute), notAfter in 3650 days. */
	now -= GT_CERTGEN_SKEW;
	gmtime_r(&now, &tm);
	assert_int_equal(c.crt.valid_from.year, tm.tm_year + 1900);
	assert_int_equal(c.crt.valid_from.mon, tm.tm_mon + 1);
	assert_int_equal(c.crt.valid_from.day, tm.tm_mday);
	now += GT_CERTGEN_SKEW + (time_t)GT_CERTGEN_CA_DAYS * 86400;
	gmtime_r(&now, &tm);
	assert_int_equal(c.crt.valid_to.year, tm.tm_year + 1900);
	assert_int_equal(c.crt.valid_to.mon, tm.tm_mon + 1);
	assert_int_equal(c.crt.valid_to.day, tm.tm_mday);
	ca_free(&c);
}

/* Leaves: issuer name, EKUs, key usage, SANs, names with commas. */
static void
test_issue_server_and_client(void **state)
{
	struct gt_certgen_san_list	 l;
	struct ca			 c;
	mbedtls_x509_crt		 srv, cli;
	const unsigned char		 v6[16] = { [15] = 1 };
	char				 err[GT_CERTGEN_ERRLEN], dn[256];
	uint32_t			 flags = 0;

	(void)state;
	ca_make(&c, "Test, CA \\ one", GT_CERTGEN_KEY_EC256);
	assert_int_equal(gt_certgen_san_parse("DNS:localhost,IP:127.0.0.1,"
	    "IP:::1,DNS:*.example.org", &l, err, sizeof(err)), 0);
	leaf_make(&c, GT_CERTGEN_SERVER, "srv, \"quoted\"", &l,
	    GT_CERTGEN_KEY_EC256, &srv);
	leaf_make(&c, GT_CERTGEN_CLIENT, "alice", NULL, GT_CERTGEN_KEY_EC256,
	    &cli);

	/* The issuer is the CA's subject, byte for byte; both chain to the CA. */
	assert_int_equal(srv.issuer_raw.len, c.crt.subject_raw.len);
	assert_memory_equal(srv.issuer_raw.p, c.crt.subject_raw.p,
	    c.crt.subject_raw.len);
	assert_int_equal(mbedtls_x509_crt_verify(&srv, &c.crt, NULL, "localhost",
	    &flags, NULL, NULL), 0);
	assert_int_equal(mbedtls_x509_crt_verify(&srv, &c.crt, NULL,
	    "a.example.org", &flags, NULL, NULL), 0);
	assert_int_not_equal(mbedtls_x509_crt_verify(&srv, &c.crt, NULL,
	    "example.com", &flags, NULL, NULL), 0);
	assert_true(flags & MBEDTLS_X509_BADCERT_CN_MISMATCH);
	assert_int_equal(mbedtls_x509_crt_verify(&cli, &c.crt, NULL, NULL,
	    &flags, NULL, NULL), 0);

	/* The subject CN is stored as given, commas and quotes included. */
	assert_int_equal(srv.subject.val.len, strlen("srv, \"quoted\""));
	assert_memory_equal(srv.subject.val.p, "srv, \"quoted\"",
	    srv.subject.val.len);
	assert_int_equal(srv.subject.val.tag, MBEDTLS_ASN1_UTF8_STRING);
	assert_null(srv.subject.next);
	assert_true(mbedtls_x509_dn_gets(dn, sizeof(dn), &cli.subject) > 0);
	assert_string_equal(dn, "CN=alice");

	/* Server: CA:FALSE, serverAuth only, digitalSignature, the SANs. */
	assert_int_equal(srv.ca_istrue, 0);
	assert_true(srv.ext_types & MBEDTLS_X509_EXT_BASIC_CONSTRAINTS);
	assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(&srv,
	    MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), 0);
	assert_int_not_equal(mbedtls_x509_crt_check_extended_key_usage(&srv,
	    MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
	assert_int_equal(srv.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	assert_true(srv.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
	assert_true(has_san(&srv, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2,
	    "localhost", 9));
	assert_true(has_san(&srv, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2,
	    "*.example.org", 13));
	assert_true(has_san(&srv, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7,
	    "\x7f\x00\x00\x01", 4));
	assert_true(has_san(&srv, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, v6, 16));

	/* Client: clientAuth only, no SAN. */
	assert_int_equal(cli.ca_istrue, 0);
	assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(&cli,
	    MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)), 0);
	assert_int_not_equal(mbedtls_x509_crt_check_extended_key_usage(&cli,
	    MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)), 0);
	assert_int_equal(cli.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
	assert_false(cli.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);

	/* A leaf cannot sign: verifying the client against the server fails. */
	assert_int_not_equal(mbedtls_x509_crt_verify(&cli, &srv, NULL, NULL,
	    &flags, NULL, NULL), 0);

	mbedtls_x509_crt_free(&srv);
	mbedtls_x509_crt_free(&cli);
	ca_free(&c);
}

/* RSA-2048 pairs: keyEncipherment added, SHA-256 with RSA. */
static void
test_issue_rsa(void **state)
{
	struct ca		c;
	mbedtls_x509_crt	srv;
	uint32_t		flags = 0;

	(void)state;
	ca_make(&c, "rsa CA", GT_CERTGEN_KEY_RSA2048);
	leaf_make(&c, GT_CERTGEN_SERVER, "rsa server", NULL,
	    GT_CERTGEN_KEY_RSA2048, &srv);
	assert_int_equal(mbedtls_pk_get_type(&srv.pk), MBEDTLS_PK_RSA);
	assert_int_equal(mbedtls_pk_get_bitlen(&srv.pk), 2048);
	assert_int_equal(srv.sig_pk, MBEDTLS_PK_RSA);
	assert_int_equal(srv.sig_md, MBEDTLS_MD_SHA256);
	assert_int_equal(srv.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE |
	    MBEDTLS_X509_KU_KEY_ENCIPHERMENT);
	assert_false(srv.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
	assert_int_equal(mbedtls_x509_crt_verify(&srv, &c.crt, NULL, NULL,
	    &flags, NULL, NULL), 0);
	mbedtls_x509_crt_free(&srv);
	ca_free(&c);
}

/* Issuing refuses inconsistent requests and short buffers. */
static void
test_issue_bad(void **state)
{
	struct gt_certgen_req	req = { .req_kind = GT_CERTGEN_SERVER,
				    .req_cn = "x" };
	struct ca		c;
	unsigned char		pem[GT_CERTGEN_PEM_MAX];
	size_t			len;
	char			err[GT_CERTGEN_ERRLEN];

	(void)state;
	ca_make(&c, "gt CA", GT_CERTGEN_KEY_EC256);
	gt_certgen_validity(&req, time(NULL), 1);
	/* A leaf without an issuer, a CA with one, a bad CN, an empty period. */
	assert_int_equal(gt_certgen_issue(&req, &c.key, NULL, &c.key, &c.rng,
	    pem, sizeof(pem), &len, err, sizeof(err)), -1);
	req.req_kind = GT_CERTGEN_CA;
	assert_int_equal(gt_certgen_issue(&req, &c.key, &c.crt, &c.key, &c.rng,
	    pem, sizeof(pem), &len, err, sizeof(err)), -1);
	req.req_cn = "a\nb";
	assert_int_equal(gt_certgen_issue(&req, &c.key, NULL, &c.key, &c.rng,
	    pem, sizeof(pem), &len, err, sizeof(err)), -1);
	req.req_cn = "ok";
	req.req_not_after = req.req_not_before;
	assert_int_equal(gt_certgen_issue(&req, &c.key, NULL, &c.key, &c.rng,
	    pem, sizeof(pem), &len, err, sizeof(err)), -1);
	/* A PEM buffer too small. */
	gt_certgen_validity(&req, time(NULL), 1);
	assert_int_equal(gt_certgen_issue(&req, &c.key, NULL, &c.key, &c.rng,
	    pem, 100, &len, err, sizeof(err)), -1);
	ca_free(&c);
}

/* jwt.key contents: 64 lowercase hex characters and a newline. */
static void
test_jwt_key(void **state)
{
	struct gt_certgen_rng	r;
	char			a[2 * GT_CERTGEN_JWT_BYTES + 2];
	char			b[2 * GT_CERTGEN_JWT_BYTES + 2];
	char			err[GT_CERTGEN_ERRLEN];
	size_t			i;

	(void)state;
	assert_int_equal(gt_certgen_rng_init(&r, err, sizeof(err)), 0);
	assert_int_equal(gt_certgen_jwt_key(&r, a, err, sizeof(err)), 0);
	assert_int_equal(gt_certgen_jwt_key(&r, b, err, sizeof(err)), 0);
	assert_int_equal(strlen(a), 65);
	assert_int_equal(a[64], '\n');
	for (i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_string_not_equal(a, b);
	gt_certgen_rng_free(&r);
}

/* Modes, folder creation, no overwrite without force, force. */
static void
test_write_files(void **state)
{
	struct tdir		 t;
	struct gt_certgen_file	 f[2] = {
		{ "a.crt", (const unsigned char *)"CERT\n", 5, 0 },
		{ "a.key", (const unsigned char *)"KEY\n", 4, 1 },
	};
	const char		*names[] = { "a.crt", "a.key" };
	char			 dir[128], path[192], buf[64], err[GT_CERTGEN_ERRLEN];
	struct stat		 st;

	(void)state;
	tdir_make(&t);
	/* A missing nested folder is created 0700. */
	snprintf(dir, sizeof(dir), "%s/x/y", t.path);
	assert_int_equal(gt_certgen_check_targets(dir, names, 2, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(gt_certgen_write_files(dir, f, 2, 0, err, sizeof(err)), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/a.crt", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "CERT\n");
	snprintf(path, sizeof(path), "%s/a.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(tdir_count(dir), 2);	/* no temp file left */

	/* Without force: refused, naming the file, nothing touched. */
	assert_int_equal(gt_certgen_check_targets(dir, names, 2, 0, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "a.crt exists"));
	f[0].f_data = (const unsigned char *)"NEW\n";
	f[0].f_len = 4;
	assert_int_equal(gt_certgen_write_files(dir, f, 2, 0, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "exists"));
	snprintf(path, sizeof(path), "%s/a.crt", dir);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 5);
	assert_int_equal(tdir_count(dir), 2);

	/* One existing file of two is enough to refuse both. */
	snprintf(path, sizeof(path), "%s/a.crt", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(gt_certgen_write_files(dir, f, 2, 0, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "a.key exists"));
	assert_int_equal(tdir_count(dir), 1);

	/* With force: replaced. */
	assert_int_equal(gt_certgen_write_files(dir, f, 2, 1, err, sizeof(err)), 0);
	assert_int_equal(slurp(path, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "NEW\n");
	assert_int_equal(tdir_count(dir), 2);

	/* A target that is a folder is refused even with force. */
	snprintf(path, sizeof(path), "%s/a.crt", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(gt_certgen_write_files(dir, f, 2, 1, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "directory"));
	rmdir(path);
	/* -out naming a file is refused. */
	snprintf(path, sizeof(path), "%s/a.key", dir);
	assert_int_equal(gt_certgen_write_files(path, f, 2, 0, err, sizeof(err)),
	    -1);
	tdir_rm(t.path, 2);
}

/* The subcommands end to end in-process, and their refusals. */
static void
test_run(void **state)
{
	struct gt_certgen_opts	o;
	struct tdir		t;
	char			out[128], other[128], path[192], err[GT_CERTGEN_ERRLEN];
	char			a[8192], b[8192];
	mbedtls_x509_crt	ca, crt;
	uint32_t		flags;

	(void)state;
	tdir_make(&t);
	snprintf(out, sizeof(out), "%s/certs", t.path);
	snprintf(other, sizeof(other), "%s/other", t.path);
	memset(&o, 0, sizeof(o));
	o.o_out = out;
	if (gt_certgen_run(GT_CERTGEN_CMD_INIT, &o, err, sizeof(err)) != 0)
		fail_msg("init: %s", err);
	assert_int_equal(tdir_count(out), 7);

	/* Again: refused, unchanged. */
	snprintf(path, sizeof(path), "%s/ca.key", out);
	assert_true(slurp(path, a, sizeof(a)) > 0);
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_INIT, &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "exists"));
	assert_true(slurp(path, b, sizeof(b)) > 0);
	assert_string_equal(a, b);

	/* A client pair from it verifies; a bad name writes nothing. */
	o.o_ca = out;
	o.o_cn = "alice";
	if (gt_certgen_run(GT_CERTGEN_CMD_CLIENT, &o, err, sizeof(err)) != 0)
		fail_msg("client: %s", err);
	assert_int_equal(tdir_count(out), 9);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&crt);
	snprintf(path, sizeof(path), "%s/ca.crt", out);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, path), 0);
	snprintf(path, sizeof(path), "%s/alice.crt", out);
	assert_int_equal(mbedtls_x509_crt_parse_file(&crt, path), 0);
	assert_int_equal(mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags,
	    NULL, NULL), 0);
	mbedtls_x509_crt_free(&crt);
	mbedtls_x509_crt_free(&ca);
	o.o_cn = "../alice";
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_CLIENT, &o, err,
	    sizeof(err)), -1);
	o.o_cn = "ca";
	o.o_force = 1;
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_CLIENT, &o, err,
	    sizeof(err)), -1);
	o.o_force = 0;
	assert_int_equal(tdir_count(out), 9);

	/* Missing -ca, -cn; a folder without a CA; -days out of range. */
	o.o_out = other;
	o.o_cn = "x";
	o.o_ca = NULL;
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_SERVER, &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "-ca"));
	o.o_ca = out;
	o.o_cn = NULL;
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_SERVER, &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "-cn"));
	o.o_cn = "x";
	o.o_ca = t.path;
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_SERVER, &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "ca.crt"));
	o.o_ca = out;
	o.o_days = GT_CERTGEN_DAYS_MAX + 1;
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_SERVER, &o, err,
	    sizeof(err)), -1);
	o.o_days = 0;
	o.o_san = "DNS:ok,IP:nope";
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_SERVER, &o, err,
	    sizeof(err)), -1);
	assert_int_equal(tdir_count(other), -1);	/* never created */

	/* The CA's key swapped for a leaf key: refused. */
	snprintf(path, sizeof(path), "%s/ca.key", out);
	snprintf(a, sizeof(a), "%s/alice.key", out);
	assert_int_equal(rename(a, path), 0);
	o.o_san = NULL;
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_SERVER, &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "does not match"));
	/* A leaf as the CA: refused. */
	snprintf(a, sizeof(a), "%s/ca.crt", out);
	snprintf(b, sizeof(b), "%s/alice.crt", out);
	assert_int_equal(rename(b, a), 0);
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_SERVER, &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not a CA"));
	assert_int_equal(tdir_count(other), -1);
	tdir_rm(t.path, 1);
}

/* Count the entries of a parsed CRL. */
static int
crl_count(const mbedtls_x509_crl *crl)
{
	const mbedtls_x509_crl_entry	*e;
	int				 n = 0;

	for (e = &crl->entry; e != NULL; e = e->next)
		if (e->serial.len != 0)
			n++;
	return n;
}

/* Whether the openssl CLI says "verify OK" for dir's crl.pem against its ca.crt. */
static int
openssl_crl_ok(const char *dir)
{
	char	cmd[512], line[256];
	FILE	*f;
	int	ok = 0;

	snprintf(cmd, sizeof(cmd), "openssl crl -in %s/crl.pem -CAfile "
	    "%s/ca.crt -noout -verify 2>&1", dir, dir);
	if ((f = popen(cmd, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "verify OK") != NULL)
			ok = 1;
	return pclose(f) == 0 && ok;
}

/* revoke: a CRL mbedTLS and openssl accept, listing exactly what was revoked. */
static void
test_revoke(void **state)
{
	struct gt_certgen_opts		o;
	struct gt_certgen_serial	s;
	struct tdir			t;
	char				out[128], other[128], path[192], crlpath[192];
	char				err[GT_CERTGEN_ERRLEN], a[8192], b[8192];
	mbedtls_x509_crt		ca, alice, bob;
	mbedtls_x509_crl		crl;
	uint32_t			flags;
	char				hex[80];
	size_t				i;

	(void)state;
	tdir_make(&t);
	snprintf(out, sizeof(out), "%s/certs", t.path);
	snprintf(other, sizeof(other), "%s/other", t.path);
	snprintf(crlpath, sizeof(crlpath), "%s/crl.pem", out);
	memset(&o, 0, sizeof(o));
	o.o_out = out;
	if (gt_certgen_run(GT_CERTGEN_CMD_INIT, &o, err, sizeof(err)) != 0)
		fail_msg("init: %s", err);
	o.o_ca = out;
	o.o_cn = "alice";
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_CLIENT, &o, err,
	    sizeof(err)), 0);
	o.o_cn = "bob";
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_CLIENT, &o, err,
	    sizeof(err)), 0);

	/* Bad arguments: nothing written. */
	memset(&o, 0, sizeof(o));
	o.o_ca = out;
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_REVOKE, &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "-cert"));
	o.o_serial = "zz";
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_REVOKE, &o, err,
	    sizeof(err)), -1);
	o.o_serial = "00";
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_REVOKE, &o, err,
	    sizeof(err)), -1);
	o.o_serial = NULL;
	o.o_out = other;
	if (gt_certgen_run(GT_CERTGEN_CMD_INIT, &o, err, sizeof(err)) != 0)
		fail_msg("init other: %s", err);
	o.o_out = NULL;
	snprintf(path, sizeof(path), "%s/client.crt", other);
	o.o_cert = path;	/* another CA's certificate */
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_REVOKE, &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not issued by this CA"));
	assert_int_equal(access(crlpath, F_OK), -1);

	/* Revoke alice by her certificate. */
	snprintf(path, sizeof(path), "%s/alice.crt", out);
	if (gt_certgen_run(GT_CERTGEN_CMD_REVOKE, &o, err, sizeof(err)) != 0)
		fail_msg("revoke: %s", err);
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&alice);
	mbedtls_x509_crt_init(&bob);
	mbedtls_x509_crl_init(&crl);
	snprintf(a, sizeof(a), "%s/ca.crt", out);
	assert_int_equal(mbedtls_x509_crt_parse_file(&ca, a), 0);
	assert_int_equal(mbedtls_x509_crt_parse_file(&alice, path), 0);
	snprintf(a, sizeof(a), "%s/bob.crt", out);
	assert_int_equal(mbedtls_x509_crt_parse_file(&bob, a), 0);
	assert_int_equal(mbedtls_x509_crl_parse_file(&crl, crlpath), 0);
	assert_int_equal(crl.version, 2);
	assert_int_equal(crl_count(&crl), 1);
	assert_int_equal(mbedtls_x509_crt_is_revoked(&alice, &crl), 1);
	assert_int_equal(mbedtls_x509_crt_is_revoked(&bob, &crl), 0);
	/* The chain check with the CRL: signature, dates and the entry. */
	assert_int_not_equal(mbedtls_x509_crt_verify(&alice, &ca, &crl, NULL,
	    &flags, NULL, NULL), 0);
	assert_int_equal(flags, MBEDTLS_X509_BADCERT_REVOKED);
	assert_int_equal(mbedtls_x509_crt_verify(&bob, &ca, &crl, NULL, &flags,
	    NULL, NULL), 0);
	assert_true(openssl_crl_ok(out));

	/* Again: idempotent, the file is not even rewritten. */
	assert_true(slurp(crlpath, a, sizeof(a)) > 0);
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_REVOKE, &o, err,
	    sizeof(err)), 0);
	assert_true(slurp(crlpath, b, sizeof(b)) > 0);
	assert_string_equal(a, b);

	/* bob by his serial in hex (with colons): both listed now. */
	for (i = 0; i < bob.serial.len; i++)
		snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x%s",
		    bob.serial.p[i], i + 1 < bob.serial.len ? ":" : "");
	o.o_cert = NULL;
	o.o_serial = hex;
	if (gt_certgen_run(GT_CERTGEN_CMD_REVOKE, &o, err, sizeof(err)) != 0)
		fail_msg("revoke -serial %s: %s", hex, err);
	mbedtls_x509_crl_free(&crl);
	mbedtls_x509_crl_init(&crl);
	assert_int_equal(mbedtls_x509_crl_parse_file(&crl, crlpath), 0);
	assert_int_equal(crl_count(&crl), 2);
	assert_int_equal(mbedtls_x509_crt_is_revoked(&alice, &crl), 1);
	assert_int_equal(mbedtls_x509_crt_is_revoked(&bob, &crl), 1);
	assert_true(openssl_crl_ok(out));

	/* Serial parsing: minimal DER, positive. */
	assert_int_equal(gt_certgen_serial_parse("0x00ff:01", &s, err,
	    sizeof(err)), 0);
	assert_int_equal(s.s_len, 3);
	assert_memory_equal(s.s_v, "\x00\xff\x01", 3);
	assert_int_equal(gt_certgen_serial_parse("123", &s, err, sizeof(err)), 0);
	assert_int_equal(s.s_len, 2);
	assert_memory_equal(s.s_v, "\x01\x23", 2);
	assert_int_equal(gt_certgen_serial_parse("", &s, err, sizeof(err)), -1);
	assert_int_equal(gt_certgen_serial_parse("0000000000000000000000000000000"
	    "0000000001", &s, err, sizeof(err)), -1);

	/* A CRL that is not this CA's is refused, not replaced. */
	o.o_ca = other;
	snprintf(a, sizeof(a), "%s/crl.pem", other);
	assert_int_equal(rename(crlpath, a), 0);
	o.o_serial = "42";
	assert_int_equal(gt_certgen_run(GT_CERTGEN_CMD_REVOKE, &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not one CRL signed by this CA"));

	mbedtls_x509_crl_free(&crl);
	mbedtls_x509_crt_free(&bob);
	mbedtls_x509_crt_free(&alice);
	mbedtls_x509_crt_free(&ca);
	tdir_rm(t.path, 1);
}

/* revoke with an RSA CA: the sha256WithRSAEncryption CRL verifies too. */
static void
test_revoke_rsa(void **state)
{
	struct gt_certgen_opts	o;
	struct tdir		t;
	char			out[128], err[GT_CERTGEN_ERRLEN];

	(void)state;
	tdir_make(&t);
	snprintf(out, sizeof(out), "%s/ca", t.path);
	memset(&o, 0, sizeof(o));
	o.o_out = out;
	o.o_key_type = GT_CERTGEN_KEY_RSA2048;
	if (gt_certgen_run(GT_CERTGEN_CMD_CA, &o, err, sizeof(err)) != 0)
		fail_msg("ca: %s", err);
	memset(&o, 0, sizeof(o));
	o.o_ca = out;
	o.o_serial = "7f";
	if (gt_certgen_run(GT_CERTGEN_CMD_REVOKE, &o, err, sizeof(err)) != 0)
		fail_msg("revoke: %s", err);
	assert_true(openssl_crl_ok(out));
	tdir_rm(t.path, 1);
}

/* Run every test. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_san_parse_good),
		cmocka_unit_test(test_san_parse_limits),
		cmocka_unit_test(test_san_parse_bad),
		cmocka_unit_test(test_cn_check),
		cmocka_unit_test(test_filename_and_key_type),
		cmocka_unit_test(test_san_encode),
		cmocka_unit_test(test_eku_encode),
		cmocka_unit_test(test_issue_ca),
		cmocka_unit_test(test_issue_server_and_client),
		cmocka_unit_test(test_issue_rsa),
		cmocka_unit_test(test_issue_bad),
		cmocka_unit_test(test_jwt_key),
		cmocka_unit_test(test_write_files),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_revoke),
		cmocka_unit_test(test_revoke_rsa),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

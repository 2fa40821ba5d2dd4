/* san.c: checking names and encoding the SAN and EKU extensions with asn1write. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>

#include "gt/certgen.h"

/* Whether c may appear in a DNS label (letters, digits, hyphen: RFC 1123). */
static int
certgen_dns_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* LDH labels of 1..63 bytes, 253 in all, an optional leading "*." wildcard. */
int
gt_certgen_dns_valid(const char *s, size_t len)
{
	size_t	i, label;

	if (len == 0 || len > GT_CERTGEN_DNS_MAX)
		return 0;
	/* A wildcard only as the whole leftmost label of a longer name. */
	if (s[0] == '*') {
		if (len < 3 || s[1] != '.')
			return 0;
		s += 2;
		len -= 2;
	}
	label = 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!certgen_dns_char((unsigned char)s[i]))
			return 0;
		if (label == 0 && s[i] == '-')
			return 0;
		if (++label > 63)
			return 0;
	}
	/* No empty last label (a trailing dot) and no trailing hyphen. */
	return label != 0 && s[len - 1] != '-';
}

/* Parse one "DNS:name" or "IP:addr" item of len bytes into san. */
static int
certgen_san_item(const char *item, size_t len, struct gt_certgen_san *san,
    char *err, size_t errlen)
{
	char	ip[INET6_ADDRSTRLEN + 1];
	size_t	vlen;

	if (len == 0) {
		snprintf(err, errlen, "-san: empty item");
		return -1;
	}
	if (len >= 4 && strncasecmp(item, "DNS:", 4) == 0) {
		vlen = len - 4;
		if (vlen > GT_CERTGEN_DNS_MAX) {
			snprintf(err, errlen, "-san: DNS name longer than %d bytes",
			    GT_CERTGEN_DNS_MAX);
			return -1;
		}
		if (!gt_certgen_dns_valid(item + 4, vlen)) {
			snprintf(err, errlen, "-san: invalid DNS name \"%.*s\"",
			    (int)(vlen > 64 ? 64 : vlen), item + 4);
			return -1;
		}
		san->san_type = GT_CERTGEN_SAN_DNS;
		memcpy(san->san_data, item + 4, vlen);
		san->san_len = vlen;
		return 0;
	}
	if (len >= 3 && strncasecmp(item, "IP:", 3) == 0) {
		vlen = len - 3;
		if (vlen == 0 || vlen >= sizeof(ip))
			goto badip;
		memcpy(ip, item + 3, vlen);
		ip[vlen] = '\0';
		san->san_type = GT_CERTGEN_SAN_IP;
		if (inet_pton(AF_INET, ip, san->san_data) == 1)
			san->san_len = 4;
		else if (inet_pton(AF_INET6, ip, san->san_data) == 1)
			san->san_len = 16;
		else
			goto badip;
		return 0;
badip:
		snprintf(err, errlen, "-san: invalid IP address \"%.*s\"",
		    (int)(vlen > 64 ? 64 : vlen), item + 3);
		return -1;
	}
	snprintf(err, errlen, "-san: item \"%.*s\" must start with DNS: or IP:",
	    (int)(len > 64 ? 64 : len), item);
	return -1;
}

/* Split on commas; every item must be a valid DNS: or IP: name. */
int
gt_certgen_san_parse(const char *s, struct gt_certgen_san_list *out,
    char *err, size_t errlen)
{
	const char	*comma;
	size_t		 len;

	out->sl_n = 0;
	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "-san: empty list");
		return -1;
	}
	for (;;) {
		comma = strchr(s, ',');
		len = comma ? (size_t)(comma - s) : strlen(s);
		if (out->sl_n == GT_CERTGEN_SAN_MAX) {
			snprintf(err, errlen, "-san: more than %d names",
			    GT_CERTGEN_SAN_MAX);
			return -1;
		}
		if (certgen_san_item(s, len, &out->sl_v[out->sl_n], err,
		    errlen) == -1)
			return -1;
		out->sl_n++;
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	return 0;
}

/* The CN goes into a UTF8String: bounded, valid UTF-8, no C0/C1 controls. */
int
gt_certgen_cn_check(const char *cn, char *err, size_t errlen)
{
	const unsigned char	*p = (const unsigned char *)cn;
	size_t			 len, i, need;

	len = strlen(cn);
	if (len == 0) {
		snprintf(err, errlen, "-cn: empty name");
		return -1;
	}
	if (len > GT_CERTGEN_CN_MAX) {
		snprintf(err, errlen, "-cn: name longer than %d bytes",
		    GT_CERTGEN_CN_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			snprintf(err, errlen, "-cn: name contains a control character");
			return -1;
		}
		if (p[i] < 0x80)
			continue;
		/* The CN is written as a UTF8String: it must be UTF-8. */
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			need = 1;
		else if (p[i] >= 0xe0 && p[i] <= 0xef)
			need = 2;
		else if (p[i] >= 0xf0 && p[i] <= 0xf4)
			need = 3;
		else
			goto bad;
		if (len - i - 1 < need)
			goto bad;
		if ((p[i] == 0xe0 && p[i + 1] < 0xa0) ||
		    (p[i] == 0xed && p[i + 1] > 0x9f) ||
		    (p[i] == 0xf0 && p[i + 1] < 0x90) ||
		    (p[i] == 0xf4 && p[i + 1] > 0x8f))
			goto bad;
		/* C1 controls (U+0080..U+009F) are control characters too. */
		if (p[i] == 0xc2 && p[i + 1] <= 0x9f) {
			snprintf(err, errlen, "-cn: name contains a control character");
			return -1;
		}
		for (; need > 0; need--)
			if ((p[++i] & 0xc0) != 0x80)
				goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "-cn: name is not valid UTF-8");
	return -1;
}

/* A client name becomes NAME.crt: keep it a plain name in the folder. */
int
gt_certgen_filename_check(const char *name, char *err, size_t errlen)
{
	const char	*p;

	if (*name == '.') {
		snprintf(err, errlen, "-cn: client name \"%.64s\" may not start "
		    "with '.' (it names the files)", name);
		return -1;
	}
	for (p = name; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-')
			continue;
		snprintf(err, errlen, "-cn: client name may hold only letters, "
		    "digits, '.', '_' and '-' (it names the files)");
		return -1;
	}
	return 0;
}

/* Map the -key-type word to its enum. */
int
gt_certgen_key_type_parse(const char *s, enum gt_certgen_key_type *out,
    char *err, size_t errlen)
{
	if (strcmp(s, "ec256") == 0)
		*out = GT_CERTGEN_KEY_EC256;
	else if (strcmp(s, "rsa2048") == 0)
		*out = GT_CERTGEN_KEY_RSA2048;
	else {
		snprintf(err, errlen, "-key-type: \"%.32s\" is not ec256 or "
		    "rsa2048", s);
		return -1;
	}
	return 0;
}

/* GeneralNames with asn1write; x509write has no SAN setter in 2.28. */
int
gt_certgen_san_encode(const struct gt_certgen_san_list *l, unsigned char *buf,
    size_t size, unsigned char **der, size_t *len)
{
	unsigned char	*p = buf + size;
	size_t		 n = 0, i;
	unsigned char	 tag;
	int		 ret;

	if (l->sl_n == 0)
		return MBEDTLS_ERR_ASN1_INVALID_DATA;
	/* GeneralNames ::= SEQUENCE OF GeneralName, written last to first. */
	for (i = l->sl_n; i-- > 0;) {
		const struct gt_certgen_san *s = &l->sl_v[i];

		/* dNSName [2] IA5String, iPAddress [7] OCTET STRING, implicit. */
		tag = MBEDTLS_ASN1_CONTEXT_SPECIFIC |
		    (s->san_type == GT_CERTGEN_SAN_DNS ? 2 : 7);
		MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_raw_buffer(&p, buf,
		    s->san_data, s->san_len));
		MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(&p, buf,
		    s->san_len));
		MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(&p, buf, tag));
	}
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(&p, buf, n));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(&p, buf,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	*der = p;
	*len = n;
	return 0;
}

/* ExtKeyUsageSyntax with asn1write; x509write has no EKU setter in 2.28. */
int
gt_certgen_eku_encode(int purposes, unsigned char *buf, size_t size,
    unsigned char **der, size_t *len)
{
	unsigned char	*p = buf + size;
	size_t		 n = 0;
	int		 ret;

	if ((purposes & (GT_CERTGEN_EKU_SERVER | GT_CERTGEN_EKU_CLIENT)) == 0 ||
	    (purposes & ~(GT_CERTGEN_EKU_SERVER | GT_CERTGEN_EKU_CLIENT)) != 0)
		return MBEDTLS_ERR_ASN1_INVALID_DATA;
	/* ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId (an OID). */
	if (purposes & GT_CERTGEN_EKU_CLIENT)
		MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_oid(&p, buf,
		    MBEDTLS_OID_CLIENT_AUTH,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
	if (purposes & GT_CERTGEN_EKU_SERVER)
		MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_oid(&p, buf,
		    MBEDTLS_OID_SERVER_AUTH,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_len(&p, buf, n));
	MBEDTLS_ASN1_CHK_ADD(n, mbedtls_asn1_write_tag(&p, buf,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	*der = p;
	*len = n;
	return 0;
}

/*
 * tls_verify.c: the peer checks mbedTLS 2.28 leaves to the caller once the
 * chain is verified: the exact extended key usage each side must carry, a
 * leaf that is no CA, the client's name (its certificate's CN, names.h)
 * and, for a server named by an IP literal, the iPAddress SAN (mbedTLS
 * matches dNSName only).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>

#include "gt/addr.h"
#include "gt/names.h"
#include "tls_local.h"

/*
 * The subject's single CN as a NUL-terminated copy in buf, or a reason it
 * cannot be a client name: missing, twice (ambiguous), a NUL inside (the
 * name would silently be cut), or outside the names.h rule.
 */
const char *
tls_cert_cn(const mbedtls_x509_crt *crt, char *buf, size_t size)
{
	const mbedtls_x509_name	*n;
	const mbedtls_x509_buf	*cn = NULL;

	for (n = &crt->subject; n != NULL; n = n->next) {
		if (n->oid.p == NULL ||
		    MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) != 0)
			continue;
		if (cn != NULL)
			return "more than one CN";
		cn = &n->val;
	}
	if (cn == NULL || cn->len == 0)
		return "no CN";
	if (cn->len > GT_NAME_MAX || cn->len >= size)
		return "CN longer than 64 characters";
	memcpy(buf, cn->p, cn->len);
	buf[cn->len] = '\0';
	if (strlen(buf) != cn->len || !gt_name_valid(buf))
		return "CN is not a valid client name (1..64 of A-Z a-z 0-9 "
		    ". _ -, starting with a letter or digit)";
	return NULL;
}

/*
 * Does crt name exactly the usage oid in its EKU? Unlike
 * mbedtls_x509_crt_check_extended_key_usage(), anyExtendedKeyUsage and an
 * absent extension do not count: a certificate made for anything is not
 * one made for this.
 */
static int
tls_cert_has_eku(const mbedtls_x509_crt *crt, const char *oid, size_t oidlen)
{
	const mbedtls_x509_sequence	*s;

	if ((crt->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) == 0)
		return 0;
	for (s = &crt->ext_key_usage; s != NULL; s = s->next)
		if (s->buf.p != NULL && s->buf.len == oidlen &&
		    memcmp(s->buf.p, oid, oidlen) == 0)
			return 1;
	return 0;
}

/* 0 if crt may act as a client (client 1) or a server (0); else -1 and why. */
int
tls_check_leaf(const mbedtls_x509_crt *crt, int client, char *why, size_t whylen)
{
	const char	*oid = client ? MBEDTLS_OID_CLIENT_AUTH : MBEDTLS_OID_SERVER_AUTH;
	size_t		 oidlen = client ? MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH) :
			    MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);

	if (!tls_cert_has_eku(crt, oid, oidlen)) {
		snprintf(why, whylen, "peer certificate lacks extended key usage %s "
		    "(anyExtendedKeyUsage is not enough)", client ? "clientAuth" :
		    "serverAuth");
		return -1;
	}
	/* A leaf that may sign others is a CA, not a peer's identity. */
	if ((crt->ext_types & MBEDTLS_X509_EXT_BASIC_CONSTRAINTS) != 0 &&
	    crt->ca_istrue) {
		snprintf(why, whylen, "peer certificate is a CA (basicConstraints CA:TRUE)");
		return -1;
	}
	return 0;
}

/* Does an iPAddress SAN of crt equal the literal ip? */
static int
tls_cert_has_ip(const mbedtls_x509_crt *crt, const char *ip)
{
	const mbedtls_x509_sequence	*s;
	struct sockaddr_storage		 ss;
	socklen_t			 sl;
	const uint8_t			*a;
	size_t				 alen;

	if (gt_addr_parse_ip(ip, 0, 0, &ss, &sl) == -1 ||
	    (alen = gt_addr_bytes((struct sockaddr *)&ss, sl, &a)) == 0)
		return 0;
	if ((crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) == 0)
		return 0;
	for (s = &crt->subject_alt_names; s != NULL; s = s->next)
		if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
		    s->buf.len == alen && memcmp(s->buf.p, a, alen) == 0)
			return 1;
	return 0;
}

/* After the handshake: exact EKU, no CA leaf, CN (server), IP name (client). */
int
tls_verify_peer(struct gt_ep *c)
{
	const mbedtls_x509_crt	*crt;
	const char		*why;
	char			 cn[GT_NAME_MAX + 1], leaf[160];
	uint32_t		 flags;

	if ((flags = mbedtls_ssl_get_verify_result(&EP_TLS(c)->t_ssl)) != 0) {
		char v[512];

		mbedtls_x509_crt_verify_info(v, sizeof(v), "", flags);
		v[strcspn(v, "\n")] = '\0';
		ep_fail(c, "handshake failed: peer not verified (%s)", v);
		return -1;
	}
	if ((crt = mbedtls_ssl_get_peer_cert(&EP_TLS(c)->t_ssl)) == NULL) {
		ep_fail(c, "handshake failed: no peer certificate");
		return -1;
	}
	if (tls_check_leaf(crt, EP_TLS(c)->t_server, leaf, sizeof(leaf)) == -1) {
		ep_fail(c, "handshake failed: %s", leaf);
		return -1;
	}
	if (EP_TLS(c)->t_server) {
		if ((why = tls_cert_cn(crt, cn, sizeof(cn))) != NULL) {
			ep_fail(c, "handshake failed: client name refused: %s",
			    why);
			return -1;
		}
		if ((c->ep_cn = strdup(cn)) == NULL) {
			ep_fail(c, "handshake failed: out of memory");
			return -1;
		}
		/*
		 * Kept so that a CRL loaded later can end this tunnel: a CRL
		 * entry is an issuer's, so both name the certificate.
		 */
		if (crt->serial.len <= sizeof(c->ep_serial) &&
		    crt->issuer_raw.len > 0) {
			if ((c->ep_issuer = malloc(crt->issuer_raw.len)) == NULL) {
				ep_fail(c, "handshake failed: out of memory");
				return -1;
			}
			memcpy(c->ep_issuer, crt->issuer_raw.p, crt->issuer_raw.len);
			c->ep_issuer_len = crt->issuer_raw.len;
			memcpy(c->ep_serial, crt->serial.p, crt->serial.len);
			c->ep_serial_len = crt->serial.len;
		}
	} else if (EP_TLS(c)->t_ipname != NULL &&
	    !tls_cert_has_ip(crt, EP_TLS(c)->t_ipname)) {
		ep_fail(c, "handshake failed: server certificate does not "
		    "name %s", EP_TLS(c)->t_ipname);
		return -1;
	}
	return 0;
}


/*
 * tls_verify.c: the peer checks mbedTLS 2.28 leaves to the caller once the
 * chain is verified: the extended key usage each side must carry, the
 * client's name (its certificate's CN) and, for a server named by an IP
 * literal, the iPAddress SAN (mbedTLS matches dNSName only).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>

#include "gt/addr.h"
#include "tls_local.h"

/* Copy the subject's single CN if it is printable ASCII of 1..64 bytes. */
static char *
tls_cert_cn(const mbedtls_x509_crt *crt)
{
	const mbedtls_x509_name	*n;
	const mbedtls_x509_buf	*cn = NULL;
	char			*s;
	size_t			 i;

	for (n = &crt->subject; n != NULL; n = n->next) {
		if (n->oid.p == NULL ||
		    MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) != 0)
			continue;
		if (cn != NULL)
			return NULL;	/* two CNs: ambiguous */
		cn = &n->val;
	}
	if (cn == NULL || cn->len == 0 || cn->len > EP_CN_MAX)
		return NULL;
	for (i = 0; i < cn->len; i++)
		if (cn->p[i] < 0x20 || cn->p[i] >= 0x7f)
			return NULL;
	if ((s = malloc(cn->len + 1)) == NULL)
		return NULL;
	memcpy(s, cn->p, cn->len);
	s[cn->len] = '\0';
	return s;
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

/* After the handshake: EKU, CN (server) and IP name (client) checks. */
int
tls_verify_peer(struct gt_ep *c)
{
	const mbedtls_x509_crt	*crt;
	const char		*oid;
	size_t			 oidlen;
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
	if (EP_TLS(c)->t_server) {
		oid = MBEDTLS_OID_CLIENT_AUTH;
		oidlen = MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);
	} else {
		oid = MBEDTLS_OID_SERVER_AUTH;
		oidlen = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
	}
	/* check_extended_key_usage accepts a certificate without EKU: we do not. */
	if ((crt->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) == 0 ||
	    mbedtls_x509_crt_check_extended_key_usage(crt, oid, oidlen) != 0) {
		ep_fail(c, "handshake failed: peer certificate lacks "
		    "extended key usage %s", EP_TLS(c)->t_server ? "clientAuth" :
		    "serverAuth");
		return -1;
	}
	if (EP_TLS(c)->t_server) {
		if ((c->ep_cn = tls_cert_cn(crt)) == NULL) {
			ep_fail(c, "handshake failed: peer certificate has "
			    "no usable CN");
			return -1;
		}
	} else if (EP_TLS(c)->t_ipname != NULL &&
	    !tls_cert_has_ip(crt, EP_TLS(c)->t_ipname)) {
		ep_fail(c, "handshake failed: server certificate does not "
		    "name %s", EP_TLS(c)->t_ipname);
		return -1;
	}
	return 0;
}


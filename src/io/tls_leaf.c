/*
 * tls_leaf.c: what a peer's leaf certificate must be, past the chain
 * mbedTLS verified: not a CA, and carrying the one extended key usage its
 * role needs, named explicitly (anyExtendedKeyUsage does not count, though
 * mbedtls_x509_crt_check_extended_key_usage would take it).
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/oid.h>

#include "tls_local.h"

/* Whether crt lists the EKU oid itself. */
static int
tls_has_eku(const mbedtls_x509_crt *crt, const char *oid, size_t oidlen)
{
	const mbedtls_x509_sequence *s;

	if ((crt->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) == 0)
		return 0;
	for (s = &crt->ext_key_usage; s != NULL; s = s->next)
		if (s->buf.len == oidlen && memcmp(s->buf.p, oid, oidlen) == 0)
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

	if (crt->ca_istrue) {
		snprintf(why, whylen, "peer certificate is a CA certificate "
		    "(basicConstraints CA:TRUE), not a leaf");
		return -1;
	}
	if (!tls_has_eku(crt, oid, oidlen)) {
		snprintf(why, whylen, "peer certificate lacks extended key "
		    "usage %s", client ? "clientAuth" : "serverAuth");
		return -1;
	}
	return 0;
}

/* certgen.c: random source, keys, certificate issuing and CA loading with mbedTLS. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>

#include "gt/certgen.h"

/* Ext buffers: SAN holds up to 32 names of 253 bytes plus headers. */
#define CERTGEN_EXT_MAX	(GT_CERTGEN_SAN_MAX * (GT_CERTGEN_DNS_MAX + 4) + 16)

/* Describe an mbedTLS error code in err after a prefix. */
static void
certgen_mbedtls_err(char *err, size_t errlen, const char *what, int ret)
{
	char	msg[128];

	mbedtls_strerror(ret, msg, sizeof(msg));
	snprintf(err, errlen, "%s: %s (-0x%04x)", what, msg, (unsigned)-ret);
}

/* Seed CTR-DRBG from the system entropy source. */
int
gt_certgen_rng_init(struct gt_certgen_rng *r, char *err, size_t errlen)
{
	static const unsigned char	pers[] = "gt-certgen";
	int				ret;

	mbedtls_entropy_init(&r->rng_entropy);
	mbedtls_ctr_drbg_init(&r->rng_drbg);
	ret = mbedtls_ctr_drbg_seed(&r->rng_drbg, mbedtls_entropy_func,
	    &r->rng_entropy, pers, sizeof(pers) - 1);
	if (ret != 0) {
		certgen_mbedtls_err(err, errlen, "seeding the random generator",
		    ret);
		gt_certgen_rng_free(r);
		return -1;
	}
	return 0;
}

/* Release the random source. */
void
gt_certgen_rng_free(struct gt_certgen_rng *r)
{
	mbedtls_ctr_drbg_free(&r->rng_drbg);
	mbedtls_entropy_free(&r->rng_entropy);
}

/* A P-256 ECDSA key or an RSA-2048 key (e = 65537). */
int
gt_certgen_key_generate(mbedtls_pk_context *pk, enum gt_certgen_key_type type,
    struct gt_certgen_rng *r, char *err, size_t errlen)
{
	int	ret;

	switch (type) {
	case GT_CERTGEN_KEY_EC256:
		ret = mbedtls_pk_setup(pk,
		    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
		if (ret == 0)
			ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
			    mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random,
			    &r->rng_drbg);
		break;
	case GT_CERTGEN_KEY_RSA2048:
		ret = mbedtls_pk_setup(pk,
		    mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
		if (ret == 0)
			ret = mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk),
			    mbedtls_ctr_drbg_random, &r->rng_drbg, 2048, 65537);
		break;
	default:
		snprintf(err, errlen, "unknown key type");
		return -1;
	}
	if (ret != 0) {
		certgen_mbedtls_err(err, errlen, "generating a key", ret);
		return -1;
	}
	return 0;
}

/* The private key in PEM, for a 0600 file. */
int
gt_certgen_key_pem(mbedtls_pk_context *pk, unsigned char *buf, size_t size,
    size_t *len, char *err, size_t errlen)
{
	int	ret;

	if ((ret = mbedtls_pk_write_key_pem(pk, buf, size)) != 0) {
		certgen_mbedtls_err(err, errlen, "writing a key", ret);
		return -1;
	}
	*len = strlen((char *)buf);
	return 0;
}

/* Backdate notBefore an hour so peers with a slow clock accept it. */
void
gt_certgen_validity(struct gt_certgen_req *req, time_t now, long days)
{
	req->req_not_before = now - GT_CERTGEN_SKEW;
	req->req_not_after = now + (time_t)days * 86400;
}

/* Format t as x509write wants it: "YYYYMMDDhhmmss" in UTC. */
static int
certgen_time(time_t t, char out[16])
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	if (strftime(out, 16, "%Y%m%d%H%M%S", &tm) != 14)
		return -1;
	return 0;
}

/* Copy a parsed name (RDNs in DER order) into a writer's name list. */
static int
certgen_copy_name(mbedtls_asn1_named_data **dst, const mbedtls_x509_name *src)
{
	mbedtls_asn1_named_data	*n;

	/*
	 * The writer emits its list head last, so prepending each RDN keeps
	 * the issuer byte for byte equal to the CA's subject.
	 */
	for (; src != NULL; src = src->next) {
		if (src->oid.p == NULL)
			continue;
		if ((n = calloc(1, sizeof(*n))) == NULL)
			return -1;
		n->next = *dst;
		*dst = n;
		n->oid.tag = src->oid.tag;
		n->oid.len = src->oid.len;
		n->val.tag = src->val.tag;
		n->val.len = src->val.len;
		if ((n->oid.p = calloc(1, src->oid.len)) == NULL ||
		    (n->val.p = calloc(1, src->val.len + 1)) == NULL)
			return -1;
		memcpy(n->oid.p, src->oid.p, src->oid.len);
		memcpy(n->val.p, src->val.p, src->val.len);
	}
	return *dst == NULL ? -1 : 0;
}

/* Set a name list to one CN, as a UTF8String. */
static int
certgen_set_cn(mbedtls_asn1_named_data **dst, const char *cn)
{
	mbedtls_asn1_named_data	*n;

	/* Stored directly: x509_string_to_names would mangle ',' and '\'. */
	n = mbedtls_asn1_store_named_data(dst, MBEDTLS_OID_AT_CN,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN), (const unsigned char *)cn,
	    strlen(cn));
	if (n == NULL)
		return -1;
	n->val.tag = MBEDTLS_ASN1_UTF8_STRING;
	return 0;
}

/* A random positive 128-bit serial number. */
static int
certgen_serial(mbedtls_x509write_cert *crt, struct gt_certgen_rng *r)
{
	unsigned char	b[16];
	mbedtls_mpi	serial;
	int		ret;

	if ((ret = mbedtls_ctr_drbg_random(&r->rng_drbg, b, sizeof(b))) != 0)
		return ret;
	b[0] &= 0x7f;	/* positive */
	if (b[0] == 0 && memcmp(b, b + 1, sizeof(b) - 1) == 0)
		b[15] = 1;	/* never zero */
	mbedtls_mpi_init(&serial);
	ret = mbedtls_mpi_read_binary(&serial, b, sizeof(b));
	if (ret == 0)
		ret = mbedtls_x509write_crt_set_serial(crt, &serial);
	mbedtls_mpi_free(&serial);
	return ret;
}

/* Add the extensions a certificate of req's kind carries. */
static int
certgen_extensions(mbedtls_x509write_cert *crt, const struct gt_certgen_req *req,
    mbedtls_pk_context *key, char *err, size_t errlen)
{
	unsigned char	 buf[CERTGEN_EXT_MAX], *der;
	size_t		 len;
	unsigned int	 ku;
	int		 ret, eku;

	if (req->req_kind == GT_CERTGEN_CA) {
		if ((ret = mbedtls_x509write_crt_set_basic_constraints(crt, 1,
		    0)) != 0 ||
		    (ret = mbedtls_x509write_crt_set_key_usage(crt,
		    MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)) != 0 ||
		    (ret = mbedtls_x509write_crt_set_subject_key_identifier(crt)) != 0)
			goto fail;
		return 0;
	}
	ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
	if (mbedtls_pk_get_type(key) == MBEDTLS_PK_RSA)
		ku |= MBEDTLS_X509_KU_KEY_ENCIPHERMENT;
	eku = req->req_kind == GT_CERTGEN_SERVER ? GT_CERTGEN_EKU_SERVER :
	    GT_CERTGEN_EKU_CLIENT;
	if ((ret = mbedtls_x509write_crt_set_basic_constraints(crt, 0, -1)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_key_usage(crt, ku)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_subject_key_identifier(crt)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_authority_key_identifier(crt)) != 0 ||
	    (ret = gt_certgen_eku_encode(eku, buf, sizeof(buf), &der, &len)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_extension(crt,
	    MBEDTLS_OID_EXTENDED_KEY_USAGE,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, der, len)) != 0)
		goto fail;
	if (req->req_kind == GT_CERTGEN_SERVER && req->req_sans != NULL &&
	    req->req_sans->sl_n > 0) {
		if ((ret = gt_certgen_san_encode(req->req_sans, buf, sizeof(buf),
		    &der, &len)) != 0 ||
		    (ret = mbedtls_x509write_crt_set_extension(crt,
		    MBEDTLS_OID_SUBJECT_ALT_NAME,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, der,
		    len)) != 0)
			goto fail;
	}
	return 0;
fail:
	certgen_mbedtls_err(err, errlen, "setting certificate extensions", ret);
	return -1;
}

/* Build, sign and PEM-encode one certificate. */
int
gt_certgen_issue(const struct gt_certgen_req *req, mbedtls_pk_context *key,
    const mbedtls_x509_crt *issuer_crt, mbedtls_pk_context *issuer_key,
    struct gt_certgen_rng *r, unsigned char *pem, size_t size, size_t *len,
    char *err, size_t errlen)
{
	mbedtls_x509write_cert	crt;
	char			nb[16], na[16];
	int			ret, rv = -1;

	if ((req->req_kind == GT_CERTGEN_CA) != (issuer_crt == NULL)) {
		snprintf(err, errlen, "a CA is self-signed, a leaf needs an issuer");
		return -1;
	}
	if (gt_certgen_cn_check(req->req_cn, err, errlen) == -1)
		return -1;
	if (req->req_not_after <= req->req_not_before ||
	    certgen_time(req->req_not_before, nb) == -1 ||
	    certgen_time(req->req_not_after, na) == -1) {
		snprintf(err, errlen, "invalid validity period");
		return -1;
	}
	mbedtls_x509write_crt_init(&crt);
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, key);
	mbedtls_x509write_crt_set_issuer_key(&crt, issuer_key);
	if (certgen_set_cn(&crt.subject, req->req_cn) == -1 ||
	    (issuer_crt == NULL ?
	    certgen_set_cn(&crt.issuer, req->req_cn) :
	    certgen_copy_name(&crt.issuer, &issuer_crt->subject)) == -1) {
		snprintf(err, errlen, "setting certificate names: out of memory");
		goto out;
	}
	if ((ret = certgen_serial(&crt, r)) != 0) {
		certgen_mbedtls_err(err, errlen, "setting the serial number", ret);
		goto out;
	}
	if ((ret = mbedtls_x509write_crt_set_validity(&crt, nb, na)) != 0) {
		certgen_mbedtls_err(err, errlen, "setting the validity", ret);
		goto out;
	}
	if (certgen_extensions(&crt, req, key, err, errlen) == -1)
		goto out;
	if ((ret = mbedtls_x509write_crt_pem(&crt, pem, size,
	    mbedtls_ctr_drbg_random, &r->rng_drbg)) != 0) {
		certgen_mbedtls_err(err, errlen, "signing the certificate", ret);
		goto out;
	}
	*len = strlen((char *)pem);
	rv = 0;
out:
	mbedtls_x509write_crt_free(&crt);
	return rv;
}

/* Fail naming path and the reason when it cannot be opened for reading. */
static int
certgen_readable(const char *path, char *err, size_t errlen)
{
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "-ca: cannot read %s: %s", path,
		    strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/* Load a CA to sign with, refusing a mismatched key or a non-CA. */
int
gt_certgen_ca_load(const char *dir, mbedtls_x509_crt *crt,
    mbedtls_pk_context *key, char *err, size_t errlen)
{
	char	crtpath[PATH_MAX], keypath[PATH_MAX], what[PATH_MAX + 64];
	int	ret;

	if ((size_t)snprintf(crtpath, sizeof(crtpath), "%s/ca.crt", dir) >=
	    sizeof(crtpath) ||
	    (size_t)snprintf(keypath, sizeof(keypath), "%s/ca.key", dir) >=
	    sizeof(keypath)) {
		snprintf(err, errlen, "-ca: path too long");
		return -1;
	}
	/* Say why a file cannot be opened; mbedTLS only says "I/O error". */
	if (certgen_readable(crtpath, err, errlen) == -1 ||
	    certgen_readable(keypath, err, errlen) == -1)
		return -1;
	if ((ret = mbedtls_x509_crt_parse_file(crt, crtpath)) != 0) {
		snprintf(what, sizeof(what), "-ca: cannot parse %s", crtpath);
		certgen_mbedtls_err(err, errlen, what, ret > 0 ?
		    MBEDTLS_ERR_X509_INVALID_FORMAT : ret);
		return -1;
	}
	if ((ret = mbedtls_pk_parse_keyfile(key, keypath, NULL)) != 0) {
		snprintf(what, sizeof(what), "-ca: cannot parse %s", keypath);
		certgen_mbedtls_err(err, errlen, what, ret);
		return -1;
	}
	if (crt->ca_istrue == 0 ||
	    mbedtls_x509_crt_check_key_usage(crt,
	    MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0) {
		snprintf(err, errlen, "-ca: %s is not a CA certificate", crtpath);
		return -1;
	}
	if (mbedtls_pk_check_pair(&crt->pk, key) != 0) {
		snprintf(err, errlen, "-ca: %s does not match %s", keypath,
		    crtpath);
		return -1;
	}
	return 0;
}

/* The API's HS256 key in the form jwt_secret_file expects. */
int
gt_certgen_jwt_key(struct gt_certgen_rng *r, char out[2 * GT_CERTGEN_JWT_BYTES + 2],
    char *err, size_t errlen)
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		b[GT_CERTGEN_JWT_BYTES];
	size_t			i;
	int			ret;

	if ((ret = mbedtls_ctr_drbg_random(&r->rng_drbg, b, sizeof(b))) != 0) {
		certgen_mbedtls_err(err, errlen, "generating the JWT key", ret);
		return -1;
	}
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 0xf];
	}
	out[2 * sizeof(b)] = '\n';
	out[2 * sizeof(b) + 1] = '\0';
	mbedtls_platform_zeroize(b, sizeof(b));
	return 0;
}

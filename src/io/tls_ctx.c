/*
 * tls_ctx.c: TLS material shared by endpoints (certificate, key, CA, random
 * generator, the mbedTLS configuration), reference counted so that SIGHUP
 * can swap it while live connections keep the old one.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/md.h>

#include "gt/log.h"
#include "tls_local.h"

const int tls_ciphersuites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	0
};

/* Warn when a private key file is readable or writable by group/other. */
static void
tls_check_key_mode(const char *path)
{
	struct stat	st;

	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		log_warnx("tls", "key file %s is accessible by group/other "
		    "(mode %03o); it should be 0600", path,
		    (unsigned)(st.st_mode & 0777));
}

/*
 * Check crl against the CA chain as mbedTLS will use it at each handshake:
 * every CA named like the CRL's issuer must be one that signed it (with
 * keyUsage cRLSign). mbedTLS flags every client of a same-named CA that
 * did not (BADCRL_NOT_TRUSTED): a bundle of two CAs of one name, as after
 * a rotation that kept the default CA name, would lock one CA's clients out.
 */
static int
tls_crl_check_issuer(const mbedtls_x509_crl *crl, const mbedtls_x509_crt *chain,
    const char *path, char *err, size_t errlen)
{
	const mbedtls_x509_crt	*ca;
	const mbedtls_md_info_t	*md;
	unsigned char		 hash[MBEDTLS_MD_MAX_SIZE];
	unsigned		 named = 0, signer = 0;

	if ((md = mbedtls_md_info_from_type(crl->sig_md)) == NULL ||
	    mbedtls_md(md, crl->tbs.p, crl->tbs.len, hash) != 0) {
		snprintf(err, errlen, "CRL %s: unsupported signature algorithm",
		    path);
		return -1;
	}
	for (ca = chain; ca != NULL && ca->raw.p != NULL; ca = ca->next) {
		if (ca->subject_raw.len != crl->issuer_raw.len ||
		    memcmp(ca->subject_raw.p, crl->issuer_raw.p,
		    crl->issuer_raw.len) != 0)
			continue;
		named++;
		if (mbedtls_x509_crt_check_key_usage(ca,
		    MBEDTLS_X509_KU_CRL_SIGN) == 0 &&
		    mbedtls_pk_verify_ext(crl->sig_pk, crl->sig_opts,
		    (mbedtls_pk_context *)&ca->pk, crl->sig_md, hash,
		    mbedtls_md_get_size(md), crl->sig.p, crl->sig.len) == 0)
			signer++;
	}
	if (signer == 0) {
		snprintf(err, errlen, "CRL %s: not signed by the client CA (a CRL "
		    "of another CA, or altered)", path);
		return -1;
	}
	if (signer != named) {
		snprintf(err, errlen, "CRL %s: the client CA file holds %u CAs "
		    "named like its issuer and only %u signed it: the clients of "
		    "the other would all be refused; give each CA its own name "
		    "(gt-certgen ca -cn)", path, named, signer);
		return -1;
	}
	return 0;
}

/*
 * Load a CRL for the CA chain. mbedTLS flags every peer when a CRL of its
 * CA is forged or past nextUpdate, so such a file is refused here, where
 * the old material can stay, rather than locking every client out.
 */
static int
tls_crl_load(struct gt_tls_ctx *t, const char *path, char *err, size_t errlen)
{
	const mbedtls_x509_crl	*crl;
	char			 e[128];
	int			 ret;

	if ((ret = mbedtls_x509_crl_parse_file(&t->tls_crl, path)) != 0) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "CRL %s: %s", path, e);
		return -1;
	}
	t->tls_has_crl = 1;
	for (crl = &t->tls_crl; crl != NULL; crl = crl->next) {
		if (tls_crl_check_issuer(crl, &t->tls_ca, path, err,
		    errlen) == -1)
			return -1;
		if (mbedtls_x509_time_is_past(&crl->next_update)) {
			snprintf(err, errlen, "CRL %s: past its nextUpdate "
			    "(%04d-%02d-%02d), it would refuse every client: "
			    "make a new one with gt-certgen revoke", path, crl->next_update.year,
			    crl->next_update.mon, crl->next_update.day);
			return -1;
		}
	}
	return 0;
}

/* Shared constructor of both contexts. */
static struct gt_tls_ctx *
tls_ctx_new(int server, const char *cert, const char *key, const char *ca,
    const char *crlfile, char *err, size_t errlen)
{
	static const char	 pers[] = "gt-tls";
	struct gt_tls_ctx	*t;
	char			 e[128];
	int			 ret;

	if (errlen > 0)
		err[0] = '\0';
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->tls_refcnt = 1;
	t->tls_server = server;
	mbedtls_ssl_config_init(&t->tls_conf);
	mbedtls_x509_crt_init(&t->tls_cert);
	mbedtls_x509_crt_init(&t->tls_ca);
	mbedtls_x509_crl_init(&t->tls_crl);
	mbedtls_pk_init(&t->tls_key);
	mbedtls_entropy_init(&t->tls_entropy);
	mbedtls_ctr_drbg_init(&t->tls_drbg);

	if ((ret = mbedtls_ctr_drbg_seed(&t->tls_drbg, mbedtls_entropy_func,
	    &t->tls_entropy, (const unsigned char *)pers, sizeof(pers) - 1))) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "random seed: %s", e);
		goto fail;
	}
	/* A server without a CA asks for no client certificate (the HTTPS API). */
	if (ca == NULL && !server) {
		snprintf(err, errlen, "no CA file given");
		goto fail;
	}
	if (ca != NULL && (ret = mbedtls_x509_crt_parse_file(&t->tls_ca, ca)) != 0) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "%s: %s", ca, e);
		goto fail;
	}
	if (crlfile != NULL && (ca == NULL ||
	    tls_crl_load(t, crlfile, err, errlen) == -1)) {
		if (ca == NULL)
			snprintf(err, errlen, "a CRL needs a CA file");
		goto fail;
	}
	if (server && (cert == NULL || key == NULL)) {
		snprintf(err, errlen, "server needs a certificate and a key");
		goto fail;
	}
	if ((cert == NULL) != (key == NULL)) {
		snprintf(err, errlen, "certificate and key go together");
		goto fail;
	}
	if (cert != NULL) {
		if ((ret = mbedtls_x509_crt_parse_file(&t->tls_cert,
		    cert)) != 0) {
			mbedtls_strerror(ret, e, sizeof(e));
			snprintf(err, errlen, "%s: %s", cert, e);
			goto fail;
		}
		tls_check_key_mode(key);
		/* Never show key material: only the file name and the error. */
		if ((ret = mbedtls_pk_parse_keyfile(&t->tls_key, key,
		    NULL)) != 0) {
			mbedtls_strerror(ret, e, sizeof(e));
			snprintf(err, errlen, "%s: %s", key, e);
			goto fail;
		}
		if ((ret = mbedtls_pk_check_pair(&t->tls_cert.pk,
		    &t->tls_key)) != 0) {
			snprintf(err, errlen, "%s does not match %s", key, cert);
			goto fail;
		}
	}
	if ((ret = mbedtls_ssl_config_defaults(&t->tls_conf,
	    server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "ssl config: %s", e);
		goto fail;
	}
	mbedtls_ssl_conf_rng(&t->tls_conf, mbedtls_ctr_drbg_random,
	    &t->tls_drbg);
	mbedtls_ssl_conf_min_version(&t->tls_conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&t->tls_conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&t->tls_conf, tls_ciphersuites);
	if (ca != NULL) {
		mbedtls_ssl_conf_authmode(&t->tls_conf, MBEDTLS_SSL_VERIFY_REQUIRED);
		mbedtls_ssl_conf_ca_chain(&t->tls_conf, &t->tls_ca,
		    t->tls_has_crl ? &t->tls_crl : NULL);
	} else
		mbedtls_ssl_conf_authmode(&t->tls_conf, MBEDTLS_SSL_VERIFY_NONE);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	mbedtls_ssl_conf_renegotiation(&t->tls_conf,
	    MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
	if (!server)
		mbedtls_ssl_conf_session_tickets(&t->tls_conf,
		    MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
#endif
	if (cert != NULL && (ret = mbedtls_ssl_conf_own_cert(&t->tls_conf,
	    &t->tls_cert, &t->tls_key)) != 0) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "own certificate: %s", e);
		goto fail;
	}
	return t;
fail:
	gt_tls_ctx_unref(t);
	return NULL;
}

/* Server material: own pair, and the CA that must have signed clients. */
struct gt_tls_ctx *
gt_tls_ctx_server(const char *cert, const char *key, const char *client_ca,
    char *err, size_t errlen)
{
	return tls_ctx_new(1, cert, key, client_ca, NULL, err, errlen);
}

/* Server material with a CRL of client_ca (crl NULL: none). */
struct gt_tls_ctx *
gt_tls_ctx_server_crl(const char *cert, const char *key, const char *client_ca,
    const char *crl, char *err, size_t errlen)
{
	return tls_ctx_new(1, cert, key, client_ca, crl, err, errlen);
}

/*
 * Is serial listed by a CRL of ours from issuer? Serials and names compare
 * as DER, byte for byte, as mbedTLS does at the handshake: two CAs of a
 * bundle may well give out the same serial.
 */
int
gt_tls_ctx_revoked(const struct gt_tls_ctx *t, const unsigned char *issuer,
    size_t issuer_len, const unsigned char *serial, size_t len)
{
	const mbedtls_x509_crl		*crl;
	const mbedtls_x509_crl_entry	*e;

	if (t == NULL || !t->tls_has_crl || len == 0 || issuer_len == 0)
		return 0;
	for (crl = &t->tls_crl; crl != NULL; crl = crl->next) {
		if (crl->issuer_raw.len != issuer_len ||
		    memcmp(crl->issuer_raw.p, issuer, issuer_len) != 0)
			continue;
		for (e = &crl->entry; e != NULL; e = e->next)
			if (e->serial.len == len &&
			    memcmp(e->serial.p, serial, len) == 0)
				return 1;
	}
	return 0;
}

/* The number of entries in the context's CRL. */
size_t
gt_tls_ctx_crl_count(const struct gt_tls_ctx *t)
{
	const mbedtls_x509_crl		*crl;
	const mbedtls_x509_crl_entry	*e;
	size_t				 n = 0;

	if (t == NULL || !t->tls_has_crl)
		return 0;
	for (crl = &t->tls_crl; crl != NULL; crl = crl->next)
		for (e = &crl->entry; e != NULL; e = e->next)
			if (e->serial.len != 0)
				n++;
	return n;
}

/* cert and key may both be NULL: a client without a certificate (tests). */
struct gt_tls_ctx *
gt_tls_ctx_client(const char *cert, const char *key, const char *ca,
    char *err, size_t errlen)
{
	return tls_ctx_new(0, cert, key, ca, NULL, err, errlen);
}

/* Another holder of the context. */
void
gt_tls_ctx_ref(struct gt_tls_ctx *t)
{
	t->tls_refcnt++;
}

/* Drop a holder; the last one frees (keys are zeroised by mbedTLS). */
void
gt_tls_ctx_unref(struct gt_tls_ctx *t)
{
	if (t == NULL || --t->tls_refcnt > 0)
		return;
	mbedtls_ssl_config_free(&t->tls_conf);
	mbedtls_x509_crt_free(&t->tls_cert);
	mbedtls_x509_crt_free(&t->tls_ca);
	mbedtls_x509_crl_free(&t->tls_crl);
	mbedtls_pk_free(&t->tls_key);
	mbedtls_ctr_drbg_free(&t->tls_drbg);
	mbedtls_entropy_free(&t->tls_entropy);
	free(t);
}

/* Shared part of the TLS constructors. */
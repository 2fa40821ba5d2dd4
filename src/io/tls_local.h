/*
 * tls_local.h: what the TLS endpoint (ep_tls.c), its peer checks
 * (tls_verify.c) and its shared material (tls_ctx.c) share. The TLS
 * endpoint embeds the base endpoint (redis's tls.c shape), so the state
 * machine sees a struct gt_ep either way.
 */
#ifndef GT_TLS_LOCAL_H
#define GT_TLS_LOCAL_H

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include "ep_local.h"

struct gt_tls_ctx {
	unsigned			 tls_refcnt;
	int				 tls_server;
	mbedtls_ssl_config		 tls_conf;
	mbedtls_x509_crt		 tls_cert;
	mbedtls_x509_crt		 tls_ca;
	mbedtls_x509_crl		 tls_crl;
	int				 tls_has_crl;
	mbedtls_pk_context		 tls_key;
	mbedtls_entropy_context		 tls_entropy;
	mbedtls_ctr_drbg_context	 tls_drbg;
};

struct ep_tls {
	struct gt_ep		 t_ep;		/* first: a struct gt_ep * is one of us */
	struct gt_tls_ctx	*t_ctx;
	mbedtls_ssl_context	 t_ssl;
	int			 t_ssl_init;
	int			 t_server;
	char			*t_ipname;	/* IP literal checked against SAN */
	char			*t_revoked;	/* " CN (serial HEX)" of a revoked peer */
	int			 t_hs_done;
};

#define TLS_REVOKED_MAX	(GT_NAME_MAX + 2 * GT_EP_SERIAL_MAX + 32)

#define EP_TLS(c)	((struct ep_tls *)(c))

/* tls_verify.c: after the handshake, the checks mbedTLS leaves to us. */
int	tls_verify_peer(struct gt_ep *);

/* tls_verify.c: 0 if crt may act as client (1) or server (0), else -1 and why. */
int	tls_check_leaf(const mbedtls_x509_crt *, int client, char *why, size_t whylen);

/* tls_verify.c: the CN of crt into buf (NULL), or why it is refused. */
const char *tls_cert_cn(const mbedtls_x509_crt *, char *buf, size_t size);

/* tls_ctx.c */
extern const int tls_ciphersuites[];

#endif

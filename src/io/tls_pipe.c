/*
 * tls_pipe.c: server-side mbedTLS driven from evbuffers instead of a
 * socket. The bio callbacks read from and write to the buffers the caller
 * lends for the length of one call, so the pipe can sit inside a libevent
 * filter bufferevent (the HTTPS API) without knowing what carries it.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include <mbedtls/error.h>

#include "gt/names.h"
#include "gt/tls_pipe.h"
#include "tls_local.h"

#define TP_CHUNK	16384	/* one TLS record of plaintext */

enum tp_state { TP_HANDSHAKE, TP_OPEN, TP_CLOSED, TP_FAILED };

struct gt_tls_pipe {
	struct gt_tls_ctx	*tp_ctx;
	mbedtls_ssl_context	 tp_ssl;
	enum tp_state		 tp_state;
	struct evbuffer		*tp_rx;		/* lent for one call */
	struct evbuffer		*tp_tx;		/* lent for one call */
	char			*tp_cn;
	char			 tp_err[160];
};

/* bio send: append to the lent output buffer, all of it. */
static int
tp_send(void *arg, const unsigned char *buf, size_t len)
{
	struct gt_tls_pipe *p = arg;

	if (p->tp_tx == NULL)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	if (evbuffer_add(p->tp_tx, buf, len) == -1)
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	return (int)len;
}

/* bio recv: take from the lent input buffer; empty is WANT_READ. */
static int
tp_recv(void *arg, unsigned char *buf, size_t len)
{
	struct gt_tls_pipe	*p = arg;
	int			 n;

	if (p->tp_rx == NULL || evbuffer_get_length(p->tp_rx) == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	n = evbuffer_remove(p->tp_rx, buf, len);
	return n > 0 ? n : MBEDTLS_ERR_SSL_WANT_READ;
}

/* Record why the pipe failed, with mbedTLS's text for ret. */
static enum gt_tls_pipe_rc
tp_fail(struct gt_tls_pipe *p, const char *what, int ret)
{
	char e[100];

	mbedtls_strerror(ret, e, sizeof(e));
	snprintf(p->tp_err, sizeof(p->tp_err), "%s: %s", what, e);
	p->tp_state = TP_FAILED;
	return GT_TLS_PIPE_ERROR;
}

/* After the handshake: a client certificate, when one was asked for, must be a leaf for clientAuth. */
static int
tp_verify(struct gt_tls_pipe *p)
{
	const mbedtls_x509_crt	*crt;
	const char		*why;
	char			 cn[GT_NAME_MAX + 1];

	if (p->tp_ctx->tls_conf.authmode != MBEDTLS_SSL_VERIFY_REQUIRED)
		return 0;
	if ((crt = mbedtls_ssl_get_peer_cert(&p->tp_ssl)) == NULL) {
		snprintf(p->tp_err, sizeof(p->tp_err), "no client certificate");
		return -1;
	}
	if (tls_check_leaf(crt, 1, p->tp_err, sizeof(p->tp_err)) == -1)
		return -1;
	if ((why = tls_cert_cn(crt, cn, sizeof(cn))) != NULL) {
		snprintf(p->tp_err, sizeof(p->tp_err), "client name refused: %s", why);
		return -1;
	}
	if ((p->tp_cn = strdup(cn)) == NULL) {
		snprintf(p->tp_err, sizeof(p->tp_err), "out of memory");
		return -1;
	}
	return 0;
}

/* Server-side pipe over ctx. */
struct gt_tls_pipe *
gt_tls_pipe_server(struct gt_tls_ctx *ctx)
{
	struct gt_tls_pipe *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	mbedtls_ssl_init(&p->tp_ssl);
	if (mbedtls_ssl_setup(&p->tp_ssl, &ctx->tls_conf) != 0) {
		mbedtls_ssl_free(&p->tp_ssl);
		free(p);
		return NULL;
	}
	mbedtls_ssl_set_bio(&p->tp_ssl, p, tp_send, tp_recv, NULL);
	gt_tls_ctx_ref(ctx);
	p->tp_ctx = ctx;
	p->tp_state = TP_HANDSHAKE;
	return p;
}

/* Free the session; the context loses a holder. */
void
gt_tls_pipe_free(struct gt_tls_pipe *p)
{
	if (p == NULL)
		return;
	mbedtls_ssl_free(&p->tp_ssl);
	gt_tls_ctx_unref(p->tp_ctx);
	free(p->tp_cn);
	free(p);
}

/* Handshake and decrypt what rx holds, as described in the header. */
enum gt_tls_pipe_rc
gt_tls_pipe_in(struct gt_tls_pipe *p, struct evbuffer *rx, struct evbuffer *plain,
    struct evbuffer *tx, ssize_t room)
{
	unsigned char		 buf[TP_CHUNK];
	enum gt_tls_pipe_rc	 rc = GT_TLS_PIPE_AGAIN;
	size_t			 added = 0;
	int			 ret;

	if (p->tp_state == TP_FAILED)
		return GT_TLS_PIPE_ERROR;
	if (p->tp_state == TP_CLOSED)
		return GT_TLS_PIPE_EOF;
	p->tp_rx = rx;
	p->tp_tx = tx;
	if (p->tp_state == TP_HANDSHAKE) {
		ret = mbedtls_ssl_handshake(&p->tp_ssl);
		if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			goto out;
		if (ret != 0) {
			rc = tp_fail(p, "handshake failed", ret);
			goto out;
		}
		if (tp_verify(p) == -1) {
			p->tp_state = TP_FAILED;
			rc = GT_TLS_PIPE_ERROR;
			goto out;
		}
		p->tp_state = TP_OPEN;
	}
	for (;;) {
		/* Stop at room only when mbedTLS holds nothing decrypted. */
		if (room >= 0 && added >= (size_t)room &&
		    mbedtls_ssl_get_bytes_avail(&p->tp_ssl) == 0)
			break;
		ret = mbedtls_ssl_read(&p->tp_ssl, buf, sizeof(buf));
		if (ret > 0) {
			if (evbuffer_add(plain, buf, (size_t)ret) == -1) {
				rc = tp_fail(p, "read", MBEDTLS_ERR_SSL_ALLOC_FAILED);
				break;
			}
			added += (size_t)ret;
			continue;
		}
		if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
		if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			p->tp_state = TP_CLOSED;
			rc = GT_TLS_PIPE_EOF;
			break;
		}
		rc = tp_fail(p, "record error", ret);
		break;
	}
out:
	p->tp_rx = p->tp_tx = NULL;
	return rc;
}

/* Seal up to max bytes of plain into tx. */
enum gt_tls_pipe_rc
gt_tls_pipe_out(struct gt_tls_pipe *p, struct evbuffer *plain, size_t max,
    struct evbuffer *tx)
{
	enum gt_tls_pipe_rc	 rc = GT_TLS_PIPE_AGAIN;
	unsigned char		*data;
	size_t			 len;
	int			 ret;

	if (p->tp_state == TP_FAILED)
		return GT_TLS_PIPE_ERROR;
	if (p->tp_state != TP_OPEN)
		return GT_TLS_PIPE_AGAIN;
	p->tp_tx = tx;
	while (max > 0 && (len = evbuffer_get_length(plain)) > 0) {
		if (len > TP_CHUNK)
			len = TP_CHUNK;
		if (len > max)
			len = max;
		if ((data = evbuffer_pullup(plain, (ev_ssize_t)len)) == NULL) {
			rc = tp_fail(p, "write", MBEDTLS_ERR_SSL_ALLOC_FAILED);
			break;
		}
		ret = mbedtls_ssl_write(&p->tp_ssl, data, len);
		if (ret > 0) {
			evbuffer_drain(plain, (size_t)ret);
			max -= (size_t)ret;
			continue;
		}
		if (ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == MBEDTLS_ERR_SSL_WANT_READ)
			break;
		rc = tp_fail(p, "write", ret);
		break;
	}
	p->tp_tx = NULL;
	return rc;
}

/* Whether application data flows. */
int
gt_tls_pipe_ready(const struct gt_tls_pipe *p)
{
	return p->tp_state == TP_OPEN;
}

/* Why it failed. */
const char *
gt_tls_pipe_error(const struct gt_tls_pipe *p)
{
	return p->tp_err[0] ? p->tp_err : "no error";
}

/* The client's CN when a certificate was required. */
const char *
gt_tls_pipe_peer_cn(const struct gt_tls_pipe *p)
{
	return p->tp_cn;
}

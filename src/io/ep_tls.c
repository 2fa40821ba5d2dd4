/*
 * ep_tls.c: the TLS table of an endpoint (mbedTLS 1.2, mutual
 * authentication). mbedTLS talks to the socket itself through bio
 * callbacks that call send()/recv() directly, so ciphertext is never staged
 * in evbuffers; plaintext goes straight into the endpoint's buffers.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>

#include "gt/addr.h"
#include "gt/names.h"
#include "tls_local.h"

/* mbedTLS error code as text, for messages. */
static void
tls_strerror(int ret, char *buf, size_t len)
{
	mbedtls_strerror(ret, buf, len);
}

/* bio send: straight to the socket; EAGAIN becomes WANT_WRITE. */
static int
tls_send(void *arg, const unsigned char *buf, size_t len)
{
	struct gt_ep	*c = arg;
	ssize_t		 n;

	do {
		n = send(c->ep_fd, buf, len, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	c->ep_errno = errno;
	if (errno == EPIPE || errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

/* bio recv: straight from the socket; EAGAIN becomes WANT_READ. */
static int
tls_recv(void *arg, unsigned char *buf, size_t len)
{
	struct gt_ep	*c = arg;
	ssize_t		 n;

	do {
		n = recv(c->ep_fd, buf, len, 0);
	} while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_READ;
	c->ep_errno = errno;
	if (errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

/*
 * mbedTLS frees a refused peer's certificate with the handshake, so a
 * revoked client's name and serial are noted while the chain is checked,
 * for the log line.
 */
static int
tls_verify_cb(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct gt_ep	*c = arg;
	char		 cn[GT_NAME_MAX + 1], hex[2 * GT_EP_SERIAL_MAX + 1];
	size_t		 i, len = TLS_REVOKED_MAX;

	if (depth != 0 || (*flags & MBEDTLS_X509_BADCERT_REVOKED) == 0 ||
	    EP_TLS(c)->t_revoked != NULL ||
	    (EP_TLS(c)->t_revoked = malloc(len)) == NULL)
		return 0;
	for (i = 0; i < crt->serial.len && i < GT_EP_SERIAL_MAX; i++)
		snprintf(hex + 2 * i, 3, "%02X", crt->serial.p[i]);
	hex[2 * i] = '\0';
	/* Only a valid name is printed: the peer chose it. */
	snprintf(EP_TLS(c)->t_revoked, len, " %s (serial %s)",
	    tls_cert_cn(crt, cn, sizeof(cn)) == NULL ? cn : "with a bad CN", hex);
	return 0;
}

/* Describe an mbedTLS failure in ep_err, with errno or verify flags. */
static void
tls_fail(struct gt_ep *c, const char *what, int ret)
{
	char		 e[128], v[512], *p;
	uint32_t	 flags = 0;
	size_t		 len;

	tls_strerror(ret, e, sizeof(e));
	v[0] = '\0';
	/* The handshake's verify flags say why a certificate was refused. */
	if ((flags = mbedtls_ssl_get_verify_result(&EP_TLS(c)->t_ssl)) != 0 &&
	    flags != (uint32_t)-1) {
		mbedtls_x509_crt_verify_info(v, sizeof(v), "", flags);
		/* One line: "a\nb\n" -> "a; b". */
		len = strlen(v);
		while (len > 0 && v[len - 1] == '\n')
			v[--len] = '\0';
		for (p = v; *p != '\0'; p++)
			if (*p == '\n')
				*p = ',';
	}
	if (v[0] != '\0' && (flags & MBEDTLS_X509_BADCERT_REVOKED) &&
	    EP_TLS(c)->t_server)
		ep_fail(c, "%s: client certificate%s is revoked (listed by the "
		    "CRL)", what, EP_TLS(c)->t_revoked != NULL ?
		    EP_TLS(c)->t_revoked : "");
	else if (v[0] != '\0')
		ep_fail(c, "%s: %s (%s)", what, e, v);
	else if (c->ep_errno != 0 && (ret == MBEDTLS_ERR_NET_SEND_FAILED ||
	    ret == MBEDTLS_ERR_NET_RECV_FAILED ||
	    ret == MBEDTLS_ERR_NET_CONN_RESET))
		ep_fail(c, "%s: %s", what, strerror(c->ep_errno));
	else
		ep_fail(c, "%s: %s", what, e);
}

/* One mbedtls_ssl_handshake step; peer checks once it completes. */
static enum ep_io
tls_handshake(struct gt_ep *c)
{
	int	ret;

	ret = mbedtls_ssl_handshake(&EP_TLS(c)->t_ssl);
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return EP_IO_WANT_READ;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return EP_IO_WANT_WRITE;
	if (ret != 0) {
		tls_fail(c, "handshake failed", ret);
		return EP_IO_ERROR;
	}
	if (tls_verify_peer(c) == -1) {
		/* Best effort: tell the peer before closing. */
		(void)mbedtls_ssl_send_alert_message(&EP_TLS(c)->t_ssl,
		    MBEDTLS_SSL_ALERT_LEVEL_FATAL,
		    MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED);
		return EP_IO_ERROR;
	}
	EP_TLS(c)->t_hs_done = 1;
	return EP_IO_OK;
}

/* What a non-positive mbedtls_ssl_read result means for the caller. */
static enum ep_io
tls_read_result(struct gt_ep *c, int ret)
{
	switch (ret) {
	case MBEDTLS_ERR_SSL_WANT_READ:
		return EP_IO_WANT_READ;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return EP_IO_WANT_WRITE;
	case 0:
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
	case MBEDTLS_ERR_SSL_CONN_EOF:
		return EP_IO_EOF;
	}
	tls_fail(c, "read", ret);
	return EP_IO_ERROR;
}

/* One mbedtls_ssl_read of up to a record straight into input's free space. */
static enum ep_io
tls_read(struct gt_ep *c, size_t want, size_t *n)
{
	struct evbuffer_iovec	v;
	int			ret;

	if (evbuffer_reserve_space(c->ep_in, EP_RECORD, &v, 1) != 1) {
		ep_fail(c, "read: out of memory");
		return EP_IO_ERROR;
	}
	if (want > EP_RECORD)
		want = EP_RECORD;
	ret = mbedtls_ssl_read(&EP_TLS(c)->t_ssl, v.iov_base,
	    v.iov_len < want ? v.iov_len : want);
	if (ret > 0) {
		v.iov_len = ret;
		evbuffer_commit_space(c->ep_in, &v, 1);
		*n = ret;
		return EP_IO_OK;
	}
	return tls_read_result(c, ret);
}

/*
 * One record from the front of output. On WANT_WRITE mbedTLS keeps the
 * encrypted record and must be called again with the same length, so the
 * bytes stay in output (ep_wlen) until ssl_write returns > 0.
 */
static enum ep_io
tls_write(struct gt_ep *c, size_t budget, size_t *n)
{
	unsigned char	*p;
	size_t		 len;
	int		 ret;

	(void)budget;
	if (c->ep_wlen == 0) {
		len = evbuffer_get_length(c->ep_out);
		if (len == 0)
			return EP_IO_DONE;
		c->ep_wlen = len < EP_RECORD ? len : EP_RECORD;
	}
	if ((p = evbuffer_pullup(c->ep_out, c->ep_wlen)) == NULL) {
		ep_fail(c, "write: out of memory");
		return EP_IO_ERROR;
	}
	ret = mbedtls_ssl_write(&EP_TLS(c)->t_ssl, p, c->ep_wlen);
	if (ret > 0) {
		evbuffer_drain(c->ep_out, ret);
		c->ep_wlen = 0;
		*n = ret;
		return EP_IO_OK;
	}
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return EP_IO_WANT_WRITE;
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return EP_IO_WANT_READ;
	tls_fail(c, "write", ret);
	return EP_IO_ERROR;
}

/* Decrypted bytes, or a whole record, already inside mbedTLS. */
static int
tls_pending(struct gt_ep *c)
{
	return mbedtls_ssl_get_bytes_avail(&EP_TLS(c)->t_ssl) > 0 ||
	    mbedtls_ssl_check_pending(&EP_TLS(c)->t_ssl);
}

/* Read and drop one record while closing, up to close_notify or EOF. */
static enum ep_io
tls_discard(struct gt_ep *c, size_t *n)
{
	unsigned char	buf[EP_RECORD];
	int		ret;

	ret = mbedtls_ssl_read(&EP_TLS(c)->t_ssl, buf, sizeof(buf));
	if (ret > 0) {
		*n += ret;
		return EP_IO_OK;
	}
	return tls_read_result(c, ret);
}

/* Send close_notify (again after WANT_WRITE until flushed). */
static enum ep_io
tls_close_notify(struct gt_ep *c)
{
	int	ret;

	if (!EP_TLS(c)->t_hs_done)
		return EP_IO_OK;
	ret = mbedtls_ssl_close_notify(&EP_TLS(c)->t_ssl);
	if (ret == 0)
		return EP_IO_OK;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return EP_IO_WANT_WRITE;
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return EP_IO_WANT_READ;
	tls_fail(c, "close_notify", ret);
	return EP_IO_ERROR;
}

/* Release the mbedTLS session and our reference to its context. */
static void
tls_free_priv(struct gt_ep *c)
{
	if (EP_TLS(c)->t_ssl_init)
		mbedtls_ssl_free(&EP_TLS(c)->t_ssl);
	EP_TLS(c)->t_ssl_init = 0;
	if (EP_TLS(c)->t_ctx != NULL)
		gt_tls_ctx_unref(EP_TLS(c)->t_ctx);
	EP_TLS(c)->t_ctx = NULL;
	free(EP_TLS(c)->t_ipname);
	EP_TLS(c)->t_ipname = NULL;
	free(EP_TLS(c)->t_revoked);
	EP_TLS(c)->t_revoked = NULL;
}

/* The negotiated suite's name, or "none" before the handshake. */
static const char *
tls_cipher(const struct gt_ep *c)
{
	const char	*s;

	if (!EP_TLS(c)->t_ssl_init ||
	    (s = mbedtls_ssl_get_ciphersuite(&EP_TLS(c)->t_ssl)) == NULL)
		return "none";
	return s;
}

const struct ep_ops ep_tls_ops = {
	.name = "tls",
	.handshake = tls_handshake,
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.discard = tls_discard,
	.close_notify = tls_close_notify,
	.free_priv = tls_free_priv,
	.cipher = tls_cipher,
};

static struct gt_ep *
ep_tls_new(struct event_base *base, evutil_socket_t fd,
    struct gt_tls_ctx *t, const char *server_name, gt_ep_cb *cb, void *arg)
{
	struct gt_ep	*c;
	int		 ret;

	if (t == NULL) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if ((c = ep_new(base, fd, &ep_tls_ops, sizeof(struct ep_tls), cb, arg)) == NULL)
		return NULL;
	gt_tls_ctx_ref(t);
	EP_TLS(c)->t_ctx = t;
	EP_TLS(c)->t_server = t->tls_server;
	mbedtls_ssl_init(&EP_TLS(c)->t_ssl);
	EP_TLS(c)->t_ssl_init = 1;
	if ((ret = mbedtls_ssl_setup(&EP_TLS(c)->t_ssl, &t->tls_conf)) != 0)
		goto fail;
	if (t->tls_server && t->tls_has_crl)
		mbedtls_ssl_set_verify(&EP_TLS(c)->t_ssl, tls_verify_cb, c);
	if (!t->tls_server) {
		/*
		 * mbedTLS 2.28 matches names against dNSName SANs only: an IP
		 * literal is checked against iPAddress SANs after the handshake.
		 */
		if (server_name != NULL && gt_addr_ip_family(server_name) != 0) {
			if ((EP_TLS(c)->t_ipname = strdup(server_name)) == NULL)
				goto fail;
			server_name = NULL;
		} else if (server_name == NULL) {
			/* Refuse to skip the name check silently. */
			goto fail;
		}
		if (server_name != NULL && (ret = mbedtls_ssl_set_hostname(
		    &EP_TLS(c)->t_ssl, server_name)) != 0)
			goto fail;
	}
	mbedtls_ssl_set_bio(&EP_TLS(c)->t_ssl, c, tls_send, tls_recv, NULL);
	return c;
fail:
	ep_unref(c);
	return NULL;
}

/* TLS server side on fd (owned); t must be a server context. */
struct gt_ep *
gt_ep_tls_server(struct event_base *base, evutil_socket_t fd,
    struct gt_tls_ctx *t, gt_ep_cb *cb, void *arg)
{
	if (t != NULL && !t->tls_server) {
		close(fd);
		return NULL;
	}
	return ep_tls_new(base, fd, t, NULL, cb, arg);
}

/* TLS client side on fd (owned); server_name is required. */
struct gt_ep *
gt_ep_tls_client(struct event_base *base, evutil_socket_t fd,
    struct gt_tls_ctx *t, const char *server_name, gt_ep_cb *cb, void *arg)
{
	if (t != NULL && t->tls_server) {
		close(fd);
		return NULL;
	}
	return ep_tls_new(base, fd, t, server_name, cb, arg);
}


/*
 * frame.c: the tunnel frame codec (docs/PROTOCOL.md) on libevent evbuffers.
 * No sockets, no stream state. The decoder never drains a partial frame, so
 * the caller can call it again whenever more bytes arrive; the DATA path does
 * no allocation and copies at most 16 header bytes.
 */
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "gt/frame.h"

/* Header + id(4) + the largest fixed part any decision needs at once. */
#define FRAME_PEEK		16
/* Header + id(4) + port(2) + hostlen(1) + host + the PROXY extension. */
#define FRAME_CONNECT_MAX	(GT_FRAME_HDR_LEN + 7 + GT_HOST_MAX + \
				 GT_PROXY_EXT6_LEN)
/* Header + magic, caps, window, hb_interval, hb_timeout. */
#define FRAME_HELLO_LEN		16
#define FRAME_HELLO_BUF		(GT_FRAME_HDR_LEN + FRAME_HELLO_LEN)

/* Read a big-endian uint32 at p. */
static inline uint32_t
frame_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Read a big-endian uint16 at p. */
static inline uint16_t
frame_get16(const uint8_t *p)
{
	return (uint16_t)(((unsigned)p[0] << 8) | (unsigned)p[1]);
}

/* Write v big-endian at p. */
static inline void
frame_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Write v big-endian at p. */
static inline void
frame_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Write a frame header for `type` with `len` payload bytes at p. */
static inline void
frame_put_hdr(uint8_t *p, uint8_t type, uint32_t len)
{
	p[0] = GT_PROTO_VERSION;
	p[1] = type;
	frame_put32(p + 2, len);
}

/* Is c allowed in a ConnectRequest host (printable, no space)? */
static inline int
frame_host_char(uint8_t c)
{
	return c >= 0x21 && c <= 0x7e;
}

/*
 * Check the payload length of a frame of `type` against its type, from the
 * header alone. 0 when acceptable so far, else a GT_FRAME_E_* code.
 */
static int
frame_check_len(uint8_t type, uint32_t len)
{
	switch (type) {
	case GT_FRAME_CONNECT_REQ:
		if (len < 6)
			return GT_FRAME_E_SHORT;
		if (len > 7 + GT_HOST_MAX + GT_PROXY_EXT6_LEN)
			return GT_FRAME_E_LONG;
		if (len == 7)	/* host length would be 0 */
			return GT_FRAME_E_HOST;
		return 0;
	case GT_FRAME_CONNECT_RESP:
		return len < 5 ? GT_FRAME_E_SHORT : len > 5 ? GT_FRAME_E_LONG : 0;
	case GT_FRAME_DATA:
		return len < 4 ? GT_FRAME_E_SHORT : 0;
	case GT_FRAME_CLOSE:
		return len < 4 ? GT_FRAME_E_SHORT : len > 5 ? GT_FRAME_E_LONG : 0;
	case GT_FRAME_KEEPALIVE:
		return 0;	/* any payload is ignored */
	case GT_FRAME_HELLO:
		return len < GT_HELLO_MIN_LEN ? GT_FRAME_E_SHORT : 0;
	case GT_FRAME_WINDOW:
		return len < 8 ? GT_FRAME_E_SHORT : len > 8 ? GT_FRAME_E_LONG : 0;
	case GT_FRAME_SHUTDOWN:
		return len < 4 ? GT_FRAME_E_SHORT : len > 4 ? GT_FRAME_E_LONG : 0;
	}
	return GT_FRAME_E_TYPE;
}

/*
 * Check a ConnectRequest's host length byte against the payload length:
 * the host ends the payload, or is followed by a PROXY extension of one of
 * its two sizes. 0, or GT_FRAME_E_HOST (the host length disagrees).
 */
static int
frame_check_hostlen(uint32_t len, uint8_t hlen)
{
	uint32_t rest;

	if (hlen == 0 || 7u + hlen > len)
		return GT_FRAME_E_HOST;
	rest = len - 7u - hlen;
	if (rest != 0 && rest != GT_PROXY_EXT4_LEN && rest != GT_PROXY_EXT6_LEN)
		return GT_FRAME_E_HOST;
	return 0;
}

/*
 * Decode the PROXY extension at p (n bytes: GT_PROXY_EXT4_LEN or
 * GT_PROXY_EXT6_LEN) strictly: a known version, and the family its size
 * says. 0, or GT_FRAME_E_EXT.
 */
static int
frame_decode_proxy(const uint8_t *p, size_t n, struct gt_proxy_addr *pa)
{
	size_t alen;

	if (p[0] != GT_PROXY_V1 && p[0] != GT_PROXY_V2)
		return GT_FRAME_E_EXT;
	if (!((p[1] == 4 && n == GT_PROXY_EXT4_LEN) ||
	    (p[1] == 6 && n == GT_PROXY_EXT6_LEN)))
		return GT_FRAME_E_EXT;
	alen = p[1] == 4 ? 4 : 16;
	memset(pa, 0, sizeof(*pa));
	pa->version = p[0];
	pa->family = p[1];
	memcpy(pa->src, p + 2, alen);
	pa->src_port = frame_get16(p + 2 + alen);
	memcpy(pa->dst, p + 4 + alen, alen);
	pa->dst_port = frame_get16(p + 4 + 2 * alen);
	return 0;
}

/* Decode the long ConnectRequest form, whole frame buffered; drains it. */
static int
frame_decode_host(struct evbuffer *in, struct gt_frame *f)
{
	uint8_t		 buf[FRAME_CONNECT_MAX];
	size_t		 total = GT_FRAME_HDR_LEN + (size_t)f->length, i, ext;
	uint8_t		 hlen;
	int		 rc;

	if (evbuffer_copyout(in, buf, total) != (ev_ssize_t)total)
		return GT_FRAME_NEED_MORE;
	hlen = buf[12];
	if ((rc = frame_check_hostlen(f->length, hlen)) != 0)
		return rc;
	for (i = 0; i < hlen; i++) {
		if (!frame_host_char(buf[13 + i]))
			return GT_FRAME_E_HOST;
	}
	ext = total - 13 - hlen;
	if (ext > 0) {
		if ((rc = frame_decode_proxy(buf + 13 + hlen, ext,
		    &f->proxy)) != 0)
			return rc;
		f->has_proxy = 1;
	}
	memcpy(f->host, buf + 13, hlen);
	f->host[hlen] = '\0';
	f->host_len = hlen;
	evbuffer_drain(in, total);
	return GT_FRAME_OK;
}

/* Decode one frame from the front of `in` (see frame.h). */
int
gt_frame_decode(struct evbuffer *in, struct gt_frame *f, uint32_t max_payload)
{
	uint8_t		 hdr[FRAME_PEEK];
	uint8_t		 hb[FRAME_HELLO_BUF];
	size_t		 have, want;
	ev_ssize_t	 got;
	uint32_t	 len;
	int		 rc;

	have = evbuffer_get_length(in);
	if (have < GT_FRAME_HDR_LEN)
		return GT_FRAME_NEED_MORE;
	got = evbuffer_copyout(in, hdr, have < FRAME_PEEK ? have : FRAME_PEEK);
	if (got < GT_FRAME_HDR_LEN)
		return GT_FRAME_NEED_MORE;
	if (hdr[0] != GT_PROTO_VERSION)
		return GT_FRAME_E_VERSION;
	len = frame_get32(hdr + 2);
	f->type = hdr[1];
	f->length = len;
	if (hdr[1] == 0 || hdr[1] > GT_FRAME_TYPE_MAX)
		return GT_FRAME_E_TYPE;
	if (max_payload > GT_FRAME_MAX_PAYLOAD)
		max_payload = GT_FRAME_MAX_PAYLOAD;
	if (len > max_payload)
		return GT_FRAME_E_LENGTH;
	if ((rc = frame_check_len(hdr[1], len)) != 0)
		return rc;
	/* The ConnectRequest host length agrees with the frame length? */
	if (hdr[1] == GT_FRAME_CONNECT_REQ && len > 6 && got > 12 &&
	    (rc = frame_check_hostlen(len, hdr[12])) != 0)
		return rc;
	want = GT_FRAME_HDR_LEN + (size_t)len;
	if (have < want)
		return GT_FRAME_NEED_MORE;

	/* Whole frame buffered: fill every field, then drain. */
	f->id = 0;
	f->port = 0;
	f->host_len = 0;
	f->host[0] = '\0';
	f->has_proxy = 0;
	memset(&f->proxy, 0, sizeof(f->proxy));
	f->status = 0;
	f->has_reason = 0;
	f->data_len = 0;
	f->increment = 0;
	f->magic = f->caps = f->window = 0;
	f->hb_interval = f->hb_timeout = 0;
	if (hdr[1] != GT_FRAME_KEEPALIVE && hdr[1] != GT_FRAME_HELLO)
		f->id = frame_get32(hdr + 6);

	switch (hdr[1]) {
	case GT_FRAME_DATA:
		f->data_len = len - 4;
		evbuffer_drain(in, GT_FRAME_HDR_LEN + 4);
		return GT_FRAME_OK;
	case GT_FRAME_CONNECT_REQ:
		f->port = frame_get16(hdr + 10);
		if (len > 6)
			return frame_decode_host(in, f);
		memcpy(f->host, "127.0.0.1", sizeof("127.0.0.1"));
		break;
	case GT_FRAME_CONNECT_RESP:
		f->status = hdr[10];
		break;
	case GT_FRAME_CLOSE:
		if (len == 5) {
			f->status = hdr[10];
			f->has_reason = 1;
		} else
			f->status = GT_STATUS_FAILED;
		break;
	case GT_FRAME_KEEPALIVE:
		break;
	case GT_FRAME_HELLO:
		want = GT_FRAME_HDR_LEN + (len < FRAME_HELLO_LEN ? len :
		    FRAME_HELLO_LEN);
		if (evbuffer_copyout(in, hb, want) != (ev_ssize_t)want)
			return GT_FRAME_NEED_MORE;
		f->magic = frame_get32(hb + 6);
		f->caps = frame_get32(hb + 10);
		f->window = frame_get32(hb + 14);
		if (len >= FRAME_HELLO_LEN) {
			f->hb_interval = frame_get16(hb + 18);
			f->hb_timeout = frame_get16(hb + 20);
		}
		break;
	case GT_FRAME_WINDOW:
		f->increment = frame_get32(hdr + 10);
		break;
	case GT_FRAME_SHUTDOWN:
		break;
	}
	evbuffer_drain(in, GT_FRAME_HDR_LEN + (size_t)len);
	return GT_FRAME_OK;
}

/* A short fixed string for a decoder result. */
const char *
gt_frame_strerror(int rc)
{
	switch (rc) {
	case GT_FRAME_OK:
		return "ok";
	case GT_FRAME_NEED_MORE:
		return "incomplete frame";
	case GT_FRAME_E_VERSION:
		return "bad protocol version";
	case GT_FRAME_E_TYPE:
		return "unknown frame type";
	case GT_FRAME_E_LENGTH:
		return "frame length over maximum";
	case GT_FRAME_E_SHORT:
		return "payload too short for frame type";
	case GT_FRAME_E_LONG:
		return "payload too long for frame type";
	case GT_FRAME_E_HOST:
		return "bad host in connect request";
	case GT_FRAME_E_EXT:
		return "bad extension in connect request";
	}
	return "unknown frame error";
}

/* The name of a frame type, for logs. */
const char *
gt_frame_type_name(uint8_t type)
{
	switch (type) {
	case GT_FRAME_CONNECT_REQ:
		return "ConnectRequest";
	case GT_FRAME_CONNECT_RESP:
		return "ConnectResponse";
	case GT_FRAME_DATA:
		return "Data";
	case GT_FRAME_CLOSE:
		return "Close";
	case GT_FRAME_KEEPALIVE:
		return "KeepAlive";
	case GT_FRAME_HELLO:
		return "Hello";
	case GT_FRAME_WINDOW:
		return "Window";
	case GT_FRAME_SHUTDOWN:
		return "Shutdown";
	}
	return "unknown";
}

/* Append n bytes at p to out in one call: all or nothing. */
static int
frame_add(struct evbuffer *out, const uint8_t *p, size_t n)
{
	if (out == NULL)
		return -1;
	return evbuffer_add(out, p, n) == 0 ? 0 : -1;
}

/* Append a ConnectRequest: the 6-byte form when host is NULL. */
int
gt_frame_add_connect_req(struct evbuffer *out, uint32_t id, uint16_t port,
    const char *host)
{
	uint8_t		 buf[FRAME_CONNECT_MAX];
	size_t		 hlen, i;

	if (host == NULL) {
		frame_put_hdr(buf, GT_FRAME_CONNECT_REQ, 6);
		frame_put32(buf + 6, id);
		frame_put16(buf + 10, port);
		return frame_add(out, buf, GT_FRAME_HDR_LEN + 6);
	}
	hlen = strnlen(host, GT_HOST_MAX + 1);
	if (hlen == 0 || hlen > GT_HOST_MAX)
		return -1;
	for (i = 0; i < hlen; i++) {
		if (!frame_host_char((uint8_t)host[i]))
			return -1;
	}
	frame_put_hdr(buf, GT_FRAME_CONNECT_REQ, (uint32_t)(7 + hlen));
	frame_put32(buf + 6, id);
	frame_put16(buf + 10, port);
	buf[12] = (uint8_t)hlen;
	memcpy(buf + 13, host, hlen);
	return frame_add(out, buf, GT_FRAME_HDR_LEN + 7 + hlen);
}

/* Append the long ConnectRequest with the PROXY extension after the host. */
int
gt_frame_add_connect_req_proxy(struct evbuffer *out, uint32_t id,
    uint16_t port, const char *host, const struct gt_proxy_addr *pa)
{
	uint8_t		 buf[FRAME_CONNECT_MAX];
	size_t		 hlen, i, alen, ext;
	uint8_t		*p;

	if (host == NULL || pa == NULL ||
	    (pa->version != GT_PROXY_V1 && pa->version != GT_PROXY_V2) ||
	    (pa->family != 4 && pa->family != 6))
		return -1;
	hlen = strnlen(host, GT_HOST_MAX + 1);
	if (hlen == 0 || hlen > GT_HOST_MAX)
		return -1;
	for (i = 0; i < hlen; i++) {
		if (!frame_host_char((uint8_t)host[i]))
			return -1;
	}
	alen = pa->family == 4 ? 4 : 16;
	ext = pa->family == 4 ? GT_PROXY_EXT4_LEN : GT_PROXY_EXT6_LEN;
	frame_put_hdr(buf, GT_FRAME_CONNECT_REQ, (uint32_t)(7 + hlen + ext));
	frame_put32(buf + 6, id);
	frame_put16(buf + 10, port);
	buf[12] = (uint8_t)hlen;
	memcpy(buf + 13, host, hlen);
	p = buf + 13 + hlen;
	p[0] = pa->version;
	p[1] = pa->family;
	memcpy(p + 2, pa->src, alen);
	frame_put16(p + 2 + alen, pa->src_port);
	memcpy(p + 4 + alen, pa->dst, alen);
	frame_put16(p + 4 + 2 * alen, pa->dst_port);
	return frame_add(out, buf, GT_FRAME_HDR_LEN + 7 + hlen + ext);
}

/* Append a ConnectResponse. */
int
gt_frame_add_connect_resp(struct evbuffer *out, uint32_t id, uint8_t status)
{
	uint8_t		 buf[GT_FRAME_HDR_LEN + 5];

	frame_put_hdr(buf, GT_FRAME_CONNECT_RESP, 5);
	frame_put32(buf + 6, id);
	buf[10] = status;
	return frame_add(out, buf, sizeof(buf));
}

/* Append the 10-byte header of a DATA frame carrying len bytes. */
int
gt_frame_add_data_hdr(struct evbuffer *out, uint32_t id, uint32_t len)
{
	uint8_t		 buf[GT_FRAME_HDR_LEN + 4];

	if (len > GT_FRAME_MAX_PAYLOAD - 4)
		return -1;
	frame_put_hdr(buf, GT_FRAME_DATA, len + 4);
	frame_put32(buf + 6, id);
	return frame_add(out, buf, sizeof(buf));
}

/* Append a whole DATA frame, header and bytes, in one reservation. */
int
gt_frame_add_data(struct evbuffer *out, uint32_t id, const void *data,
    size_t len)
{
	struct evbuffer_iovec	 v;
	uint8_t			*p;
	size_t			 total;

	if (out == NULL || len > GT_FRAME_MAX_PAYLOAD - 4 ||
	    (data == NULL && len > 0))
		return -1;
	total = GT_FRAME_HDR_LEN + 4 + len;
	if (evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) != 1 ||
	    v.iov_len < total)
		return -1;
	p = v.iov_base;
	frame_put_hdr(p, GT_FRAME_DATA, (uint32_t)(len + 4));
	frame_put32(p + 6, id);
	if (len > 0)
		memcpy(p + 10, data, len);
	v.iov_len = total;
	return evbuffer_commit_space(out, &v, 1) == 0 ? 0 : -1;
}

/* Append a Close; reason < 0 gives the 4-byte go-tunnel form. */
int
gt_frame_add_close(struct evbuffer *out, uint32_t id, int reason)
{
	uint8_t		 buf[GT_FRAME_HDR_LEN + 5];

	if (reason > 255)
		return -1;
	frame_put_hdr(buf, GT_FRAME_CLOSE, reason < 0 ? 4 : 5);
	frame_put32(buf + 6, id);
	if (reason < 0)
		return frame_add(out, buf, GT_FRAME_HDR_LEN + 4);
	buf[10] = (uint8_t)reason;
	return frame_add(out, buf, sizeof(buf));
}

/* Append an empty KeepAlive. */
int
gt_frame_add_keepalive(struct evbuffer *out)
{
	uint8_t		 buf[GT_FRAME_HDR_LEN];

	frame_put_hdr(buf, GT_FRAME_KEEPALIVE, 0);
	return frame_add(out, buf, sizeof(buf));
}

/* Append the 16-byte Hello. */
int
gt_frame_add_hello(struct evbuffer *out, uint32_t caps, uint32_t window,
    uint16_t hb_interval, uint16_t hb_timeout)
{
	uint8_t		 buf[FRAME_HELLO_BUF];

	frame_put_hdr(buf, GT_FRAME_HELLO, FRAME_HELLO_LEN);
	frame_put32(buf + 6, GT_HELLO_MAGIC);
	frame_put32(buf + 10, caps);
	frame_put32(buf + 14, window);
	frame_put16(buf + 18, hb_interval);
	frame_put16(buf + 20, hb_timeout);
	return frame_add(out, buf, sizeof(buf));
}

/* Append a Window credit grant. */
int
gt_frame_add_window(struct evbuffer *out, uint32_t id, uint32_t increment)
{
	uint8_t		 buf[GT_FRAME_HDR_LEN + 8];

	frame_put_hdr(buf, GT_FRAME_WINDOW, 8);
	frame_put32(buf + 6, id);
	frame_put32(buf + 10, increment);
	return frame_add(out, buf, sizeof(buf));
}

/* Append a Shutdown (half-close). */
int
gt_frame_add_shutdown(struct evbuffer *out, uint32_t id)
{
	uint8_t		 buf[GT_FRAME_HDR_LEN + 4];

	frame_put_hdr(buf, GT_FRAME_SHUTDOWN, 4);
	frame_put32(buf + 6, id);
	return frame_add(out, buf, sizeof(buf));
}

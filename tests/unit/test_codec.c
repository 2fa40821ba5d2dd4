/*
 * test_codec.c: the tunnel frame codec against byte-exact vectors, round
 * trips, every split point, and every decoder error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "gt/frame.h"

#define MAXP	GT_FRAME_MAX_PAYLOAD

/* One frame: how to encode it and what decoding it must give. */
struct vec {
	const char	*name;
	struct gt_frame	 f;		/* expected fields */
	const uint8_t	*payload;	/* DATA bytes */
	size_t		 plen;
	int		 reason;	/* CLOSE: -1 for the 4-byte form */
	const uint8_t	*wire;		/* expected bytes, NULL: not checked */
	size_t		 wire_len;
};

static const uint8_t w_creq_short[] = {
	0x01, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x16 };
static const uint8_t w_creq_long[] = {
	0x01, 0x01, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x02, 0x1f, 0x90,
	0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't' };
static const uint8_t w_cresp[] = {
	0x01, 0x02, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x00 };
static const uint8_t w_data[] = {
	0x01, 0x03, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x07,
	'h', 'e', 'l', 'l', 'o' };
static const uint8_t w_data0[] = {
	0x01, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x07 };
static const uint8_t w_close[] = {
	0x01, 0x04, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t w_close_r[] = {
	0x01, 0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01, 0x03 };
static const uint8_t w_keepalive[] = {
	0x01, 0x05, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t w_hello[] = {
	0x01, 0x06, 0x00, 0x00, 0x00, 0x10, 0x47, 0x54, 0x58, 0x31,
	0x00, 0x00, 0x00, 0x07, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x1e };
static const uint8_t w_window[] = {
	0x01, 0x07, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x05,
	0x00, 0x02, 0x00, 0x00 };
static const uint8_t w_shutdown[] = {
	0x01, 0x08, 0x00, 0x00, 0x00, 0x04, 0x12, 0x34, 0x56, 0x78 };

static const uint8_t hello_bytes[] = "hello";

static struct vec vecs[] = {
	{ "creq_short", { .type = GT_FRAME_CONNECT_REQ, .length = 6, .id = 1,
	    .port = 22, .host = "127.0.0.1" }, NULL, 0, 0,
	    w_creq_short, sizeof(w_creq_short) },
	{ "creq_long", { .type = GT_FRAME_CONNECT_REQ, .length = 16, .id = 2,
	    .port = 8080, .host_len = 9, .host = "localhost" }, NULL, 0, 0,
	    w_creq_long, sizeof(w_creq_long) },
	{ "cresp", { .type = GT_FRAME_CONNECT_RESP, .length = 5, .id = 1,
	    .status = GT_STATUS_OK }, NULL, 0, 0, w_cresp, sizeof(w_cresp) },
	{ "cresp_refused", { .type = GT_FRAME_CONNECT_RESP, .length = 5,
	    .id = 0xfffffffe, .status = GT_STATUS_REFUSED }, NULL, 0, 0,
	    NULL, 0 },
	{ "data", { .type = GT_FRAME_DATA, .length = 9, .id = 7,
	    .data_len = 5 }, hello_bytes, 5, 0, w_data, sizeof(w_data) },
	{ "data0", { .type = GT_FRAME_DATA, .length = 4, .id = 7,
	    .data_len = 0 }, NULL, 0, 0, w_data0, sizeof(w_data0) },
	{ "close", { .type = GT_FRAME_CLOSE, .length = 4, .id = 1,
	    .status = GT_STATUS_FAILED }, NULL, 0, -1, w_close,
	    sizeof(w_close) },
	{ "close_reason", { .type = GT_FRAME_CLOSE, .length = 5, .id = 1,
	    .status = GT_STATUS_REFUSED, .has_reason = 1 }, NULL, 0,
	    GT_STATUS_REFUSED, w_close_r, sizeof(w_close_r) },
	{ "keepalive", { .type = GT_FRAME_KEEPALIVE, .length = 0 }, NULL, 0, 0,
	    w_keepalive, sizeof(w_keepalive) },
	{ "hello", { .type = GT_FRAME_HELLO, .length = 16,
	    .magic = GT_HELLO_MAGIC,
	    .caps = GT_CAP_FLOW | GT_CAP_HALFCLOSE | GT_CAP_ERRCODES,
	    .window = GT_WINDOW_DEFAULT, .hb_interval = 10, .hb_timeout = 30 },
	    NULL, 0, 0, w_hello, sizeof(w_hello) },
	{ "window", { .type = GT_FRAME_WINDOW, .length = 8, .id = 5,
	    .increment = 131072 }, NULL, 0, 0, w_window, sizeof(w_window) },
	{ "shutdown", { .type = GT_FRAME_SHUTDOWN, .length = 4,
	    .id = 0x12345678 }, NULL, 0, 0, w_shutdown, sizeof(w_shutdown) },
};
#define NVECS	(sizeof(vecs) / sizeof(vecs[0]))

/* Encode v into out with the matching encoder; its return value. */
static int
encode(struct evbuffer *out, const struct vec *v)
{
	const struct gt_frame *f = &v->f;

	switch (f->type) {
	case GT_FRAME_CONNECT_REQ:
		return gt_frame_add_connect_req(out, f->id, f->port,
		    f->host_len ? f->host : NULL);
	case GT_FRAME_CONNECT_RESP:
		return gt_frame_add_connect_resp(out, f->id, f->status);
	case GT_FRAME_DATA:
		return gt_frame_add_data(out, f->id, v->payload, v->plen);
	case GT_FRAME_CLOSE:
		return gt_frame_add_close(out, f->id, v->reason);
	case GT_FRAME_KEEPALIVE:
		return gt_frame_add_keepalive(out);
	case GT_FRAME_HELLO:
		return gt_frame_add_hello(out, f->caps, f->window,
		    f->hb_interval, f->hb_timeout);
	case GT_FRAME_WINDOW:
		return gt_frame_add_window(out, f->id, f->increment);
	case GT_FRAME_SHUTDOWN:
		return gt_frame_add_shutdown(out, f->id);
	}
	return -1;
}

/* Every field of a decoded frame equals the expected one. */
static void
assert_frame_eq(const struct gt_frame *exp, const struct gt_frame *got)
{
	assert_int_equal(exp->type, got->type);
	assert_int_equal(exp->length, got->length);
	assert_int_equal(exp->id, got->id);
	assert_int_equal(exp->port, got->port);
	assert_int_equal(exp->host_len, got->host_len);
	assert_string_equal(exp->host, got->host);
	assert_int_equal(exp->status, got->status);
	assert_int_equal(exp->has_reason, got->has_reason);
	assert_int_equal(exp->data_len, got->data_len);
	assert_int_equal(exp->increment, got->increment);
	assert_int_equal(exp->magic, got->magic);
	assert_int_equal(exp->caps, got->caps);
	assert_int_equal(exp->window, got->window);
	assert_int_equal(exp->hb_interval, got->hb_interval);
	assert_int_equal(exp->hb_timeout, got->hb_timeout);
}

/* A fresh evbuffer holding n bytes at p. */
static struct evbuffer *
buf_of(const void *p, size_t n)
{
	struct evbuffer *b = evbuffer_new();

	assert_non_null(b);
	if (n > 0)
		assert_int_equal(evbuffer_add(b, p, n), 0);
	return b;
}

/* The buffer holds exactly the n bytes at p. */
static void
assert_buf_eq(struct evbuffer *b, const void *p, size_t n)
{
	unsigned char	*q;

	assert_int_equal(evbuffer_get_length(b), n);
	if (n == 0)
		return;
	q = evbuffer_pullup(b, -1);
	assert_non_null(q);
	assert_memory_equal(q, p, n);
}

/* Decode one frame of v from b and check its fields and DATA payload. */
static void
decode_check(struct evbuffer *b, const struct vec *v)
{
	struct gt_frame	 f;

	memset(&f, 0xa5, sizeof(f));
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_frame_eq(&v->f, &f);
	if (f.type == GT_FRAME_DATA) {
		assert_true(evbuffer_get_length(b) >= f.data_len);
		if (f.data_len > 0) {
			unsigned char *q = evbuffer_pullup(b, f.data_len);
			assert_memory_equal(q, v->payload, f.data_len);
		}
		evbuffer_drain(b, f.data_len);
	}
}

/* Each encoder writes exactly the documented bytes. */
static void
test_vectors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NVECS; i++) {
		struct evbuffer *b = evbuffer_new();

		if (vecs[i].wire == NULL) {
			evbuffer_free(b);
			continue;
		}
		assert_int_equal(encode(b, &vecs[i]), 0);
		assert_buf_eq(b, vecs[i].wire, vecs[i].wire_len);
		evbuffer_free(b);
	}
}

/* The documented bytes decode to the documented fields. */
static void
test_decode_vectors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NVECS; i++) {
		struct evbuffer *b;

		if (vecs[i].wire == NULL)
			continue;
		b = buf_of(vecs[i].wire, vecs[i].wire_len);
		decode_check(b, &vecs[i]);
		assert_int_equal(evbuffer_get_length(b), 0);
		evbuffer_free(b);
	}
}

/* Every frame survives encode then decode; a hello from fields too. */
static void
test_round_trip(void **state)
{
	struct evbuffer	*b;
	struct gt_frame	 f;
	size_t		 i;

	(void)state;
	for (i = 0; i < NVECS; i++) {
		b = evbuffer_new();
		assert_int_equal(encode(b, &vecs[i]), 0);
		decode_check(b, &vecs[i]);
		assert_int_equal(gt_frame_decode(b, &f, MAXP),
		    GT_FRAME_NEED_MORE);
		assert_int_equal(evbuffer_get_length(b), 0);
		evbuffer_free(b);
	}

	/* Extremes: 255-char host, max port and ids, DATA header alone. */
	b = evbuffer_new();
	{
		char host[GT_HOST_MAX + 1];

		memset(host, 'a', GT_HOST_MAX);
		host[GT_HOST_MAX] = '\0';
		host[0] = '!';
		host[GT_HOST_MAX - 1] = '~';
		assert_int_equal(gt_frame_add_connect_req(b, 0xffffffff,
		    65535, host), 0);
		assert_int_equal(evbuffer_get_length(b), 6 + 7 + 255);
		assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
		assert_int_equal(f.id, 0xffffffff);
		assert_int_equal(f.port, 65535);
		assert_int_equal(f.host_len, 255);
		assert_string_equal(f.host, host);
		assert_int_equal(f.length, 262);
	}
	assert_int_equal(gt_frame_add_data_hdr(b, 9, 3), 0);
	assert_int_equal(evbuffer_add(b, "xyz", 3), 0);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.type, GT_FRAME_DATA);
	assert_int_equal(f.id, 9);
	assert_int_equal(f.length, 7);
	assert_int_equal(f.data_len, 3);
	assert_buf_eq(b, "xyz", 3);
	evbuffer_free(b);
}

/* Byte by byte: NEED_MORE and untouched until the last byte, then OK. */
static void
test_split_bytewise(void **state)
{
	struct gt_frame	 f;
	size_t		 i, k, n;

	(void)state;
	for (i = 0; i < NVECS; i++) {
		struct evbuffer	*enc = evbuffer_new(), *b = evbuffer_new();
		unsigned char	*w;

		assert_int_equal(encode(enc, &vecs[i]), 0);
		n = evbuffer_get_length(enc);
		w = evbuffer_pullup(enc, -1);
		for (k = 0; k < n; k++) {
			assert_int_equal(gt_frame_decode(b, &f, MAXP),
			    GT_FRAME_NEED_MORE);
			assert_int_equal(evbuffer_get_length(b), k);
			assert_int_equal(evbuffer_add(b, w + k, 1), 0);
		}
		decode_check(b, &vecs[i]);
		assert_int_equal(evbuffer_get_length(b), 0);
		evbuffer_free(enc);
		evbuffer_free(b);
	}
}

/* Two chunks in separate evbuffer chains, split at every point. */
static void
test_split_chains(void **state)
{
	struct gt_frame	 f;
	size_t		 i, k, n;

	(void)state;
	for (i = 0; i < NVECS; i++) {
		struct evbuffer	*enc = evbuffer_new();
		unsigned char	*w;

		assert_int_equal(encode(enc, &vecs[i]), 0);
		n = evbuffer_get_length(enc);
		w = evbuffer_pullup(enc, -1);
		for (k = 1; k < n; k++) {
			struct evbuffer *b = buf_of(w, k);
			struct evbuffer *rest = buf_of(w + k, n - k);

			assert_int_equal(gt_frame_decode(b, &f, MAXP),
			    GT_FRAME_NEED_MORE);
			assert_int_equal(evbuffer_get_length(b), k);
			assert_int_equal(evbuffer_add_buffer(b, rest), 0);
			decode_check(b, &vecs[i]);
			assert_int_equal(evbuffer_get_length(b), 0);
			evbuffer_free(b);
			evbuffer_free(rest);
		}
		evbuffer_free(enc);
	}
}

/* Many frames back to back in one buffer decode in order. */
static void
test_many_frames(void **state)
{
	struct evbuffer	*b = evbuffer_new();
	struct gt_frame	 f;
	size_t		 i, round;

	(void)state;
	for (round = 0; round < 50; round++)
		for (i = 0; i < NVECS; i++)
			assert_int_equal(encode(b, &vecs[i]), 0);
	/* Trailing partial header. */
	assert_int_equal(evbuffer_add(b, w_data, 3), 0);
	for (round = 0; round < 50; round++)
		for (i = 0; i < NVECS; i++)
			decode_check(b, &vecs[i]);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_NEED_MORE);
	assert_int_equal(evbuffer_get_length(b), 3);
	evbuffer_free(b);
}

/* A DATA payload stays in the buffer; a large one needs all its bytes. */
static void
test_data_payload(void **state)
{
	struct evbuffer	*b = evbuffer_new(), *dst = evbuffer_new();
	struct gt_frame	 f;
	unsigned char	*big;
	size_t		 n = GT_DATA_CHUNK;

	(void)state;
	big = malloc(n);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 7);
	assert_int_equal(gt_frame_add_data(b, 3, big, n), 0);
	assert_int_equal(evbuffer_get_length(b), 10 + n);
	assert_int_equal(GT_FRAME_HDR_LEN + 4 + GT_DATA_CHUNK, GT_RECORD);
	/* One byte missing: NEED_MORE, nothing drained. */
	{
		struct evbuffer *part = evbuffer_new();

		assert_int_equal(evbuffer_remove_buffer(b, part, 10 + n - 1),
		    (int)(10 + n - 1));
		assert_int_equal(gt_frame_decode(part, &f, MAXP),
		    GT_FRAME_NEED_MORE);
		assert_int_equal(evbuffer_get_length(part), 10 + n - 1);
		assert_int_equal(evbuffer_prepend_buffer(b, part), 0);
		evbuffer_free(part);
	}
	assert_int_equal(gt_frame_add_keepalive(b), 0);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.type, GT_FRAME_DATA);
	assert_int_equal(f.id, 3);
	assert_int_equal(f.data_len, n);
	assert_int_equal(evbuffer_get_length(b), n + 6);
	assert_int_equal(evbuffer_remove_buffer(b, dst, f.data_len), (int)n);
	assert_memory_equal(evbuffer_pullup(dst, -1), big, n);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.type, GT_FRAME_KEEPALIVE);
	assert_int_equal(evbuffer_get_length(b), 0);

	/* Largest DATA accepted; the header alone is cheap to write. */
	free(big);
	n = GT_FRAME_MAX_PAYLOAD - 4;
	big = calloc(1, n);
	assert_non_null(big);
	assert_int_equal(gt_frame_add_data(b, 4, big, n), 0);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.data_len, n);
	assert_int_equal(f.length, GT_FRAME_MAX_PAYLOAD);
	evbuffer_drain(b, n);
	free(big);
	evbuffer_free(b);
	evbuffer_free(dst);
}

/* KEEPALIVE and HELLO payload variants the decoder tolerates. */
static void
test_lenient(void **state)
{
	static const uint8_t ka[] = { 0x01, 0x05, 0x00, 0x00, 0x00, 0x03,
	    0xaa, 0xbb, 0xcc, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t h12[] = { 0x01, 0x06, 0x00, 0x00, 0x00, 0x0c,
	    0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x01,
	    0x00, 0x00, 0x10, 0x00 };
	static const uint8_t h20[] = { 0x01, 0x06, 0x00, 0x00, 0x00, 0x14,
	    0x47, 0x54, 0x58, 0x31, 0x80, 0x00, 0x00, 0x03,
	    0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x0f,
	    0x99, 0x99, 0x99, 0x99, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00 };
	struct evbuffer	*b;
	struct gt_frame	 f;

	(void)state;
	b = buf_of(ka, sizeof(ka));
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.type, GT_FRAME_KEEPALIVE);
	assert_int_equal(f.length, 3);
	assert_int_equal(evbuffer_get_length(b), 6);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.length, 0);
	evbuffer_free(b);

	/* KeepAlive payload must be whole before OK. */
	b = buf_of(ka, 8);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_NEED_MORE);
	assert_int_equal(evbuffer_get_length(b), 8);
	evbuffer_free(b);

	/* 12-byte hello: no heartbeat; the magic is not the codec's job. */
	b = buf_of(h12, sizeof(h12));
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.type, GT_FRAME_HELLO);
	assert_int_equal(f.magic, 0xdeadbeef);
	assert_int_equal(f.caps, 1);
	assert_int_equal(f.window, 4096);
	assert_int_equal(f.hb_interval, 0);
	assert_int_equal(f.hb_timeout, 0);
	assert_int_equal(evbuffer_get_length(b), 0);
	evbuffer_free(b);

	/* 20-byte hello: extra bytes drained and ignored. */
	b = buf_of(h20, sizeof(h20));
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.magic, GT_HELLO_MAGIC);
	assert_int_equal(f.caps, 0x80000003u);
	assert_int_equal(f.window, 0x01000000u);
	assert_int_equal(f.hb_interval, 5);
	assert_int_equal(f.hb_timeout, 15);
	assert_int_equal(f.length, 20);
	assert_int_equal(evbuffer_get_length(b), 6);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.type, GT_FRAME_KEEPALIVE);
	evbuffer_free(b);
}

/* Decode p (n bytes): expect rc and an untouched buffer. */
static void
expect_error(const uint8_t *p, size_t n, uint32_t max, int rc)
{
	struct evbuffer	*b = buf_of(p, n);
	struct gt_frame	 f;

	assert_int_equal(gt_frame_decode(b, &f, max), rc);
	assert_int_equal(evbuffer_get_length(b), n);
	assert_memory_equal(evbuffer_pullup(b, -1), p, n);
	evbuffer_free(b);
}

/* A bare header of type t and payload length len: expect rc. */
static void
expect_hdr_error(uint8_t t, uint32_t len, int rc)
{
	uint8_t hdr[6] = { 0x01, t, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len };

	expect_error(hdr, sizeof(hdr), MAXP, rc);
}

/* Version, type and length errors show from the header alone. */
static void
test_header_errors(void **state)
{
	static const uint8_t v0[] = { 0x00, 0x05, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t v2[] = { 0x02, 0x05, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x00, 0xa5, 0x01 };
	static const uint8_t big[] = { 0x01, 0x03, 0x00, 0x10, 0x00, 0x01 };
	static const uint8_t max[] = { 0x01, 0x03, 0x00, 0x10, 0x00, 0x00 };
	static const uint8_t huge[] = { 0x01, 0x05, 0xff, 0xff, 0xff, 0xff };
	struct evbuffer	*b;
	struct gt_frame	 f;

	(void)state;
	expect_error(v0, sizeof(v0), MAXP, GT_FRAME_E_VERSION);
	expect_error(v2, sizeof(v2), MAXP, GT_FRAME_E_VERSION);
	expect_error(tls, sizeof(tls), MAXP, GT_FRAME_E_VERSION);
	/* Fewer than 6 bytes: never an error yet. */
	expect_error(v2, 5, MAXP, GT_FRAME_NEED_MORE);
	expect_error(v2, 0, MAXP, GT_FRAME_NEED_MORE);

	expect_hdr_error(0, 0, GT_FRAME_E_TYPE);
	expect_hdr_error(9, 4, GT_FRAME_E_TYPE);
	expect_hdr_error(0xff, 4, GT_FRAME_E_TYPE);

	expect_error(big, sizeof(big), MAXP, GT_FRAME_E_LENGTH);
	expect_error(huge, sizeof(huge), MAXP, GT_FRAME_E_LENGTH);
	expect_error(huge, sizeof(huge), 0xffffffff, GT_FRAME_E_LENGTH);
	/* A max over GT_FRAME_MAX_PAYLOAD is clamped to it. */
	expect_error(big, sizeof(big), 0xffffffff, GT_FRAME_E_LENGTH);
	/* At the maximum: waits for the payload. */
	expect_error(max, sizeof(max), MAXP, GT_FRAME_NEED_MORE);
	/* The caller's smaller maximum. */
	expect_hdr_error(GT_FRAME_DATA, 101, GT_FRAME_NEED_MORE);
	{
		uint8_t h[6] = { 0x01, 0x03, 0x00, 0x00, 0x00, 101 };

		expect_error(h, 6, 100, GT_FRAME_E_LENGTH);
		h[5] = 100;
		expect_error(h, 6, 100, GT_FRAME_NEED_MORE);
	}
	/* A KeepAlive longer than the maximum is still refused. */
	{
		uint8_t h[6] = { 0x01, 0x05, 0x00, 0x00, 0x00, 17 };

		expect_error(h, 6, 16, GT_FRAME_E_LENGTH);
	}

	/* The header's type and length are reported with the error. */
	b = buf_of(big, sizeof(big));
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_E_LENGTH);
	assert_int_equal(f.type, GT_FRAME_DATA);
	assert_int_equal(f.length, GT_FRAME_MAX_PAYLOAD + 1);
	evbuffer_free(b);
}

/* Each type's length bounds, reported from the header alone. */
static void
test_length_errors(void **state)
{
	(void)state;
	expect_hdr_error(GT_FRAME_CONNECT_REQ, 0, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_CONNECT_REQ, 5, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_CONNECT_REQ, 6, GT_FRAME_NEED_MORE);
	expect_hdr_error(GT_FRAME_CONNECT_REQ, 262, GT_FRAME_NEED_MORE);
	/* 255-byte host and an IPv6 PROXY extension: the longest. */
	expect_hdr_error(GT_FRAME_CONNECT_REQ, 300, GT_FRAME_NEED_MORE);
	expect_hdr_error(GT_FRAME_CONNECT_REQ, 301, GT_FRAME_E_LONG);
	expect_hdr_error(GT_FRAME_CONNECT_RESP, 4, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_CONNECT_RESP, 0, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_CONNECT_RESP, 6, GT_FRAME_E_LONG);
	expect_hdr_error(GT_FRAME_DATA, 3, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_DATA, 0, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_CLOSE, 3, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_CLOSE, 6, GT_FRAME_E_LONG);
	expect_hdr_error(GT_FRAME_CLOSE, 5, GT_FRAME_NEED_MORE);
	expect_hdr_error(GT_FRAME_HELLO, 11, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_HELLO, 0, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_HELLO, 1000, GT_FRAME_NEED_MORE);
	expect_hdr_error(GT_FRAME_WINDOW, 7, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_WINDOW, 9, GT_FRAME_E_LONG);
	expect_hdr_error(GT_FRAME_SHUTDOWN, 3, GT_FRAME_E_SHORT);
	expect_hdr_error(GT_FRAME_SHUTDOWN, 5, GT_FRAME_E_LONG);
	expect_hdr_error(GT_FRAME_KEEPALIVE, 1, GT_FRAME_NEED_MORE);

	/* The same errors with a whole (wrong) payload present. */
	{
		static const uint8_t resp6[] = { 0x01, 0x02, 0x00, 0x00, 0x00,
		    0x06, 0, 0, 0, 1, 0, 0 };
		static const uint8_t win7[] = { 0x01, 0x07, 0x00, 0x00, 0x00,
		    0x07, 0, 0, 0, 1, 0, 0, 1 };

		expect_error(resp6, sizeof(resp6), MAXP, GT_FRAME_E_LONG);
		expect_error(win7, sizeof(win7), MAXP, GT_FRAME_E_SHORT);
	}
}

/* ConnectRequest host length and characters. */
static void
test_host_errors(void **state)
{
	/* 7-byte payload, host length 0. */
	static const uint8_t h0[] = { 0x01, 0x01, 0x00, 0x00, 0x00, 0x07,
	    0, 0, 0, 1, 0, 22, 0x00 };
	/* Length 12 but host length 4 (should be 5). */
	static const uint8_t hmis[] = { 0x01, 0x01, 0x00, 0x00, 0x00, 0x0c,
	    0, 0, 0, 1, 0, 22, 0x04, 'a', 'b', 'c', 'd', 'e' };
	/* Length 10 but host length 5 (should be 3). */
	static const uint8_t hmis2[] = { 0x01, 0x01, 0x00, 0x00, 0x00, 0x0a,
	    0, 0, 0, 1, 0, 22, 0x05, 'a', 'b', 'c' };
	uint8_t		 good[] = { 0x01, 0x01, 0x00, 0x00, 0x00, 0x0a,
	    0, 0, 0, 1, 0, 22, 0x03, 'a', 'b', 'c' };
	static const uint8_t bad[] = { ' ', 0x00, 0x1f, 0x7f, 0x80, 0xff,
	    '\n' };
	struct evbuffer	*b;
	struct gt_frame	 f;
	size_t		 i, pos;

	(void)state;
	expect_error(h0, sizeof(h0), MAXP, GT_FRAME_E_HOST);
	expect_error(h0, 6, MAXP, GT_FRAME_E_HOST);	/* header only */
	expect_error(hmis, sizeof(hmis), MAXP, GT_FRAME_E_HOST);
	/* The host length byte alone tells, before the host arrives. */
	expect_error(hmis, 13, MAXP, GT_FRAME_E_HOST);
	expect_error(hmis, 12, MAXP, GT_FRAME_NEED_MORE);
	expect_error(hmis2, sizeof(hmis2), MAXP, GT_FRAME_E_HOST);
	{
		uint8_t z[sizeof(good)];

		memcpy(z, good, sizeof(good));
		z[12] = 0;
		expect_error(z, sizeof(z), MAXP, GT_FRAME_E_HOST);
	}
	/* Bad characters at each position. */
	for (i = 0; i < sizeof(bad); i++) {
		for (pos = 13; pos < sizeof(good); pos++) {
			uint8_t c[sizeof(good)];

			memcpy(c, good, sizeof(good));
			c[pos] = bad[i];
			expect_error(c, sizeof(c), MAXP, GT_FRAME_E_HOST);
		}
	}
	/* Edge characters are fine. */
	good[13] = 0x21;
	good[15] = 0x7e;
	b = buf_of(good, sizeof(good));
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.host_len, 3);
	assert_string_equal(f.host, "!b~");
	evbuffer_free(b);
}

/* ConnectRequest(id 3, port 80, "web") + PROXY v1, 127.0.0.2:40000 -> 127.0.0.1:8080. */
static const uint8_t w_creq_pp4[] = {
	0x01, 0x01, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x03, 0x00, 0x50,
	0x03, 'w', 'e', 'b',
	0x01, 0x04, 0x7f, 0x00, 0x00, 0x02, 0x9c, 0x40,
	0x7f, 0x00, 0x00, 0x01, 0x1f, 0x90 };
/* ConnectRequest(id 4, port 443, "db") + PROXY v2, [2001:db8::1]:51000 -> [2001:db8::2]:443. */
static const uint8_t w_creq_pp6[] = {
	0x01, 0x01, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x00, 0x04, 0x01, 0xbb,
	0x02, 'd', 'b',
	0x02, 0x06,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0xc7, 0x38,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
	0x01, 0xbb };

static const struct gt_proxy_addr pp4 = {
	.version = GT_PROXY_V1, .family = 4,
	.src = { 127, 0, 0, 2 }, .dst = { 127, 0, 0, 1 },
	.src_port = 40000, .dst_port = 8080,
};
static const struct gt_proxy_addr pp6 = {
	.version = GT_PROXY_V2, .family = 6,
	.src = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
	.dst = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 },
	.src_port = 51000, .dst_port = 443,
};

/* The PROXY extension of ConnectRequest: exact bytes, fields back, every split. */
static void
test_proxy_ext(void **state)
{
	static const struct {
		const uint8_t			*wire;
		size_t				 len;
		const struct gt_proxy_addr	*pa;
		uint32_t			 id;
		uint16_t			 port;
		const char			*host;
	} v[] = {
		{ w_creq_pp4, sizeof(w_creq_pp4), &pp4, 3, 80, "web" },
		{ w_creq_pp6, sizeof(w_creq_pp6), &pp6, 4, 443, "db" },
	};
	struct evbuffer	*b;
	struct gt_frame	 f;
	size_t		 i, cut;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		b = evbuffer_new();
		assert_int_equal(gt_frame_add_connect_req_proxy(b, v[i].id,
		    v[i].port, v[i].host, v[i].pa), 0);
		assert_buf_eq(b, v[i].wire, v[i].len);
		memset(&f, 0xa5, sizeof(f));
		assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
		assert_int_equal(evbuffer_get_length(b), 0);
		assert_int_equal(f.type, GT_FRAME_CONNECT_REQ);
		assert_int_equal(f.id, v[i].id);
		assert_int_equal(f.port, v[i].port);
		assert_string_equal(f.host, v[i].host);
		assert_int_equal(f.has_proxy, 1);
		assert_memory_equal(&f.proxy, v[i].pa, sizeof(f.proxy));
		/* Every split point: nothing until the last byte. */
		for (cut = 0; cut < v[i].len; cut++) {
			evbuffer_drain(b, evbuffer_get_length(b));
			evbuffer_add(b, v[i].wire, cut);
			assert_int_equal(gt_frame_decode(b, &f, MAXP),
			    GT_FRAME_NEED_MORE);
			assert_int_equal(evbuffer_get_length(b), cut);
			evbuffer_add(b, v[i].wire + cut, v[i].len - cut);
			assert_int_equal(gt_frame_decode(b, &f, MAXP),
			    GT_FRAME_OK);
			assert_int_equal(f.has_proxy, 1);
			assert_int_equal(f.proxy.src_port, v[i].pa->src_port);
		}
		evbuffer_free(b);
	}
	/* A plain long form after one with the extension says none. */
	b = evbuffer_new();
	assert_int_equal(gt_frame_add_connect_req_proxy(b, 1, 1, "a", &pp6), 0);
	assert_int_equal(gt_frame_add_connect_req(b, 2, 2, "b"), 0);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.has_proxy, 1);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(f.has_proxy, 0);
	assert_int_equal(f.proxy.family, 0);
	/* The longest ConnectRequest: 255-byte host, IPv6 extension. */
	{
		char host[GT_HOST_MAX + 1];

		memset(host, 'h', GT_HOST_MAX);
		host[GT_HOST_MAX] = '\0';
		assert_int_equal(gt_frame_add_connect_req_proxy(b, 9, 9, host,
		    &pp6), 0);
		assert_int_equal(evbuffer_get_length(b), 6 + 300);
		assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
		assert_int_equal(f.length, 300);
		assert_int_equal(f.host_len, 255);
		assert_memory_equal(&f.proxy, &pp6, sizeof(pp6));
	}
	evbuffer_free(b);
}

/* Decode p (n bytes) and expect rc; an error leaves the buffer untouched. */
static void
expect_rc(const uint8_t *p, size_t n, int rc)
{
	struct evbuffer	*b;
	struct gt_frame	 f;

	if (rc != GT_FRAME_OK) {
		expect_error(p, n, MAXP, rc);
		return;
	}
	b = buf_of(p, n);
	assert_int_equal(gt_frame_decode(b, &f, MAXP), GT_FRAME_OK);
	assert_int_equal(evbuffer_get_length(b), 0);
	assert_int_equal(f.has_proxy, 1);
	evbuffer_free(b);
}

/* The extension is decoded strictly: size, version, family. */
static void
test_proxy_ext_errors(void **state)
{
	uint8_t	c[64];	/* the largest: 16 + 40 */
	size_t	n;
	int	x;

	(void)state;
	/* Version byte: only 1 and 2. */
	for (x = 0; x < 256; x++) {
		memcpy(c, w_creq_pp4, sizeof(w_creq_pp4));
		c[16] = (uint8_t)x;
		expect_rc(c, sizeof(w_creq_pp4),
		    x == 1 || x == 2 ? GT_FRAME_OK : GT_FRAME_E_EXT);
	}
	/* Family byte: 4 with 14 bytes, 6 with 38, nothing else. */
	for (x = 0; x < 256; x++) {
		memcpy(c, w_creq_pp4, sizeof(w_creq_pp4));
		c[17] = (uint8_t)x;
		expect_rc(c, sizeof(w_creq_pp4),
		    x == 4 ? GT_FRAME_OK : GT_FRAME_E_EXT);
		memcpy(c, w_creq_pp6, sizeof(w_creq_pp6));
		c[16] = (uint8_t)x;
		expect_rc(c, sizeof(w_creq_pp6),
		    x == 6 ? GT_FRAME_OK : GT_FRAME_E_EXT);
	}
	/*
	 * Any other size after the host is a host length that disagrees with
	 * the frame, told by the host length byte before the rest arrives.
	 */
	for (n = 1; n <= 40; n++) {
		if (n == 14 || n == 38)
			continue;
		memset(c, 0, sizeof(c));
		memcpy(c, w_creq_pp4, 16);	/* through the host "web" */
		c[5] = (uint8_t)(7 + 3 + n);
		c[16] = 1;
		c[17] = 4;
		expect_error(c, 16 + n, MAXP, GT_FRAME_E_HOST);
		expect_error(c, 13, MAXP, GT_FRAME_E_HOST);
	}
}

/* Encoders refuse bad arguments and then append nothing. */
static void
test_encoder_errors(void **state)
{
	struct evbuffer	*b = evbuffer_new();
	char		 host[GT_HOST_MAX + 2];

	(void)state;
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	assert_int_equal(gt_frame_add_connect_req(b, 1, 22, host), -1);
	assert_int_equal(gt_frame_add_connect_req(b, 1, 22, ""), -1);
	assert_int_equal(gt_frame_add_connect_req(b, 1, 22, "a b"), -1);
	assert_int_equal(gt_frame_add_connect_req(b, 1, 22, "a\tb"), -1);
	assert_int_equal(gt_frame_add_connect_req(b, 1, 22, "caf\xc3\xa9"), -1);
	assert_int_equal(gt_frame_add_close(b, 1, 256), -1);
	assert_int_equal(gt_frame_add_close(b, 1, 100000), -1);
	assert_int_equal(gt_frame_add_data_hdr(b, 1,
	    GT_FRAME_MAX_PAYLOAD - 3), -1);
	assert_int_equal(gt_frame_add_data_hdr(b, 1, 0xffffffff), -1);
	assert_int_equal(gt_frame_add_data(b, 1, NULL, 5), -1);
	assert_int_equal(gt_frame_add_data(b, 1, "x",
	    GT_FRAME_MAX_PAYLOAD - 3), -1);
	assert_int_equal(evbuffer_get_length(b), 0);

	assert_int_equal(gt_frame_add_connect_req(NULL, 1, 22, NULL), -1);
	assert_int_equal(gt_frame_add_connect_resp(NULL, 1, 0), -1);
	assert_int_equal(gt_frame_add_data_hdr(NULL, 1, 1), -1);
	assert_int_equal(gt_frame_add_data(NULL, 1, "x", 1), -1);
	assert_int_equal(gt_frame_add_close(NULL, 1, -1), -1);
	assert_int_equal(gt_frame_add_keepalive(NULL), -1);
	assert_int_equal(gt_frame_add_hello(NULL, 0, 0, 0, 0), -1);
	assert_int_equal(gt_frame_add_window(NULL, 1, 1), -1);
	assert_int_equal(gt_frame_add_shutdown(NULL, 1), -1);
	{
		struct gt_proxy_addr bad = pp4;

		assert_int_equal(gt_frame_add_connect_req_proxy(NULL, 1, 22,
		    "a", &pp4), -1);
		assert_int_equal(gt_frame_add_connect_req_proxy(b, 1, 22,
		    NULL, &pp4), -1);
		assert_int_equal(gt_frame_add_connect_req_proxy(b, 1, 22,
		    "a", NULL), -1);
		assert_int_equal(gt_frame_add_connect_req_proxy(b, 1, 22,
		    "a b", &pp4), -1);
		assert_int_equal(gt_frame_add_connect_req_proxy(b, 1, 22,
		    host, &pp4), -1);	/* 256 chars */
		bad.version = 0;
		assert_int_equal(gt_frame_add_connect_req_proxy(b, 1, 22,
		    "a", &bad), -1);
		bad.version = 3;
		assert_int_equal(gt_frame_add_connect_req_proxy(b, 1, 22,
		    "a", &bad), -1);
		bad = pp4;
		bad.family = 5;
		assert_int_equal(gt_frame_add_connect_req_proxy(b, 1, 22,
		    "a", &bad), -1);
		assert_int_equal(evbuffer_get_length(b), 0);
	}

	/* Boundaries that are fine. */
	host[GT_HOST_MAX] = '\0';
	assert_int_equal(gt_frame_add_connect_req(b, 1, 22, host), 0);
	assert_int_equal(gt_frame_add_connect_req(b, 1, 22, "a"), 0);
	assert_int_equal(gt_frame_add_close(b, 1, 255), 0);
	assert_int_equal(gt_frame_add_close(b, 1, 0), 0);
	assert_int_equal(gt_frame_add_close(b, 1, -5), 0);
	assert_int_equal(gt_frame_add_data_hdr(b, 1,
	    GT_FRAME_MAX_PAYLOAD - 4), 0);
	assert_int_equal(gt_frame_add_data(b, 1, NULL, 0), 0);
	assert_int_equal(evbuffer_get_length(b),
	    (6 + 262) + (6 + 8) + 11 + 11 + 10 + 10 + 10);
	evbuffer_free(b);
}

/* Names and messages are fixed non-empty strings, distinct per value. */
static void
test_strings(void **state)
{
	int	 rc, rc2;
	unsigned t;

	(void)state;
	for (rc = GT_FRAME_E_MIN; rc <= GT_FRAME_OK; rc++) {
		assert_non_null(gt_frame_strerror(rc));
		assert_true(strlen(gt_frame_strerror(rc)) > 0);
		for (rc2 = rc + 1; rc2 <= GT_FRAME_OK; rc2++)
			assert_string_not_equal(gt_frame_strerror(rc),
			    gt_frame_strerror(rc2));
	}
	assert_non_null(gt_frame_strerror(-100));
	assert_string_equal(gt_frame_type_name(GT_FRAME_CONNECT_REQ),
	    "ConnectRequest");
	assert_string_equal(gt_frame_type_name(GT_FRAME_KEEPALIVE),
	    "KeepAlive");
	assert_string_equal(gt_frame_type_name(GT_FRAME_SHUTDOWN), "Shutdown");
	for (t = 0; t < 256; t++)
		assert_non_null(gt_frame_type_name((uint8_t)t));
	assert_string_equal(gt_frame_type_name(0), "unknown");
	assert_string_equal(gt_frame_type_name(9), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_decode_vectors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_split_bytewise),
		cmocka_unit_test(test_split_chains),
		cmocka_unit_test(test_many_frames),
		cmocka_unit_test(test_data_payload),
		cmocka_unit_test(test_lenient),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_length_errors),
		cmocka_unit_test(test_host_errors),
		cmocka_unit_test(test_encoder_errors),
		cmocka_unit_test(test_proxy_ext),
		cmocka_unit_test(test_proxy_ext_errors),
		cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

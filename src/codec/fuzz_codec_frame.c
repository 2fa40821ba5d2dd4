/*
 * fuzz_codec_frame.c: libFuzzer target for the frame decoder. The input is
 * fed in chunks (size from the first byte) and, separately, all at once;
 * both runs must decode the same frames and end the same way. Every frame
 * decoded is re-encoded and decoded again, and must come back equal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gt/frame.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What one decoding run saw. */
struct fuzz_run {
	uint64_t	hash;		/* FNV-1a over the decoded frames */
	size_t		frames;
	size_t		consumed;	/* bytes drained, payloads included */
	int		last;		/* NEED_MORE or the error */
};

/* Mix n bytes at p into the FNV-1a hash h. */
static void
fuzz_hash(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *q = p;

	while (n-- > 0) {
		*h ^= *q++;
		*h *= 0x100000001b3ull;
	}
}

/* Mix the meaningful fields of f into h. */
static void
fuzz_hash_frame(uint64_t *h, const struct gt_frame *f)
{
	uint32_t v[14];

	v[0] = f->type; v[1] = f->length; v[2] = f->id; v[3] = f->port;
	v[4] = f->host_len; v[5] = f->status; v[6] = (uint32_t)f->has_reason;
	v[7] = f->data_len; v[8] = f->increment; v[9] = f->magic;
	v[10] = f->caps; v[11] = f->window; v[12] = f->hb_interval;
	v[13] = f->hb_timeout;
	fuzz_hash(h, v, sizeof(v));
	fuzz_hash(h, f->host, strlen(f->host));
	fuzz_hash(h, &f->has_proxy, sizeof(f->has_proxy));
	fuzz_hash(h, &f->proxy, sizeof(f->proxy));
}

/* Re-encode f (DATA payload in pay) and check it decodes back the same. */
static void
fuzz_reencode(const struct gt_frame *f, struct evbuffer *pay)
{
	struct evbuffer	*b = evbuffer_new();
	struct gt_frame	 g;
	size_t		 plen = evbuffer_get_length(pay);
	int		 rc = -1;

	if (b == NULL)
		abort();
	switch (f->type) {
	case GT_FRAME_CONNECT_REQ:
		rc = f->has_proxy ? gt_frame_add_connect_req_proxy(b, f->id,
		    f->port, f->host, &f->proxy) : gt_frame_add_connect_req(b,
		    f->id, f->port, f->host_len ? f->host : NULL);
		break;
	case GT_FRAME_CONNECT_RESP:
		rc = gt_frame_add_connect_resp(b, f->id, f->status);
		break;
	case GT_FRAME_DATA:
		if ((rc = gt_frame_add_data_hdr(b, f->id, f->data_len)) == 0 &&
		    plen > 0)
			rc = evbuffer_add(b, evbuffer_pullup(pay, -1), plen);
		break;
	case GT_FRAME_CLOSE:
		rc = gt_frame_add_close(b, f->id,
		    f->has_reason ? f->status : -1);
		break;
	case GT_FRAME_KEEPALIVE:
		rc = gt_frame_add_keepalive(b);
		break;
	case GT_FRAME_HELLO:
		rc = gt_frame_add_hello(b, f->caps, f->window, f->hb_interval,
		    f->hb_timeout);
		break;
	case GT_FRAME_WINDOW:
		rc = gt_frame_add_window(b, f->id, f->increment);
		break;
	case GT_FRAME_SHUTDOWN:
		rc = gt_frame_add_shutdown(b, f->id);
		break;
	}
	if (rc != 0)
		abort();
	memset(&g, 0x5a, sizeof(g));
	if (gt_frame_decode(b, &g, GT_FRAME_MAX_PAYLOAD) != GT_FRAME_OK)
		abort();
	/* Lengths differ only where the encoder writes the canonical form. */
	if (g.type != f->type || g.id != f->id || g.port != f->port ||
	    g.host_len != f->host_len || strcmp(g.host, f->host) != 0 ||
	    g.status != f->status || g.has_reason != f->has_reason ||
	    g.data_len != f->data_len || g.increment != f->increment ||
	    g.caps != f->caps || g.window != f->window ||
	    g.hb_interval != f->hb_interval || g.hb_timeout != f->hb_timeout ||
	    g.has_proxy != f->has_proxy ||
	    memcmp(&g.proxy, &f->proxy, sizeof(g.proxy)) != 0)
		abort();
	if (f->type == GT_FRAME_HELLO ? g.magic != GT_HELLO_MAGIC ||
	    g.length != 16 : g.magic != f->magic)
		abort();
	if (f->type != GT_FRAME_HELLO && f->type != GT_FRAME_KEEPALIVE &&
	    g.length != f->length)
		abort();
	if (evbuffer_get_length(b) != g.data_len || g.data_len != plen)
		abort();
	if (plen > 0 && memcmp(evbuffer_pullup(b, -1),
	    evbuffer_pullup(pay, -1), plen) != 0)
		abort();
	evbuffer_free(b);
}

/*
 * Decode everything that is buffered in `in`. Returns 1 when the run is
 * over (an error), 0 when it needs more bytes.
 */
static int
fuzz_drain(struct evbuffer *in, struct fuzz_run *r, uint32_t max)
{
	struct gt_frame	 f;
	struct evbuffer	*pay;
	size_t		 before;
	int		 rc;

	for (;;) {
		before = evbuffer_get_length(in);
		rc = gt_frame_decode(in, &f, max);
		r->last = rc;
		if (gt_frame_strerror(rc) == NULL)
			abort();
		if (rc <= 0) {
			/* Nothing drained on NEED_MORE or an error. */
			if (evbuffer_get_length(in) != before)
				abort();
			return rc < 0;
		}
		if (f.length > max || gt_frame_type_name(f.type) == NULL)
			abort();
		if (evbuffer_get_length(in) < f.data_len)
			abort();
		if ((pay = evbuffer_new()) == NULL)
			abort();
		if (f.data_len > 0 &&
		    evbuffer_remove_buffer(in, pay, f.data_len) !=
		    (int)f.data_len)
			abort();
		if (before - evbuffer_get_length(in) !=
		    GT_FRAME_HDR_LEN + (size_t)f.length)
			abort();
		r->consumed += GT_FRAME_HDR_LEN + (size_t)f.length;
		r->frames++;
		fuzz_hash_frame(&r->hash, &f);
		if (f.data_len > 0)
			fuzz_hash(&r->hash, evbuffer_pullup(pay, -1),
			    f.data_len);
		fuzz_reencode(&f, pay);
		evbuffer_free(pay);
	}
}

/* Feed data[0..size) in chunks of `chunk` bytes (0: all at once). */
static void
fuzz_run(const uint8_t *data, size_t size, size_t chunk, uint32_t max,
    struct fuzz_run *r)
{
	struct evbuffer	*in = evbuffer_new();
	size_t		 off = 0, n;

	if (in == NULL)
		abort();
	memset(r, 0, sizeof(*r));
	r->hash = 0xcbf29ce484222325ull;
	if (chunk == 0)
		chunk = size;
	while (off < size) {
		n = size - off < chunk ? size - off : chunk;
		if (evbuffer_add(in, data + off, n) != 0)
			abort();
		off += n;
		if (fuzz_drain(in, r, max))
			break;
	}
	if (size == 0)
		r->last = GT_FRAME_NEED_MORE;
	evbuffer_free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_run	 a, b;
	uint32_t	 max;
	size_t		 chunk;

	if (size < 1)
		return 0;
	/* Low 7 bits: chunk size (0 = all at once); top bit: a small max. */
	chunk = data[0] & 0x7f;
	max = (data[0] & 0x80) ? 300 : GT_FRAME_MAX_PAYLOAD;
	data++;
	size--;
	fuzz_run(data, size, chunk, max, &a);
	fuzz_run(data, size, 0, max, &b);
	if (a.hash != b.hash || a.frames != b.frames ||
	    a.consumed != b.consumed || a.last != b.last)
		abort();
	return 0;
}

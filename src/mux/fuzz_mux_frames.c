/*
 * fuzz_mux_frames.c: libFuzzer target for the mux state machine behind the
 * frame decoder, entirely in memory: the tunnel and every stream run on
 * in-memory endpoints (no socket), the fuzz input arrives as the peer's
 * frames in chunks, and the event base only runs the mux's deferred work
 * (no I/O to wait for). Then everything is freed: a leak, a use after free
 * or an overflow is a finding (ASan in fuzz builds).
 *
 * Input: byte 0 is control: bit 7 client role; bit 6 send a valid Hello
 * first (caps from bits 0-2); bits 3-5 number of streams the server opens
 * before the input (ids 1..n), or in the client role 7 = refuse every
 * request. Byte 1: chunk size (0: all at once). Streams whose port is odd
 * (client) or whose index is odd (server) get endpoints that take no bytes,
 * a user or target that does not read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "gt/endpoint.h"
#include "gt/frame.h"
#include "gt/mux.h"
#include "gt/proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX_PASSES	16	/* loop passes per chunk, at most */

struct fuzz_env {
	struct event_base	*base;
	struct gt_ep		*tun;	/* the mux's tunnel endpoint */
	struct gt_mux		*mux;
	int			 closed;
	int			 refuse;	/* client role: refuse every request */
	unsigned		 naccepted;
};

/* The tunnel ended: remember it, the mux is freed at the end of the run. */
static void
fuzz_closed_cb(struct gt_mux *m, const char *why, void *arg)
{
	struct fuzz_env *e = arg;

	(void)m;
	(void)why;
	e->closed = 1;
}

/* A public user's addresses, for the server role's PROXY extension. */
static const struct gt_proxy_addr fuzz_pp = {
	.version = GT_PROXY_V2, .family = 4,
	.src = { 127, 0, 0, 2 }, .dst = { 127, 0, 0, 1 },
	.src_port = 40000, .dst_port = 8000,
};

/* Client role: answer a ConnectRequest with a memory target, or refuse it. */
static void
fuzz_connect_cb(struct gt_mux *m, uint32_t id, const char *host,
    uint16_t port, const struct gt_proxy_addr *pp, void *arg)
{
	struct fuzz_env	*e = arg;
	struct gt_ep	*ep;

	(void)host;
	if (e->refuse || port % 3 == 0 || e->naccepted >= 64 ||
	    (ep = gt_ep_mem(e->base, NULL, NULL)) == NULL) {
		gt_mux_refuse(m, id, (uint8_t)(port % 10));
		return;
	}
	e->naccepted++;
	if (port & 1)
		gt_ep_mem_block(ep, 1);
	/* gt-client's order: the PROXY header precedes every stream byte. */
	if (pp != NULL) {
		uint8_t	hdr[GT_PROXY_HDR_MAX];
		int	n = gt_proxy_hdr_encode(pp, hdr, sizeof(hdr));

		if (n <= 0 || evbuffer_add(gt_ep_output(ep), hdr,
		    (size_t)n) != 0)
			abort();
	}
	/* The target greets first, as SSH servers do. */
	gt_ep_mem_feed(ep, "SSH-2.0-fuzz\r\n", 14, 0);
	(void)gt_mux_accept(m, id, ep);
}

/* Run the mux's deferred work until it settles (bounded). */
static void
fuzz_settle(struct fuzz_env *e)
{
	int i;

	for (i = 0; i < FUZZ_MAX_PASSES; i++)
		if (event_base_loop(e->base, EVLOOP_NONBLOCK) == 1)
			break;		/* nothing was active */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_env		 e;
	struct gt_mux_params	 p;
	struct gt_mux_cbs	 cbs;
	struct gt_ep		*ep;
	struct evbuffer		*hello;
	uint8_t			 ctl;
	size_t			 chunk, off, n;
	int			 i, nstreams;

	if (size < 2)
		return 0;
	ctl = data[0];
	chunk = data[1];
	data += 2;
	size -= 2;

	memset(&e, 0, sizeof(e));
	if ((e.base = event_base_new()) == NULL ||
	    (e.tun = gt_ep_mem(e.base, NULL, NULL)) == NULL)
		abort();
	memset(&p, 0, sizeof(p));
	p.role = (ctl & 0x80) ? GT_MUX_CLIENT : GT_MUX_SERVER;
	p.name = "fuzz";
	p.caps = GT_CAP_ALL;
	p.window = 16384;	/* small: the input can exhaust and overrun it */
	p.window_max = 65536;
	p.buffer = 131072;	/* and the growth budget */
	p.out_max = 262144;
	p.max_streams = 32;
	memset(&cbs, 0, sizeof(cbs));
	cbs.closed = fuzz_closed_cb;
	if (p.role == GT_MUX_CLIENT) {
		cbs.connect_request = fuzz_connect_cb;
		e.refuse = (ctl & 0x38) == 0x38;
	}
	if ((e.mux = gt_mux_new(e.base, e.tun, &p, &cbs, &e)) == NULL)
		abort();

	/*
	 * The peer's Hello, so that the extension frames are in effect (caps
	 * from ctl's low bits; ERRCODES brings PROXY along).
	 */
	if (ctl & 0x40) {
		if ((hello = evbuffer_new()) == NULL ||
		    gt_frame_add_hello(hello, (ctl & 0x7) |
		    ((ctl & 0x4) ? GT_CAP_PROXY : 0), 16384, 10, 30) != 0)
			abort();
		n = evbuffer_get_length(hello);
		gt_ep_mem_feed(e.tun, evbuffer_pullup(hello, -1), n, 0);
		evbuffer_free(hello);
		fuzz_settle(&e);
	}
	/* Server role: streams whose ids (1..n) the input can talk about. */
	nstreams = p.role == GT_MUX_SERVER ? (ctl >> 3) & 0x7 : 0;
	for (i = 0; i < nstreams && !e.closed; i++) {
		if ((ep = gt_ep_mem(e.base, NULL, NULL)) == NULL)
			abort();
		if (i & 1)
			gt_ep_mem_block(ep, 1);
		/* Something for the mux to send once the stream is connected. */
		gt_ep_mem_feed(ep, "0123456789abcdef", 16, 0);
		if (gt_mux_open(e.mux, ep, i & 2 ? "localhost" : "127.0.0.1",
		    (uint16_t)(8000 + i), (i & 4) ? &fuzz_pp : NULL, NULL,
		    "fuzz") != 0)
			break;
	}
	fuzz_settle(&e);

	if (chunk == 0)
		chunk = size;
	for (off = 0; off < size && !e.closed; off += n) {
		n = size - off < chunk ? size - off : chunk;
		/* Half the runs see a peer that stops reading half way. */
		if ((ctl & 0x1) && off >= size / 2)
			gt_ep_mem_block(e.tun, 1);
		gt_ep_mem_feed(e.tun, data + off, n, 0);
		fuzz_settle(&e);
	}
	if (!e.closed && (ctl & 0x2))
		gt_ep_mem_feed(e.tun, NULL, 0, 1);	/* the peer hangs up */
	fuzz_settle(&e);

	gt_mux_free(e.mux);
	fuzz_settle(&e);	/* deferred frees */
	event_base_free(e.base);
	return 0;
}

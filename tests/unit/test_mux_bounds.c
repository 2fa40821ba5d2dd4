/*
 * test_mux_bounds.c: the mux's memory bounds, driven in memory (the tunnel
 * is a memory endpoint whose output the test decodes): a stream reads its
 * user only as far as its credit; receive windows grow for streams that
 * drain, stay put for one that does not, and share the tunnel's budget; a
 * peer that never reads our answers is cut off at out_max.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "gt/endpoint.h"
#include "gt/frame.h"
#include "gt/mux.h"
#include "gt/proto.h"

#define NS	8

static struct {
	struct event_base	*base;
	struct gt_ep		*tun;
	struct evbuffer		*out;	/* what the mux sent */
	struct evbuffer		*in;	/* frames to feed */
	struct gt_mux		*mux;
	int			 closed;
	char			 why[160];
	int			 block_targets;
	struct gt_ep		*targets[NS];
	int			 ntargets;
	uint64_t		 data[NS + 1];	/* DATA bytes seen per conn ID */
	uint64_t		 granted[NS + 1];	/* WINDOW increments per conn ID */
	unsigned		 nwindows;
	struct evbuffer		*target_got;	/* what the first target was sent, or NULL */
} T;

/* Run the mux's deferred work. */
static void
settle(void)
{
	int i;

	for (i = 0; i < 20; i++)
		event_base_loop(T.base, EVLOOP_NONBLOCK);
}

/* Decode everything the mux sent so far into the counters. */
static void
drain_out(void)
{
	struct gt_frame	f;

	while (gt_frame_decode(T.out, &f, GT_FRAME_MAX_PAYLOAD) > 0) {
		if (f.type == GT_FRAME_DATA) {
			if (f.id <= NS)
				T.data[f.id] += f.data_len;
			evbuffer_drain(T.out, f.data_len);
		} else if (f.type == GT_FRAME_WINDOW && f.id <= NS) {
			T.granted[f.id] += f.increment;
			T.nwindows++;
		}
	}
}

/* Send what T.in holds to the mux as the peer's frames. */
static void
feed(void)
{
	size_t n = evbuffer_get_length(T.in);

	gt_ep_mem_feed(T.tun, evbuffer_pullup(T.in, -1), n, 0);
	evbuffer_drain(T.in, n);
	settle();
	drain_out();
}

static void
closed_cb(struct gt_mux *m, const char *why, void *arg)
{
	(void)m;
	(void)arg;
	T.closed = 1;
	snprintf(T.why, sizeof(T.why), "%s", why);
}

/* Client role: every target is a memory endpoint (maybe one that never takes bytes). */
static void
connect_cb(struct gt_mux *m, uint32_t id, const char *host, uint16_t port,
    const struct gt_proxy_addr *pp, void *arg)
{
	struct gt_ep *ep = gt_ep_mem(T.base, NULL, NULL);

	(void)host;
	(void)port;
	(void)arg;
	assert_non_null(ep);
	if (T.block_targets)
		gt_ep_mem_block(ep, 1);
	if (T.target_got != NULL && T.ntargets == 0)
		gt_ep_mem_capture(ep, T.target_got);
	/* gt-client's order: the PROXY header, then the stream's bytes. */
	if (pp != NULL) {
		uint8_t	hdr[GT_PROXY_HDR_MAX];
		int	n = gt_proxy_hdr_encode(pp, hdr, sizeof(hdr));

		assert_true(n > 0);
		assert_int_equal(evbuffer_add(gt_ep_output(ep), hdr, (size_t)n), 0);
	}
	T.targets[T.ntargets++] = ep;
	assert_int_equal(gt_mux_accept(m, id, ep), 0);
}

/* A mux over a memory tunnel whose peer has said hello with a 16 KiB window. */
static void
start(enum gt_mux_role role, uint32_t window, uint32_t window_max,
    uint64_t buffer, size_t out_max)
{
	struct gt_mux_params	p;
	struct gt_mux_cbs	cbs;

	memset(&T, 0, sizeof(T));
	T.base = event_base_new();
	T.out = evbuffer_new();
	T.in = evbuffer_new();
	T.tun = gt_ep_mem(T.base, NULL, NULL);
	assert_non_null(T.tun);
	gt_ep_mem_capture(T.tun, T.out);
	memset(&p, 0, sizeof(p));
	p.role = role;
	p.name = "bounds";
	p.caps = GT_CAP_ALL;
	p.window = window;
	p.window_max = window_max;
	p.buffer = buffer;
	p.out_max = out_max;
	memset(&cbs, 0, sizeof(cbs));
	cbs.closed = closed_cb;
	cbs.connect_request = connect_cb;
	T.mux = gt_mux_new(T.base, T.tun, &p, &cbs, NULL);
	assert_non_null(T.mux);
	assert_int_equal(gt_frame_add_hello(T.in, GT_CAP_ALL, 16384, 10, 30), 0);
	feed();
	assert_int_equal(gt_mux_peer_caps(T.mux), GT_CAP_ALL);
}

static void
stop(void)
{
	gt_mux_free(T.mux);
	settle();
	event_base_free(T.base);
	evbuffer_free(T.out);
	evbuffer_free(T.in);
}

/* Push n bytes of DATA for id, no more than the credit the mux granted. */
static uint64_t
send_data(uint32_t id, uint64_t n, uint64_t *sent)
{
	static uint8_t	buf[16000];
	uint64_t	avail = 16384 + T.granted[id] - *sent, m;

	m = n < avail ? n : avail;
	while (m > 0) {
		size_t k = m < sizeof(buf) ? (size_t)m : sizeof(buf);

		assert_int_equal(gt_frame_add_data(T.in, id, buf, k), 0);
		*sent += k;
		m -= k;
	}
	feed();
	return 16384 + T.granted[id] - *sent;
}

/*
 * The PROXY header a client queues before accepting reaches the target
 * first, and its bytes earn the peer no credit: with a fixed 32 KiB window,
 * 20 bytes short of half of it grant nothing (with the header counted they
 * would cross the threshold), and the 20 more grant exactly half.
 */
static void
test_proxy_header_no_credit(void **state)
{
	static const struct gt_proxy_addr pp = {
		.version = GT_PROXY_V1, .family = 4,
		.src = { 127, 0, 0, 2 }, .dst = { 127, 0, 0, 1 },
		.src_port = 40000, .dst_port = 8080,
	};
	static const char line[] = "PROXY TCP4 127.0.0.2 127.0.0.1 40000 8080\r\n";
	static uint8_t	buf[16384];
	uint64_t	sent = 0;
	size_t		hl = sizeof(line) - 1;

	(void)state;
	start(GT_MUX_CLIENT, 32768, 32768, 0, 0);
	T.target_got = evbuffer_new();
	assert_int_equal(gt_frame_add_connect_req_proxy(T.in, 1, 22,
	    "127.0.0.1", &pp), 0);
	feed();
	assert_int_equal(T.ntargets, 1);
	memset(buf, 'd', sizeof(buf));
	assert_int_equal(gt_frame_add_data(T.in, 1, buf, 16384 - 20), 0);
	sent += 16384 - 20;
	feed();
	assert_int_equal(evbuffer_get_length(T.target_got), hl + sent);
	assert_memory_equal(evbuffer_pullup(T.target_got, -1), line, hl);
	assert_int_equal(T.granted[1], 0);
	assert_int_equal(gt_frame_add_data(T.in, 1, buf, 20), 0);
	sent += 20;
	feed();
	assert_int_equal(T.granted[1], 16384);
	assert_int_equal(evbuffer_get_length(T.target_got), hl + sent);
	assert_false(T.closed);
	evbuffer_free(T.target_got);
	T.target_got = NULL;
	stop();
}

/* A stream reads its user only as far as the peer's credit allows. */
static void
test_reads_only_credit(void **state)
{
	int		fds[2];
	static char	big[1 << 20];
	size_t		pushed = 0;
	ssize_t		w;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	start(GT_MUX_SERVER, 0, 0, 0, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	assert_int_equal(gt_mux_open(T.mux, gt_ep_plain_open(T.base, fds[0],
	    NULL, NULL), "127.0.0.1", 22, NULL, NULL, "t"), 0);
	assert_int_equal(gt_frame_add_connect_resp(T.in, 1, GT_STATUS_OK), 0);
	feed();
	memset(big, 'u', sizeof(big));
	while ((w = write(fds[1], big, sizeof(big))) > 0)
		pushed += (size_t)w;
	assert_true(pushed > 100000);
	feed();
	assert_int_equal(T.data[1], 16384);	/* the peer's whole window, no more */
	assert_int_equal(gt_frame_add_window(T.in, 1, 30000), 0);
	feed();
	assert_int_equal(T.data[1], 16384 + 30000);
	close(fds[1]);
	stop();
}

/* A stream whose target drains grows its window; a stalled one does not. */
static void
test_window_grows_for_fast_streams(void **state)
{
	uint64_t	sent = 0, avail = 0, total = 0;

	(void)state;
	start(GT_MUX_CLIENT, 16384, 262144, 1 << 20, 0);
	assert_int_equal(gt_frame_add_connect_req(T.in, 1, 80, "127.0.0.1"), 0);
	feed();
	assert_int_equal(T.ntargets, 1);
	while (total < (4u << 20)) {
		avail = send_data(1, 1 << 20, &sent);
		total = sent;
	}
	settle();
	drain_out();
	avail = 16384 + T.granted[1] - sent;
	/* Growth, within window_max. */
	assert_true(avail > 16384);
	assert_true(avail <= 262144);
	assert_int_equal(gt_ep_mem_written(T.targets[0]), sent);

	/* A stalled target: the peer gets its 16 KiB, and nothing back. */
	T.block_targets = 1;
	assert_int_equal(gt_frame_add_connect_req(T.in, 2, 80, "127.0.0.1"), 0);
	feed();
	sent = 0;
	avail = send_data(2, 1 << 20, &sent);
	assert_int_equal(avail, 0);
	assert_int_equal(T.granted[2], 0);
	assert_false(T.closed);
	stop();
}

/* Growth comes out of the tunnel's budget: many fast streams share it. */
static void
test_budget_shared(void **state)
{
	uint64_t	sent[NS + 1] = { 0 }, extra = 0;
	uint32_t	id;
	int		round;

	(void)state;
	start(GT_MUX_CLIENT, 16384, 1 << 20, 128 * 1024, 0);
	for (id = 1; id <= NS; id++)
		assert_int_equal(gt_frame_add_connect_req(T.in, id, 80,
		    "127.0.0.1"), 0);
	feed();
	for (round = 0; round < 40; round++)
		for (id = 1; id <= NS; id++)
			(void)send_data(id, 1 << 20, &sent[id]);
	for (id = 1; id <= NS; id++) {
		uint64_t win = 16384 + T.granted[id] - sent[id];

		extra += win > 16384 ? win - 16384 : 0;
	}
	assert_true(extra > 0);
	assert_true(extra <= 128 * 1024);
	stop();
}

/* A peer that floods KeepAlives and never reads our answers is cut off. */
static void
test_peer_not_reading_cut_off(void **state)
{
	int i;

	(void)state;
	start(GT_MUX_CLIENT, 0, 0, 0, 262144);
	gt_ep_mem_block(T.tun, 1);
	for (i = 0; i < 100000 && !T.closed; i++) {
		assert_int_equal(gt_frame_add_keepalive(T.in), 0);
		if (i % 1000 == 999)
			feed();
	}
	feed();
	assert_true(T.closed);
	assert_non_null(strstr(T.why, "not reading"));
	stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_only_credit),
		cmocka_unit_test(test_window_grows_for_fast_streams),
		cmocka_unit_test(test_budget_shared),
		cmocka_unit_test(test_peer_not_reading_cut_off),
		cmocka_unit_test(test_proxy_header_no_credit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* client.c: gt-bench's measuring modes, one thread per connection. */
#include <sys/socket.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gt/log.h"

#include "bench.h"

#define RUN_STACK	(256 * 1024)
#define RUN_TICK_MS	100
#define RATE_SIZE	64
#define DL_COUNT	(1ULL << 62)	/* "until I close" */

struct run;

struct worker {
	struct run		*w_run;
	pthread_t		 w_thread;
	int			 w_started;
	int			 w_id;
	int			 w_connected;
	struct bench_conn	 w_conn;
	_Atomic uint64_t	 w_bytes;	/* echoed/sent/received */
	_Atomic uint64_t	 w_ops;		/* round trips or sessions */
	uint64_t		 w_rtt_ns;	/* sum over w_ops */
	struct bench_hist	 w_hist;
	long			 w_verify_errors;
	long			 w_conn_errors;
	uint64_t		 w_verified;	/* upload: per the sink */
	uint64_t		 w_done_ns;	/* upload: report time */
	char			 w_err[320];
};

struct run {
	const struct bench_opts	*r_opts;
	const char		*r_label;
	void			(*r_body)(struct worker *);
	int			 r_connect;	/* connect before the clock */
	int			 r_hist;
	size_t			 r_bufsize;
	uint64_t		 r_size;
	uint64_t		 r_window;
	long			 r_count;
	size_t			 r_n;
	struct worker		*r_w;
	pthread_mutex_t		 r_mtx;
	pthread_cond_t		 r_cv;
	size_t			 r_ready;
	int			 r_go;
	atomic_int		 r_stop;
	atomic_int		 r_done;
	uint64_t		 r_deadline;
	uint64_t		 r_t0, r_t1;
	double			 r_peak;	/* MB/s over 1 s windows */
	struct bench_hist	 r_merged;
	long			 r_verify_errors, r_conn_errors;
	uint64_t		 r_bytes, r_ops, r_rtt_ns;
};

/* 10^6 bytes per second. */
double
bench_mbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / ((double)ns / 1e9) / 1e6 : 0.0;
}

/* Round for JSON: two decimals. */
static double
rnd2(double v)
{
	return round(v * 100.0) / 100.0;
}

/* Remember a worker's first error and count it. */
static void
worker_error(struct worker *w, int rc, const char *err)
{
	if (rc == -2)
		w->w_verify_errors++;
	else
		w->w_conn_errors++;
	if (w->w_err[0] == '\0')
		snprintf(w->w_err, sizeof(w->w_err), "%s", err);
}

/* Thread: connect, wait for the start, run the mode's body. */
static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	struct run	*r = w->w_run;
	int		 ok = 1;

	if (r->r_connect) {
		if (bench_conn_connect(&w->w_conn,
		    (const struct sockaddr *)&r->r_opts->bo_addr,
		    r->r_opts->bo_addrlen) == -1) {
			worker_error(w, -1, w->w_conn.bc_err);
			ok = 0;
		} else
			w->w_connected = 1;
	}
	pthread_mutex_lock(&r->r_mtx);
	r->r_ready++;
	pthread_cond_broadcast(&r->r_cv);
	while (!r->r_go)
		pthread_cond_wait(&r->r_cv, &r->r_mtx);
	pthread_mutex_unlock(&r->r_mtx);
	if (ok)
		r->r_body(w);
	bench_conn_close(&w->w_conn);
	atomic_fetch_add(&r->r_done, 1);
	return NULL;
}

/* Sum of a live counter over the workers. */
static uint64_t
run_sum(struct run *r, int ops)
{
	uint64_t	s = 0;
	size_t		i;

	for (i = 0; i < r->r_n; i++)
		s += atomic_load_explicit(ops ? &r->r_w[i].w_ops :
		    &r->r_w[i].w_bytes, memory_order_relaxed);
	return s;
}

/* Free a run's workers and totals. */
static void
run_free(struct run *r)
{
	size_t i;

	for (i = 0; r->r_w != NULL && i < r->r_n; i++) {
		bench_conn_free(&r->r_w[i].w_conn);
		bench_hist_free(&r->r_w[i].w_hist);
	}
	free(r->r_w);
	r->r_w = NULL;
	bench_hist_free(&r->r_merged);
	pthread_mutex_destroy(&r->r_mtx);
	pthread_cond_destroy(&r->r_cv);
}

/*
 * Start n workers, let them connect, run the body for measure_ms (or
 * until all are done), stop and join them, then total their figures.
 * -1 only if the threads could not be made.
 */
static int
run_workers(struct run *r, size_t n, uint64_t measure_ms)
{
	const struct bench_opts	*o = r->r_opts;
	pthread_attr_t		 attr;
	uint64_t		 now, end, next_tick, hist[16], tick_t[16];
	uint64_t		 b, ops;
	double			 el, rate, total_s;
	size_t			 i, nt = 0;
	int			 rc = 0;

	r->r_n = n;
	r->r_w = calloc(n, sizeof(*r->r_w));
	pthread_mutex_init(&r->r_mtx, NULL);
	pthread_cond_init(&r->r_cv, NULL);
	if (r->r_hist && bench_hist_init(&r->r_merged) == -1)
		return -1;
	if (r->r_w == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		r->r_w[i].w_run = r;
		r->r_w[i].w_id = (int)i;
		if (bench_conn_init(&r->r_w[i].w_conn,
		    o->bo_seed + ((uint64_t)i << 48), r->r_deadline,
		    r->r_bufsize) == -1)
			return -1;
		r->r_w[i].w_conn.bc_progress = &r->r_w[i].w_bytes;
		if (r->r_hist && bench_hist_init(&r->r_w[i].w_hist) == -1)
			return -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, RUN_STACK);
	for (i = 0; i < n; i++) {
		if (pthread_create(&r->r_w[i].w_thread, &attr, worker_main,
		    &r->r_w[i]) != 0) {
			log_warnx("bench", "cannot start thread %zu", i);
			atomic_store(&r->r_stop, 1);
			rc = -1;
			break;
		}
		r->r_w[i].w_started = 1;
	}
	pthread_attr_destroy(&attr);
	n = i;

	pthread_mutex_lock(&r->r_mtx);
	while (r->r_ready < n)
		pthread_cond_wait(&r->r_cv, &r->r_mtx);
	r->r_t0 = bench_now_ns();
	r->r_go = 1;
	pthread_cond_broadcast(&r->r_cv);
	pthread_mutex_unlock(&r->r_mtx);

	end = r->r_t0 + measure_ms * 1000000;
	if (end > r->r_deadline)
		end = r->r_deadline;
	total_s = (double)measure_ms / 1000.0;
	next_tick = r->r_t0 + 500000000;
	hist[0] = 0;
	tick_t[0] = r->r_t0;
	nt = 1;
	r->r_peak = 0;
	while ((now = bench_now_ns()) < end &&
	    (size_t)atomic_load(&r->r_done) < n) {
		bench_sleep_ms(RUN_TICK_MS);
		if (now < next_tick)
			continue;
		next_tick += 500000000;
		b = run_sum(r, 0);
		ops = run_sum(r, 1);
		/* Peak over the last second (two half-second ticks). */
		if (nt == 16) {
			memmove(hist, hist + 1, 15 * sizeof(hist[0]));
			memmove(tick_t, tick_t + 1, 15 * sizeof(tick_t[0]));
			nt = 15;
		}
		hist[nt] = b;
		tick_t[nt] = now;
		nt++;
		if (nt >= 3) {
			rate = bench_mbps(hist[nt - 1] - hist[nt - 3],
			    tick_t[nt - 1] - tick_t[nt - 3]);
			if (rate > r->r_peak)
				r->r_peak = rate;
		}
		el = (double)(now - r->r_t0) / 1e9;
		bench_progress(o->bo_progress, "%s %s  %4.1f/%.1f s  %9.1f MB/s"
		    "  %9.0f ops/s", o->bo_mode, r->r_label, el, total_s,
		    bench_mbps(b, now - r->r_t0), (double)ops / el);
	}
	atomic_store(&r->r_stop, 1);
	for (i = 0; i < n; i++)
		if (r->r_w[i].w_started)
			pthread_join(r->r_w[i].w_thread, NULL);
	r->r_t1 = bench_now_ns();
	bench_progress_end(o->bo_progress);

	for (i = 0; i < r->r_n; i++) {
		struct worker *w = &r->r_w[i];

		r->r_bytes += atomic_load(&w->w_bytes);
		r->r_ops += atomic_load(&w->w_ops);
		r->r_rtt_ns += w->w_rtt_ns;
		r->r_verify_errors += w->w_verify_errors;
		r->r_conn_errors += w->w_conn_errors;
		if (r->r_hist)
			bench_hist_merge(&r->r_merged, &w->w_hist);
		if (w->w_err[0] != '\0')
			fprintf(stderr, "gt-bench: %s%s%s: connection %d: %s\n",
			    o->bo_mode, r->r_label[0] ? " " : "", r->r_label,
			    w->w_id, w->w_err);
	}
	if (r->r_peak == 0)
		r->r_peak = bench_mbps(r->r_bytes, r->r_t1 - r->r_t0);
	return rc;
}

/* Round trips of r_size bytes back to back until stopped or r_count. */
static void
body_roundtrips(struct worker *w)
{
	struct run	*r = w->w_run;
	uint64_t	 t0, dt, n = 0;
	int		 rc;

	while (!atomic_load_explicit(&r->r_stop, memory_order_relaxed)) {
		if (r->r_count > 0 && n >= (uint64_t)r->r_count)
			break;
		t0 = bench_now_ns();
		rc = bench_conn_echo(&w->w_conn, r->r_size, r->r_size, NULL);
		if (rc != 0) {
			worker_error(w, rc, w->w_conn.bc_err);
			return;
		}
		dt = bench_now_ns() - t0;
		w->w_rtt_ns += dt;
		if (r->r_hist)
			bench_hist_add(&w->w_hist, (dt + 500) / 1000);
		atomic_fetch_add_explicit(&w->w_ops, 1, memory_order_relaxed);
		n++;
	}
}

/* Pipelined echo: keep r_window bytes in flight until stopped. */
static void
body_stream(struct worker *w)
{
	struct run	*r = w->w_run;
	int		 rc;

	rc = bench_conn_echo(&w->w_conn, UINT64_MAX / 4, r->r_window,
	    &r->r_stop);
	atomic_store(&w->w_ops, w->w_conn.bc_recvd / r->r_size);
	if (rc != 0)
		worker_error(w, rc, w->w_conn.bc_err);
}

/* Send the pattern one way, then collect the sink's verification report. */
static void
body_upload(struct worker *w)
{
	struct run		*r = w->w_run;
	struct bench_conn	*c = &w->w_conn;
	unsigned char		 hdr[BENCH_HDR_LEN];
	uint64_t		 last = bench_now_ns(), verified;
	ssize_t			 n;
	size_t			 off;
	char			 msg[320];

	bench_make_header(hdr, BENCH_TAG_UP, c->bc_seed);
	if (bench_conn_send_all(c, hdr, sizeof(hdr)) == -1) {
		worker_error(w, -1, c->bc_err);
		return;
	}
	while (!atomic_load_explicit(&r->r_stop, memory_order_relaxed)) {
		if (c->bc_sent >= c->bc_soff + c->bc_slen) {
			c->bc_soff = c->bc_sent;
			c->bc_slen = c->bc_bufsize;
			bench_pattern_fill(c->bc_seed, c->bc_soff, c->bc_sbuf,
			    c->bc_slen);
		}
		off = (size_t)(c->bc_sent - c->bc_soff);
		n = send(c->bc_fd, c->bc_sbuf + off, c->bc_slen - off,
		    MSG_NOSIGNAL);
		if (n > 0) {
			c->bc_sent += (uint64_t)n;
			atomic_fetch_add_explicit(&w->w_bytes, (uint64_t)n,
			    memory_order_relaxed);
			last = bench_now_ns();
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			snprintf(msg, sizeof(msg), "send: %s", strerror(errno));
			worker_error(w, -1, msg);
			return;
		}
		if (bench_wait(c->bc_fd, POLLOUT, c->bc_deadline, 100) == 0 &&
		    bench_now_ns() - last > (uint64_t)BENCH_IDLE_MS * 1000000) {
			worker_error(w, -1, "send: no progress for 10 s");
			return;
		}
	}
	if (shutdown(c->bc_fd, SHUT_WR) == -1) {
		snprintf(msg, sizeof(msg), "shutdown: %s", strerror(errno));
		worker_error(w, -1, msg);
		return;
	}
	if (bench_conn_recv_all(c, hdr, sizeof(hdr)) == -1) {
		snprintf(msg, sizeof(msg), "no verification report from the "
		    "sink (%s); is it a gt-bench sink, is half-close relayed?",
		    c->bc_err);
		worker_error(w, -1, msg);
		return;
	}
	w->w_done_ns = bench_now_ns();
	if (!bench_header_prefix(hdr, BENCH_TAG_LEN, BENCH_TAG_RP)) {
		worker_error(w, -2, "bad verification report from the sink");
		return;
	}
	verified = bench_get_be64(hdr + BENCH_TAG_LEN);
	w->w_verified = verified;
	if (verified != c->bc_sent) {
		snprintf(msg, sizeof(msg), "the sink verified %llu of %llu "
		    "bytes: mismatch at stream offset %llu",
		    (unsigned long long)verified,
		    (unsigned long long)c->bc_sent, (unsigned long long)verified);
		worker_error(w, -2, msg);
	}
}

/* Ask the sink for an endless pattern and verify what arrives until stopped. */
static void
body_download(struct worker *w)
{
	struct run		*r = w->w_run;
	struct bench_conn	*c = &w->w_conn;
	unsigned char		 hdr[BENCH_HDR_LEN];
	uint64_t		 last = bench_now_ns();
	ssize_t			 n;
	size_t			 chk;
	char			 msg[320];
	int			 rv;

	bench_make_header(hdr, BENCH_TAG_DL, DL_COUNT);
	if (bench_conn_send_all(c, hdr, sizeof(hdr)) == -1) {
		worker_error(w, -1, c->bc_err);
		return;
	}
	while (!atomic_load_explicit(&r->r_stop, memory_order_relaxed)) {
		n = recv(c->bc_fd, c->bc_rbuf, c->bc_bufsize, 0);
		if (n > 0) {
			chk = bench_pattern_check(BENCH_DL_SEED, c->bc_recvd,
			    c->bc_rbuf, (size_t)n);
			if (chk != (size_t)n) {
				snprintf(msg, sizeof(msg), "verification failed "
				    "at stream offset %llu",
				    (unsigned long long)(c->bc_recvd + chk));
				worker_error(w, -2, msg);
				return;
			}
			c->bc_recvd += (uint64_t)n;
			w->w_verified = c->bc_recvd;
			atomic_fetch_add_explicit(&w->w_bytes, (uint64_t)n,
			    memory_order_relaxed);
			last = bench_now_ns();
			continue;
		}
		if (n == 0) {
			worker_error(w, -1, "connection closed by peer");
			return;
		}
		if (errno != EAGAIN && errno != EINTR) {
			snprintf(msg, sizeof(msg), "recv: %s", strerror(errno));
			worker_error(w, -1, msg);
			return;
		}
		rv = bench_wait(c->bc_fd, POLLIN, c->bc_deadline, 100);
		if (rv == 0 && bench_now_ns() - last >
		    (uint64_t)BENCH_IDLE_MS * 1000000) {
			worker_error(w, -1, "recv: no progress for 10 s");
			return;
		}
	}
}

/* New sessions: connect, one small echo, close, as fast as possible. */
static void
body_rate(struct worker *w)
{
	struct run		*r = w->w_run;
	const struct bench_opts	*o = r->r_opts;
	struct bench_conn	*c = &w->w_conn;
	uint64_t		 t0, dt, k = 0;
	int			 rc;

	while (!atomic_load_explicit(&r->r_stop, memory_order_relaxed)) {
		c->bc_seed = o->bo_seed ^ ((uint64_t)w->w_id << 48) ^ k++;
		t0 = bench_now_ns();
		rc = bench_conn_connect(c, (const struct sockaddr *)&o->bo_addr,
		    o->bo_addrlen);
		if (rc == 0)
			rc = bench_conn_echo(c, RATE_SIZE, RATE_SIZE, NULL);
		bench_conn_close(c);
		if (rc != 0) {
			worker_error(w, rc, c->bc_err);
			if (rc == -2 || bench_now_ns() >= r->r_deadline)
				return;
			bench_sleep_ms(10);
			continue;
		}
		dt = bench_now_ns() - t0;
		bench_hist_add(&w->w_hist, (dt + 500) / 1000);
		atomic_fetch_add_explicit(&w->w_ops, 1, memory_order_relaxed);
	}
}

/* Common start of a run: options, deadline, body. */
static void
run_setup(struct run *r, const struct bench_opts *o, uint64_t deadline,
    void (*body)(struct worker *), const char *label)
{
	memset(r, 0, sizeof(*r));
	r->r_opts = o;
	r->r_deadline = deadline;
	r->r_body = body;
	r->r_label = label;
	r->r_connect = 1;
	r->r_size = o->bo_size;
	r->r_window = o->bo_size;
	r->r_bufsize = BENCH_IO_CHUNK;
	atomic_init(&r->r_stop, 0);
	atomic_init(&r->r_done, 0);
}

/* The overall deadline of a mode that measures for duration seconds. */
static uint64_t
mode_deadline(const struct bench_opts *o)
{
	return bench_now_ns() + (uint64_t)(o->bo_duration + BENCH_GRACE_S) *
	    1000000000ULL;
}

/* Fields every result has. */
static void
result_head(json_t *out, const struct bench_opts *o)
{
	json_object_set_new(out, "mode", json_string(o->bo_mode));
	json_object_set_new(out, "target", json_string(o->bo_target));
}

/* Error fields; returns their total. */
static long
result_errors(json_t *out, long verify, long conn)
{
	json_object_set_new(out, "verify_errors", json_integer(verify));
	json_object_set_new(out, "conn_errors", json_integer(conn));
	json_object_set_new(out, "errors", json_integer(verify + conn));
	return verify + conn;
}

/* speed: one connection, back-to-back verified round trips. */
long
bench_speed(const struct bench_opts *o, json_t *out)
{
	struct run	r;
	uint64_t	ns;
	long		errs;

	run_setup(&r, o, mode_deadline(o), body_roundtrips, "");
	if (run_workers(&r, 1, (uint64_t)o->bo_duration * 1000) == -1)
		r.r_conn_errors++;
	ns = r.r_t1 - r.r_t0;
	result_head(out, o);
	json_object_set_new(out, "size", json_integer((json_int_t)o->bo_size));
	json_object_set_new(out, "seconds", json_real(rnd2((double)ns / 1e9)));
	json_object_set_new(out, "bytes", json_integer((json_int_t)r.r_bytes));
	json_object_set_new(out, "round_trips", json_integer((json_int_t)r.r_ops));
	json_object_set_new(out, "mbps", json_real(rnd2(bench_mbps(r.r_bytes, ns))));
	json_object_set_new(out, "avg_rtt_us", json_real(rnd2(r.r_ops ?
	    (double)r.r_rtt_ns / (double)r.r_ops / 1000.0 : 0)));
	errs = result_errors(out, r.r_verify_errors, r.r_conn_errors);
	run_free(&r);
	return errs;
}

/* latency: one connection, ping-pong with percentiles. */
long
bench_latency(const struct bench_opts *o, json_t *out)
{
	struct run	r;
	long		errs;

	run_setup(&r, o, mode_deadline(o), body_roundtrips, "");
	r.r_hist = 1;
	r.r_count = o->bo_count;
	r.r_bufsize = o->bo_size < BENCH_IO_CHUNK ? (size_t)o->bo_size :
	    BENCH_IO_CHUNK;
	if (run_workers(&r, 1, (uint64_t)o->bo_duration * 1000) == -1)
		r.r_conn_errors++;
	result_head(out, o);
	json_object_set_new(out, "size", json_integer((json_int_t)o->bo_size));
	json_object_set_new(out, "seconds",
	    json_real(rnd2((double)(r.r_t1 - r.r_t0) / 1e9)));
	json_object_set_new(out, "round_trips", json_integer((json_int_t)r.r_ops));
	json_object_set_new(out, "min_us", json_integer((json_int_t)(r.r_ops ?
	    r.r_merged.bh_min : 0)));
	json_object_set_new(out, "avg_us",
	    json_real(rnd2(bench_hist_mean(&r.r_merged))));
	json_object_set_new(out, "p50_us", json_integer((json_int_t)
	    bench_hist_percentile(&r.r_merged, 50)));
	json_object_set_new(out, "p90_us", json_integer((json_int_t)
	    bench_hist_percentile(&r.r_merged, 90)));
	json_object_set_new(out, "p99_us", json_integer((json_int_t)
	    bench_hist_percentile(&r.r_merged, 99)));
	json_object_set_new(out, "max_us", json_integer((json_int_t)
	    r.r_merged.bh_max));
	errs = result_errors(out, r.r_verify_errors, r.r_conn_errors);
	run_free(&r);
	return errs;
}

/* upload and download share everything but the body. */
static long
oneway(const struct bench_opts *o, json_t *out, int up)
{
	struct run	r;
	uint64_t	ns, verified = 0, t_end;
	long		errs;
	size_t		i;

	run_setup(&r, o, mode_deadline(o), up ? body_upload : body_download, "");
	if (run_workers(&r, (size_t)o->bo_conns[0],
	    (uint64_t)o->bo_duration * 1000) == -1)
		r.r_conn_errors++;
	/* Upload: the clock stops when the sink has verified the last byte. */
	t_end = r.r_t1;
	if (up) {
		t_end = r.r_t0;
		for (i = 0; i < r.r_n; i++)
			if (r.r_w[i].w_done_ns > t_end)
				t_end = r.r_w[i].w_done_ns;
		if (t_end == r.r_t0)
			t_end = r.r_t1;
	}
	for (i = 0; i < r.r_n; i++)
		verified += r.r_w[i].w_verified;
	ns = t_end - r.r_t0;
	result_head(out, o);
	json_object_set_new(out, "conns", json_integer(o->bo_conns[0]));
	json_object_set_new(out, "seconds", json_real(rnd2((double)ns / 1e9)));
	json_object_set_new(out, "bytes", json_integer((json_int_t)r.r_bytes));
	json_object_set_new(out, "verified_bytes",
	    json_integer((json_int_t)verified));
	json_object_set_new(out, "mbps", json_real(rnd2(bench_mbps(r.r_bytes, ns))));
	errs = result_errors(out, r.r_verify_errors, r.r_conn_errors);
	run_free(&r);
	return errs;
}

/* upload: one way to a sink, verified there. */
long
bench_upload(const struct bench_opts *o, json_t *out)
{
	return oneway(o, out, 1);
}

/* download: one way from a sink, verified here. */
long
bench_download(const struct bench_opts *o, json_t *out)
{
	return oneway(o, out, 0);
}

/* concurrency: one step per connection count, a row each. */
long
bench_concurrency(const struct bench_opts *o, json_t *out)
{
	struct run	 r;
	json_t		*rows, *row;
	uint64_t	 deadline = mode_deadline(o), ns, step_ms;
	long		 verr = 0, cerr = 0;
	size_t		 i;
	char		 label[32];

	step_ms = (uint64_t)o->bo_duration * 1000 / o->bo_nconns;
	if (step_ms == 0)
		step_ms = 1;
	rows = json_array();
	for (i = 0; i < o->bo_nconns; i++) {
		snprintf(label, sizeof(label), "x%ld", o->bo_conns[i]);
		run_setup(&r, o, deadline, body_roundtrips, label);
		r.r_bufsize = o->bo_size < 65536 ? 65536 : BENCH_IO_CHUNK;
		if (run_workers(&r, (size_t)o->bo_conns[i], step_ms) == -1)
			r.r_conn_errors++;
		ns = r.r_t1 - r.r_t0;
		row = json_object();
		json_object_set_new(row, "conns", json_integer(o->bo_conns[i]));
		json_object_set_new(row, "mbps",
		    json_real(rnd2(bench_mbps(r.r_bytes, ns))));
		json_object_set_new(row, "round_trips_per_s", json_real(rnd2(ns ?
		    (double)r.r_ops / ((double)ns / 1e9) : 0)));
		json_object_set_new(row, "avg_rtt_us", json_real(rnd2(r.r_ops ?
		    (double)r.r_rtt_ns / (double)r.r_ops / 1000.0 : 0)));
		json_object_set_new(row, "errors",
		    json_integer(r.r_verify_errors + r.r_conn_errors));
		json_array_append_new(rows, row);
		verr += r.r_verify_errors;
		cerr += r.r_conn_errors;
		run_free(&r);
		if (bench_now_ns() >= deadline)
			break;
	}
	result_head(out, o);
	json_object_set_new(out, "size", json_integer((json_int_t)o->bo_size));
	json_object_set_new(out, "step_seconds",
	    json_real(rnd2((double)step_ms / 1000.0)));
	json_object_set_new(out, "rows", rows);
	return result_errors(out, verr, cerr);
}

/* sizes: one step per round-trip size, a row each. */
long
bench_sizes(const struct bench_opts *o, json_t *out)
{
	struct bench_opts	 so = *o;
	struct run		 r;
	json_t			*rows, *row;
	uint64_t		 deadline = mode_deadline(o), ns, step_ms;
	long			 verr = 0, cerr = 0;
	size_t			 i;
	char			 label[32];

	step_ms = (uint64_t)o->bo_duration * 1000 / o->bo_nsizes;
	if (step_ms == 0)
		step_ms = 1;
	rows = json_array();
	for (i = 0; i < o->bo_nsizes; i++) {
		so.bo_size = (uint64_t)o->bo_sizes[i];
		snprintf(label, sizeof(label), "%ld B", o->bo_sizes[i]);
		run_setup(&r, &so, deadline, body_roundtrips, label);
		if (run_workers(&r, 1, step_ms) == -1)
			r.r_conn_errors++;
		ns = r.r_t1 - r.r_t0;
		row = json_object();
		json_object_set_new(row, "size", json_integer(o->bo_sizes[i]));
		json_object_set_new(row, "mbps",
		    json_real(rnd2(bench_mbps(r.r_bytes, ns))));
		json_object_set_new(row, "round_trips",
		    json_integer((json_int_t)r.r_ops));
		json_object_set_new(row, "avg_rtt_us", json_real(rnd2(r.r_ops ?
		    (double)r.r_rtt_ns / (double)r.r_ops / 1000.0 : 0)));
		json_object_set_new(row, "errors",
		    json_integer(r.r_verify_errors + r.r_conn_errors));
		json_array_append_new(rows, row);
		verr += r.r_verify_errors;
		cerr += r.r_conn_errors;
		run_free(&r);
		if (bench_now_ns() >= deadline)
			break;
	}
	result_head(out, o);
	json_object_set_new(out, "step_seconds",
	    json_real(rnd2((double)step_ms / 1000.0)));
	json_object_set_new(out, "rows", rows);
	return result_errors(out, verr, cerr);
}

/* bandwidth: N pipelined echo streams, aggregate and peak. */
long
bench_bandwidth(const struct bench_opts *o, json_t *out)
{
	struct run	r;
	uint64_t	ns;
	long		errs;

	run_setup(&r, o, mode_deadline(o), body_stream, "");
	r.r_window = 4 * o->bo_size;
	if (run_workers(&r, (size_t)o->bo_conns[0],
	    (uint64_t)o->bo_duration * 1000) == -1)
		r.r_conn_errors++;
	ns = r.r_t1 - r.r_t0;
	result_head(out, o);
	json_object_set_new(out, "conns", json_integer(o->bo_conns[0]));
	json_object_set_new(out, "size", json_integer((json_int_t)o->bo_size));
	json_object_set_new(out, "seconds", json_real(rnd2((double)ns / 1e9)));
	json_object_set_new(out, "bytes", json_integer((json_int_t)r.r_bytes));
	json_object_set_new(out, "mbps", json_real(rnd2(bench_mbps(r.r_bytes, ns))));
	json_object_set_new(out, "peak_mbps", json_real(rnd2(r.r_peak)));
	errs = result_errors(out, r.r_verify_errors, r.r_conn_errors);
	run_free(&r);
	return errs;
}

/* rate: new sessions per second and their setup time. */
long
bench_rate(const struct bench_opts *o, json_t *out)
{
	struct run	r;
	uint64_t	ns;
	long		errs;

	run_setup(&r, o, mode_deadline(o), body_rate, "");
	r.r_connect = 0;
	r.r_hist = 1;
	r.r_bufsize = 4096;
	if (run_workers(&r, (size_t)o->bo_conns[0],
	    (uint64_t)o->bo_duration * 1000) == -1)
		r.r_conn_errors++;
	ns = r.r_t1 - r.r_t0;
	result_head(out, o);
	json_object_set_new(out, "workers", json_integer(o->bo_conns[0]));
	json_object_set_new(out, "seconds", json_real(rnd2((double)ns / 1e9)));
	json_object_set_new(out, "sessions", json_integer((json_int_t)r.r_ops));
	json_object_set_new(out, "sessions_per_s", json_real(rnd2(ns ?
	    (double)r.r_ops / ((double)ns / 1e9) : 0)));
	json_object_set_new(out, "failures", json_integer(r.r_conn_errors));
	json_object_set_new(out, "p50_setup_us", json_integer((json_int_t)
	    bench_hist_percentile(&r.r_merged, 50)));
	json_object_set_new(out, "p99_setup_us", json_integer((json_int_t)
	    bench_hist_percentile(&r.r_merged, 99)));
	json_object_set_new(out, "max_setup_us", json_integer((json_int_t)
	    r.r_merged.bh_max));
	errs = result_errors(out, r.r_verify_errors, r.r_conn_errors);
	run_free(&r);
	return errs;
}

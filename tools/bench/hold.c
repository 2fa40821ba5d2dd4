/* hold.c: gt-bench hold N: many idle sessions in one libevent loop. */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gt/log.h"

#include "bench.h"

#define HOLD_PING	16
#define HOLD_INFLIGHT	128		/* connects at once */
#define HOLD_CONNECT_S	8		/* connect phase at most */
#define HOLD_DRAIN_S	2		/* last replies at most */
#define HOLD_REPLY_S	5		/* a ping unanswered this long fails */
#define HOLD_TICK_MS	250

enum hold_cstate { HC_IDLE, HC_CONNECTING, HC_OPEN, HC_DEAD };
enum hold_phase { HP_CONNECT, HP_HOLD, HP_DRAIN };

struct hold;

struct hold_conn {
	struct hold		*hc_hold;
	long			 hc_id;
	enum hold_cstate	 hc_state;
	struct bufferevent	*hc_bev;
	struct event		*hc_timer;
	uint64_t		 hc_seed;
	uint64_t		 hc_sent, hc_recvd;
	uint64_t		 hc_ping_t;
};

struct hold_pid {
	int	hp_pid;
	long	hp_rss_peak, hp_hwm;
};

struct hold {
	const struct bench_opts	*h_opts;
	struct event_base	*h_base;
	struct event		*h_tick;
	struct hold_conn	*h_conns;
	long			 h_n;
	long			 h_next;	/* next to connect */
	long			 h_connecting, h_open, h_failed;
	long			 h_verify_errors;
	long			 h_pending;	/* pings awaiting their echo */
	uint64_t		 h_pings;
	enum hold_phase		 h_phase;
	uint64_t		 h_t0, h_hold_t0, h_phase_end;
	struct hold_pid		 h_pids[BENCH_MAX_PIDS];
	char			 h_err[200];
};

static void	hold_start_connects(struct hold *);

/* VmRSS and VmHWM of a process from /proc/PID/status. */
int
bench_proc_mem(int pid, long *rss_kb, long *hwm_kb)
{
	char	 path[64], line[256];
	FILE	*f;
	int	 found = 0;

	*rss_kb = *hwm_kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", rss_kb) == 1)
			found++;
		else if (sscanf(line, "VmHWM: %ld kB", hwm_kb) == 1)
			found++;
	}
	fclose(f);
	return found == 2 ? 0 : -1;
}

/* Sample the watched processes; keep the peak RSS and the latest HWM. */
static void
hold_sample(struct hold *h)
{
	long	rss, hwm;
	size_t	i;

	for (i = 0; i < h->h_opts->bo_npids; i++) {
		if (bench_proc_mem(h->h_pids[i].hp_pid, &rss, &hwm) == -1)
			continue;
		if (rss > h->h_pids[i].hp_rss_peak)
			h->h_pids[i].hp_rss_peak = rss;
		if (hwm > h->h_pids[i].hp_hwm)
			h->h_pids[i].hp_hwm = hwm;
	}
}

/* The one teardown of a session: count it as failed unless at the end. */
static void
hold_conn_kill(struct hold_conn *hc, const char *why, int failed)
{
	struct hold *h = hc->hc_hold;

	if (hc->hc_state == HC_CONNECTING)
		h->h_connecting--;
	else if (hc->hc_state == HC_OPEN)
		h->h_open--;
	if (hc->hc_sent != hc->hc_recvd && hc->hc_state == HC_OPEN)
		h->h_pending--;
	if (failed && hc->hc_state != HC_DEAD) {
		h->h_failed++;
		if (h->h_err[0] == '\0')
			snprintf(h->h_err, sizeof(h->h_err), "session %ld: %s",
			    hc->hc_id, why);
		log_debug("hold", "session %ld: %s", hc->hc_id, why);
	}
	hc->hc_state = HC_DEAD;
	if (hc->hc_timer != NULL)
		event_free(hc->hc_timer);
	hc->hc_timer = NULL;
	if (hc->hc_bev != NULL)
		bufferevent_free(hc->hc_bev);
	hc->hc_bev = NULL;
}

/* Timer: send the next 16 bytes, or fail a session whose echo is late. */
static void
hold_ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hold_conn	*hc = arg;
	struct hold		*h = hc->hc_hold;
	struct timeval		 tv;
	unsigned char		 buf[HOLD_PING];
	uint64_t		 now = bench_now_ns();

	(void)fd;
	(void)what;
	if (hc->hc_state != HC_OPEN)
		return;
	tv.tv_sec = h->h_opts->bo_interval;
	tv.tv_usec = 0;
	if (hc->hc_sent != hc->hc_recvd) {
		if (now - hc->hc_ping_t >= (uint64_t)HOLD_REPLY_S * 1000000000ULL) {
			hold_conn_kill(hc, "no echo within 5 s", 1);
			return;
		}
		tv.tv_sec = 0;
		tv.tv_usec = 200000;
	} else if (h->h_phase != HP_DRAIN) {
		bench_pattern_fill(hc->hc_seed, hc->hc_sent, buf, sizeof(buf));
		if (bufferevent_write(hc->hc_bev, buf, sizeof(buf)) == -1) {
			hold_conn_kill(hc, "write failed", 1);
			return;
		}
		hc->hc_sent += sizeof(buf);
		hc->hc_ping_t = now;
		h->h_pings++;
		h->h_pending++;
	} else
		return;
	evtimer_add(hc->hc_timer, &tv);
}

/* Echo bytes: verify them against what was sent. */
static void
hold_read_cb(struct bufferevent *bev, void *arg)
{
	struct hold_conn	*hc = arg;
	struct hold		*h = hc->hc_hold;
	struct evbuffer		*in = bufferevent_get_input(bev);
	unsigned char		 buf[256];
	size_t			 n;

	while ((n = evbuffer_get_length(in)) > 0) {
		if (n > sizeof(buf))
			n = sizeof(buf);
		evbuffer_remove(in, buf, n);
		if (hc->hc_recvd + n > hc->hc_sent ||
		    bench_pattern_check(hc->hc_seed, hc->hc_recvd, buf, n) != n) {
			h->h_verify_errors++;
			hold_conn_kill(hc, "echo verification failed", 1);
			return;
		}
		hc->hc_recvd += n;
		if (hc->hc_recvd == hc->hc_sent)
			h->h_pending--;
	}
}

/* Connected, or the session ended. */
static void
hold_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct hold_conn	*hc = arg;
	struct hold		*h = hc->hc_hold;
	struct timeval		 tv;
	uint64_t		 phase_ms;
	int			 one = 1;
	char			 why[160];

	if (what & BEV_EVENT_CONNECTED) {
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof(one));
		bufferevent_set_timeouts(bev, NULL, NULL);
		h->h_connecting--;
		h->h_open++;
		hc->hc_state = HC_OPEN;
		/* Spread the pings evenly over the interval. */
		phase_ms = (uint64_t)h->h_opts->bo_interval * 1000 *
		    (uint64_t)hc->hc_id / (uint64_t)h->h_n;
		tv.tv_sec = (time_t)(phase_ms / 1000);
		tv.tv_usec = (suseconds_t)(phase_ms % 1000) * 1000;
		evtimer_add(hc->hc_timer, &tv);
		hold_start_connects(h);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "connect timed out");
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "closed by peer");
	else
		snprintf(why, sizeof(why), "%s%s",
		    hc->hc_state == HC_CONNECTING ? "connect: " : "",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	hold_conn_kill(hc, why, 1);
	hold_start_connects(h);
}

/* Keep HOLD_INFLIGHT connects going until all N were tried. */
static void
hold_start_connects(struct hold *h)
{
	const struct bench_opts	*o = h->h_opts;
	struct hold_conn	*hc;
	struct timeval		 tv = { BENCH_CONNECT_MS / 1000, 0 };

	while (h->h_phase == HP_CONNECT && h->h_next < h->h_n &&
	    h->h_connecting < HOLD_INFLIGHT) {
		hc = &h->h_conns[h->h_next++];
		hc->hc_hold = h;
		hc->hc_seed = o->bo_seed ^ ((uint64_t)hc->hc_id << 32);
		hc->hc_bev = bufferevent_socket_new(h->h_base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		hc->hc_timer = evtimer_new(h->h_base, hold_ping_cb, hc);
		if (hc->hc_bev == NULL || hc->hc_timer == NULL) {
			hold_conn_kill(hc, "out of memory", 1);
			continue;
		}
		bufferevent_setcb(hc->hc_bev, hold_read_cb, NULL, hold_event_cb,
		    hc);
		bufferevent_set_timeouts(hc->hc_bev, NULL, &tv);
		hc->hc_state = HC_CONNECTING;
		h->h_connecting++;
		if (bufferevent_socket_connect(hc->hc_bev,
		    (struct sockaddr *)&o->bo_addr, (int)o->bo_addrlen) == -1) {
			hold_conn_kill(hc, strerror(errno), 1);
			continue;
		}
		bufferevent_enable(hc->hc_bev, EV_READ);
	}
}

/* Every 250 ms: sample memory, move between phases, show progress. */
static void
hold_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hold		*h = arg;
	const struct bench_opts	*o = h->h_opts;
	uint64_t		 now = bench_now_ns();
	long			 i;

	(void)fd;
	(void)what;
	hold_sample(h);
	switch (h->h_phase) {
	case HP_CONNECT:
		if (h->h_next >= h->h_n && h->h_connecting == 0) {
			h->h_phase = HP_HOLD;
			h->h_hold_t0 = now;
			h->h_phase_end = now + (uint64_t)o->bo_duration *
			    1000000000ULL;
		} else if (now >= h->h_phase_end) {
			for (i = 0; i < h->h_n; i++)
				if (h->h_conns[i].hc_state == HC_CONNECTING ||
				    h->h_conns[i].hc_state == HC_IDLE) {
					h->h_conns[i].hc_id = i;
					hold_conn_kill(&h->h_conns[i],
					    "not connected in the connect phase",
					    1);
				}
			h->h_next = h->h_n;
			h->h_phase = HP_HOLD;
			h->h_hold_t0 = now;
			h->h_phase_end = now + (uint64_t)o->bo_duration *
			    1000000000ULL;
		}
		bench_progress(o->bo_progress, "hold  connecting %ld/%ld  open %ld"
		    "  failed %ld", h->h_next, h->h_n, h->h_open, h->h_failed);
		break;
	case HP_HOLD:
		if (now >= h->h_phase_end) {
			h->h_phase = HP_DRAIN;
			h->h_phase_end = now + HOLD_DRAIN_S * 1000000000ULL;
		}
		bench_progress(o->bo_progress, "hold  %4.1f/%ld s  open %ld/%ld"
		    "  failed %ld  pings %llu", (double)(now - h->h_hold_t0) / 1e9,
		    o->bo_duration, h->h_open, h->h_n, h->h_failed,
		    (unsigned long long)h->h_pings);
		break;
	case HP_DRAIN:
		if (h->h_pending == 0 || now >= h->h_phase_end)
			event_base_loopbreak(h->h_base);
		break;
	}
}

/* hold N: open N sessions, echo on each every interval, sample RSS. */
long
bench_hold(const struct bench_opts *o, json_t *out)
{
	struct hold	 h;
	struct timeval	 tv = { 0, HOLD_TICK_MS * 1000 };
	json_t		*pids, *p;
	long		 i;
	size_t		 k;

	memset(&h, 0, sizeof(h));
	h.h_opts = o;
	h.h_n = o->bo_hold;
	for (k = 0; k < o->bo_npids; k++) {
		h.h_pids[k].hp_pid = o->bo_pids[k];
		h.h_pids[k].hp_rss_peak = h.h_pids[k].hp_hwm = -1;
	}
	bench_raise_nofile();
	h.h_conns = calloc((size_t)h.h_n, sizeof(*h.h_conns));
	if (h.h_conns == NULL || (h.h_base = event_base_new()) == NULL ||
	    (h.h_tick = event_new(h.h_base, -1, EV_PERSIST, hold_tick_cb,
	    &h)) == NULL) {
		log_errorx("hold", "out of memory");
		h.h_failed = h.h_n;
		goto out;
	}
	for (i = 0; i < h.h_n; i++)
		h.h_conns[i].hc_id = i;
	h.h_t0 = bench_now_ns();
	h.h_phase = HP_CONNECT;
	h.h_phase_end = h.h_t0 + HOLD_CONNECT_S * 1000000000ULL;
	hold_sample(&h);
	evtimer_add(h.h_tick, &tv);
	hold_start_connects(&h);
	event_base_dispatch(h.h_base);
	bench_progress_end(o->bo_progress);
	hold_sample(&h);
out:
	/* Pings still unanswered after the drain count as failed sessions. */
	for (i = 0; h.h_conns != NULL && i < h.h_n; i++)
		if (h.h_conns[i].hc_state == HC_OPEN &&
		    h.h_conns[i].hc_sent != h.h_conns[i].hc_recvd)
			hold_conn_kill(&h.h_conns[i],
			    "echo still missing at the end", 1);
	json_object_set_new(out, "mode", json_string(o->bo_mode));
	json_object_set_new(out, "target", json_string(o->bo_target));
	json_object_set_new(out, "conns", json_integer(h.h_n));
	json_object_set_new(out, "held", json_integer(h.h_open));
	json_object_set_new(out, "connect_seconds", json_real(round((double)
	    ((h.h_hold_t0 ? h.h_hold_t0 : bench_now_ns()) - h.h_t0) / 1e7) / 100));
	json_object_set_new(out, "hold_seconds", json_integer(o->bo_duration));
	json_object_set_new(out, "pings", json_integer((json_int_t)h.h_pings));
	json_object_set_new(out, "failures", json_integer(h.h_failed));
	json_object_set_new(out, "verify_errors", json_integer(h.h_verify_errors));
	pids = json_array();
	for (k = 0; k < o->bo_npids; k++) {
		p = json_object();
		json_object_set_new(p, "pid", json_integer(h.h_pids[k].hp_pid));
		json_object_set_new(p, "rss_peak_kb",
		    json_integer(h.h_pids[k].hp_rss_peak));
		json_object_set_new(p, "hwm_kb", json_integer(h.h_pids[k].hp_hwm));
		json_array_append_new(pids, p);
	}
	json_object_set_new(out, "pids", pids);
	json_object_set_new(out, "errors", json_integer(h.h_failed));
	if (h.h_err[0] != '\0')
		fprintf(stderr, "gt-bench: hold: %ld failed, first: %s\n",
		    h.h_failed, h.h_err);
	for (i = 0; h.h_conns != NULL && i < h.h_n; i++)
		hold_conn_kill(&h.h_conns[i], "", 0);
	free(h.h_conns);
	if (h.h_tick != NULL)
		event_free(h.h_tick);
	if (h.h_base != NULL)
		event_base_free(h.h_base);
	return h.h_failed;
}

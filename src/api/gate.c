/*
 * gate.c: the API's connections, from accept to close (see gate.h). A
 * connection is a filter bufferevent over a socket bufferevent; the filter
 * passes bytes through (or through TLS), watches the start and end of each
 * request head, and is the one place a connection's life is tracked: its
 * context is freed by the filter's destructor, whoever closes it.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <linux/sockios.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "gt/addr.h"
#include "gt/api.h"
#include "gt/endpoint.h"
#include "gt/log.h"
#include "gt/tls_pipe.h"
#include "gate.h"

#define GATE_COMP	"api"
/* Bytes a connection may hold unread at each level: a head fits. */
#define GATE_SOCK_HIWAT	(16 * 1024)
#define GATE_IN_HIWAT	(18 * 1024)
/*
 * evhttp takes a body only once all of it is buffered, so while one
 * arrives a connection may hold up to evhttp's body limit (a 413 beyond).
 */
#define GATE_RECORD	16384	/* plaintext sealed per TLS record */
#define GATE_LAST_ROOM	256	/* send-queue room the last record waits for */
#define GATE_LINGER_S	1	/* seconds a refused peer has to read its 403 */
#define GATE_LINGER_MAX	64	/* refused peers lingering at once; more close at once */
#define GATE_BODY_HIWAT	(GT_API_BODY_HARD_MAX + GATE_IN_HIWAT)

enum gate_state {
	GC_NEW,		/* accepted; not checked yet */
	GC_IDLE,	/* between requests */
	GC_HEAD,	/* a request head is arriving: head deadline */
	GC_BODY,	/* its body is arriving: body deadline */
	GC_REFUSED,	/* told why (403), discarding input until the peer closes */
	GC_DEAD,	/* closing */
};

enum gate_reason { GR_ALLOW, GR_MAX, GR_PER_IP, GR_DEADLINE, GR_TLS, GR_NREASONS };

struct gate_conn {
	TAILQ_ENTRY(gate_conn)	 gc_entry;
	struct api_gate		*gc_gate;
	struct bufferevent	*gc_bev;	/* the filter evhttp owns */
	struct event		*gc_check;	/* once, after evhttp set the fd */
	struct event		*gc_timer;	/* head or body deadline */
	struct event		*gc_kick;	/* push output evhttp queued */
	struct event		*gc_wev;	/* the socket can take more */
	struct evbuffer		*gc_txq;	/* TLS records not yet written */
	evutil_socket_t		 gc_fd;		/* evhttp's; set at the check */
	struct evbuffer_cb_entry *gc_outcb;
	struct gt_tls_pipe	*gc_tls;
	enum gate_state		 gc_state;
	int			 gc_bol;	/* scanner: at the start of a line */
	struct sockaddr_storage	 gc_peer;
	socklen_t		 gc_peerlen;
	char			 gc_name[64];	/* peer address:port, for logs */
	char			 gc_ip[48];	/* peer address: the log limiter's key */
};
TAILQ_HEAD(gate_conns, gate_conn);

/* Refusal lines, rate-limited per source address and reason. */
static struct gt_logrl gate_rl[GR_NREASONS];

struct api_gate {
	struct event_base	*g_base;
	struct api_gate_limits	 g_lim;
	struct gt_tls_ctx	*g_tls;
	api_gate_allow_fn	*g_allow;
	void			*g_arg;
	struct gate_conns	 g_conns;
	struct api_gate_stats	 g_stats;
	int			 g_lingering;	/* connections in GC_REFUSED */
	unsigned		 g_refs;	/* the owner's, one per connection */
};

static void	gate_kill(struct gate_conn *);
static void	gate_writable_cb(evutil_socket_t, short, void *);
static int	gate_send(struct gate_conn *);

/*
 * Whether evhttp still holds the filter. bufferevent_free() clears its
 * callbacks at once, but the filter lives on (unreferenced) until libevent
 * finalizes it; calling into it then would revive and unlink it twice.
 */
static int
gate_held(struct gate_conn *gc)
{
	bufferevent_data_cb	 r, w;
	bufferevent_event_cb	 e;

	bufferevent_getcb(gc->gc_bev, &r, &w, &e, NULL);
	return r != NULL || w != NULL || e != NULL;
}

/* Leave the counted states for good. */
static void
gate_dead(struct gate_conn *gc)
{
	if (gc->gc_state == GC_REFUSED)
		gc->gc_gate->g_lingering--;
	else if (gc->gc_state != GC_NEW && gc->gc_state != GC_DEAD)
		gc->gc_gate->g_stats.open--;
	gc->gc_state = GC_DEAD;
	evtimer_del(gc->gc_timer);
}

/* Start (or stop, secs 0) the connection's deadline. */
static void
gate_clock(struct gate_conn *gc, int secs)
{
	struct timeval tv = { secs, 0 };

	if (secs > 0)
		evtimer_add(gc->gc_timer, &tv);
	else
		evtimer_del(gc->gc_timer);
}

/* The head is complete: the body has its own deadline. */
static void
gate_head_done(struct gate_conn *gc)
{
	gc->gc_state = GC_BODY;
	bufferevent_setwatermark(gc->gc_bev, EV_READ, 0, GATE_BODY_HIWAT);
	gate_clock(gc, gc->gc_gate->g_lim.body_timeout);
}

/*
 * Follow len bytes of a request head for its end: an empty line, "\r\n" or
 * "\n" (evhttp accepts both). Returns once the head is done.
 */
static void
gate_scan(struct gate_conn *gc, const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && gc->gc_state == GC_HEAD; i++) {
		if (p[i] == '\n') {
			if (gc->gc_bol)
				gate_head_done(gc);
			gc->gc_bol = 1;
		} else if (p[i] != '\r')
			gc->gc_bol = 0;
	}
}

/* Scan what buf holds from offset on. */
static void
gate_scan_buf(struct gate_conn *gc, struct evbuffer *buf, size_t off)
{
	struct evbuffer_ptr	 ptr;
	struct evbuffer_iovec	 v[8];
	int			 n, i;
	size_t			 len = evbuffer_get_length(buf);

	while (gc->gc_state == GC_HEAD && off < len) {
		if (evbuffer_ptr_set(buf, &ptr, off, EVBUFFER_PTR_SET) == -1)
			return;
		n = evbuffer_peek(buf, (ev_ssize_t)(len - off), &ptr, v, 8);
		if (n <= 0)
			return;
		for (i = 0; i < n && i < 8 && gc->gc_state == GC_HEAD; i++) {
			gate_scan(gc, v[i].iov_base, v[i].iov_len);
			off += v[i].iov_len;
		}
	}
}

/* Bytes of a new request arrived on an idle connection: its head clock starts. */
static void
gate_request_start(struct gate_conn *gc)
{
	gc->gc_state = GC_HEAD;
	gc->gc_bol = 0;
	gate_clock(gc, gc->gc_gate->g_lim.head_timeout);
}

/* Input filter: socket (or TLS) bytes to evhttp, watching heads. */
static enum bufferevent_filter_result
gate_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t room,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct gate_conn	*gc = arg;
	struct api_gate		*g = gc->gc_gate;
	size_t			 before = evbuffer_get_length(dst), n;
	enum gt_tls_pipe_rc	 rc;

	(void)mode;
	if (gc->gc_state == GC_REFUSED)
		evbuffer_drain(src, evbuffer_get_length(src));
	if (gc->gc_state == GC_DEAD || gc->gc_state == GC_NEW ||
	    gc->gc_state == GC_REFUSED)
		return BEV_NEED_MORE;
	if (gc->gc_state == GC_IDLE && evbuffer_get_length(src) > 0)
		gate_request_start(gc);
	if (gc->gc_tls != NULL) {
		rc = gt_tls_pipe_in(gc->gc_tls, src, dst, gc->gc_txq, room);
		if (rc != GT_TLS_PIPE_ERROR && gate_send(gc) == -1)
			rc = GT_TLS_PIPE_ERROR;
		if (rc == GT_TLS_PIPE_ERROR) {
			g->g_stats.tls_failed++;
			gt_log_rl(&gate_rl[GR_TLS], GT_LOG_WARN, GATE_COMP, gc->gc_ip,
			    "%s: HTTPS: %s", gc->gc_name, gt_tls_pipe_error(gc->gc_tls));
			gate_kill(gc);
			return BEV_ERROR;
		}
		if (rc == GT_TLS_PIPE_EOF) {
			gate_dead(gc);
			bufferevent_trigger_event(gc->gc_bev, BEV_EVENT_EOF |
			    BEV_EVENT_READING, BEV_TRIG_DEFER_CALLBACKS);
		}
	} else {
		n = evbuffer_get_length(src);
		if (room >= 0 && n > (size_t)room)
			n = (size_t)room;
		if (n > 0 && evbuffer_remove_buffer(src, dst, n) == -1)
			return BEV_ERROR;
	}
	if (gc->gc_state == GC_HEAD)
		gate_scan_buf(gc, dst, before);
	return evbuffer_get_length(dst) > before ? BEV_OK : BEV_NEED_MORE;
}

/* Whether a failed write only has to wait. */
static int
gate_retry(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* Wake when the socket can take more: gate_writable_cb. */
static void
gate_want_write(struct gate_conn *gc)
{
	if (gc->gc_wev == NULL)
		gc->gc_wev = event_new(gc->gc_gate->g_base, gc->gc_fd, EV_WRITE,
		    gate_writable_cb, gc);
	if (gc->gc_wev != NULL)
		event_add(gc->gc_wev, NULL);
}

/* Write queued TLS records straight to the socket: 0, or -1 on error. */
static int
gate_send(struct gate_conn *gc)
{
	if (evbuffer_get_length(gc->gc_txq) == 0)
		return 0;
	if (evbuffer_write(gc->gc_txq, gc->gc_fd) == -1 &&
	    !gate_retry(errno))
		return -1;
	if (evbuffer_get_length(gc->gc_txq) > 0)
		gate_want_write(gc);
	return 0;
}

/* Whether the socket's send queue has room for a small record now. */
static int
gate_room(struct gate_conn *gc)
{
	int		 queued = 0, sndbuf = 0;
	socklen_t	 len = sizeof(sndbuf);

	if (ioctl(gc->gc_fd, SIOCOUTQ, &queued) == -1 ||
	    getsockopt(gc->gc_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == -1)
		return 0;
	return sndbuf - queued >= GATE_LAST_ROOM;
}

/*
 * Output filter: evhttp's answers straight to the socket (sealed first for
 * HTTPS), what the socket cannot take left in src. evhttp closes a
 * connection, and shuts the socket down, as soon as the filter's output
 * is empty: were the answer parked in the socket bufferevent below, it
 * would be cut. So src empties only when the bytes are in the kernel, and
 * the last plaintext byte is sealed only when its record fits at once.
 */
static enum bufferevent_filter_result
gate_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t room,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct gate_conn	*gc = arg;
	size_t			 len, take, before = evbuffer_get_length(src);

	(void)dst;
	(void)room;
	(void)mode;
	if (gc->gc_state == GC_DEAD)
		return BEV_ERROR;
	if (gc->gc_state == GC_NEW || before == 0)
		return BEV_NEED_MORE;
	if (gc->gc_tls == NULL) {
		if (evbuffer_write(src, gc->gc_fd) == -1 &&
		    !gate_retry(errno))
			return BEV_ERROR;
		if (evbuffer_get_length(src) > 0)
			gate_want_write(gc);
		return evbuffer_get_length(src) < before ? BEV_OK : BEV_NEED_MORE;
	}
	if (!gt_tls_pipe_ready(gc->gc_tls))
		return BEV_NEED_MORE;
	for (;;) {
		if (gate_send(gc) == -1)
			return BEV_ERROR;
		if (evbuffer_get_length(gc->gc_txq) > 0 ||
		    (len = evbuffer_get_length(src)) == 0)
			break;
		take = len > GATE_RECORD ? GATE_RECORD : len;
		if (take == len && len > 1)
			take = len - 1;		/* hold the last byte back */
		else if (take == 1 && !gate_room(gc)) {
			gate_want_write(gc);
			break;
		}
		if (gt_tls_pipe_out(gc->gc_tls, src, take, gc->gc_txq) ==
		    GT_TLS_PIPE_ERROR)
			return BEV_ERROR;
	}
	return evbuffer_get_length(src) < before ? BEV_OK : BEV_NEED_MORE;
}

/* Close through evhttp, after the running callback: it frees the connection. */
static void
gate_kill(struct gate_conn *gc)
{
	if (gc->gc_state == GC_DEAD)
		return;
	gate_dead(gc);
	if (gate_held(gc))
		bufferevent_trigger_event(gc->gc_bev, BEV_EVENT_ERROR, BEV_TRIG_DEFER_CALLBACKS);
}

/* Whether two socket addresses name the same IP (ports aside). */
static int
gate_same_ip(const struct sockaddr_storage *a, socklen_t al,
    const struct sockaddr_storage *b, socklen_t bl)
{
	const uint8_t	*x, *y;
	size_t		 xn, yn;

	xn = gt_addr_bytes((const struct sockaddr *)a, al, &x);
	yn = gt_addr_bytes((const struct sockaddr *)b, bl, &y);
	return xn > 0 && xn == yn && memcmp(x, y, xn) == 0;
}

/* Deadline: a head or body took too long (a trickle), or TLS never finished. */
static void
gate_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gate_conn	*gc = arg;
	struct api_gate		*g = gc->gc_gate;

	(void)fd;
	(void)what;
	if (!gate_held(gc)) {
		gate_dead(gc);
		return;
	}
	if (gc->gc_state == GC_REFUSED) {
		gate_kill(gc);
		return;
	}
	g->g_stats.deadline++;
	gt_log_rl(&gate_rl[GR_DEADLINE], GT_LOG_WARN, GATE_COMP, gc->gc_ip,
	    "%s: request %s not received within %d s; closed", gc->gc_name, gc->gc_state == GC_BODY ? "body" : "head",
		    gc->gc_state == GC_BODY ? g->g_lim.body_timeout :
		    g->g_lim.head_timeout);
	gate_kill(gc);
}

/*
 * Say why, then close. The answer fits a socket buffer: one write. The
 * connection lingers a moment, its input discarded unread, because closing
 * with the request queued would reset it and the peer would lose the
 * answer; only GATE_LINGER_MAX do at once, the rest close at once.
 */
static void
gate_refuse(struct gate_conn *gc, evutil_socket_t fd, struct evbuffer *answer)
{
	struct api_gate *g = gc->gc_gate;

	if (evbuffer_get_length(answer) == 0 || g->g_lingering >= GATE_LINGER_MAX ||
	    evbuffer_write(answer, fd) <= 0) {
		gate_kill(gc);
		return;
	}
	(void)shutdown(fd, SHUT_WR);
	gc->gc_state = GC_REFUSED;
	g->g_lingering++;
	gate_clock(gc, GATE_LINGER_S);
}

/* Right after accept, before any read: allowlist and caps. */
static void
gate_check_cb(evutil_socket_t unused, short what, void *arg)
{
	struct gate_conn	*gc = arg;
	struct api_gate		*g = gc->gc_gate;
	struct gate_conn	*o;
	struct evbuffer		*refusal;
	evutil_socket_t		 fd;
	int			 same = 0, allowed;

	(void)unused;
	(void)what;
	if (gc->gc_state != GC_NEW || !gate_held(gc))
		return;
	fd = gc->gc_fd = bufferevent_getfd(gc->gc_bev);
	gc->gc_peerlen = sizeof(gc->gc_peer);
	if (fd == -1 || getpeername(fd, (struct sockaddr *)&gc->gc_peer,
	    &gc->gc_peerlen) == -1) {
		gate_kill(gc);
		return;
	}
	if (gt_addr_format((struct sockaddr *)&gc->gc_peer, gc->gc_peerlen,
	    gc->gc_name, sizeof(gc->gc_name)) == -1)
		snprintf(gc->gc_name, sizeof(gc->gc_name), "?");
	if (gt_addr_format_ip((struct sockaddr *)&gc->gc_peer, gc->gc_peerlen, 0,
	    gc->gc_ip, sizeof(gc->gc_ip)) == -1)
		snprintf(gc->gc_ip, sizeof(gc->gc_ip), "?");
	if ((refusal = evbuffer_new()) == NULL) {
		gate_kill(gc);
		return;
	}
	allowed = g->g_allow((struct sockaddr *)&gc->gc_peer, g->g_arg, refusal);
	if (!allowed) {
		g->g_stats.refused_allow++;
		gt_log_rl(&gate_rl[GR_ALLOW], GT_LOG_INFO, GATE_COMP, gc->gc_ip,
		    "%s: refused at accept, source not in security.api.allowed_ips",
		    gc->gc_name);
		if (gc->gc_tls == NULL)
			gate_refuse(gc, fd, refusal);
		else
			gate_kill(gc);
		evbuffer_free(refusal);
		return;
	}
	evbuffer_free(refusal);
	if (g->g_stats.open >= (uint64_t)g->g_lim.max_conns) {
		g->g_stats.refused_max++;
		gt_log_rl(&gate_rl[GR_MAX], GT_LOG_WARN, GATE_COMP, gc->gc_ip,
		    "%s: refused at accept, %d API connections open "
		    "(api.max_connections)", gc->gc_name, g->g_lim.max_conns);
		gate_kill(gc);
		return;
	}
	TAILQ_FOREACH(o, &g->g_conns, gc_entry)
		if (o != gc && o->gc_state != GC_NEW && o->gc_state != GC_DEAD &&
		    gate_same_ip(&o->gc_peer, o->gc_peerlen, &gc->gc_peer,
		    gc->gc_peerlen))
			same++;
	if (same >= g->g_lim.max_per_ip) {
		g->g_stats.refused_per_ip++;
		gt_log_rl(&gate_rl[GR_PER_IP], GT_LOG_WARN, GATE_COMP, gc->gc_ip,
		    "%s: refused at accept, %d API connections open from that "
		    "address (api.max_connections_per_ip)", gc->gc_name, same);
		gate_kill(gc);
		return;
	}
	g->g_stats.open++;
	gc->gc_state = GC_IDLE;
	/* The TLS handshake runs on the first head's clock. */
	if (gc->gc_tls != NULL)
		gate_request_start(gc);
}

/*
 * evhttp queues an answer while the filter's writing is disabled and only
 * then enables it; libevent 2.1's filter does not look at its output on
 * enable, so the answer would sit there. Push it once evhttp is done.
 */
static void
gate_outbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct gate_conn *gc = arg;

	(void)buf;
	if (info->n_added > 0 && gc->gc_state != GC_DEAD &&
	    (bufferevent_get_enabled(gc->gc_bev) & EV_WRITE) == 0)
		event_active(gc->gc_kick, EV_TIMEOUT, 0);
}

/* The socket can take more: queued records first, then evhttp's output. */
static void
gate_writable_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gate_conn *gc = arg;

	(void)fd;
	(void)what;
	if (gc->gc_state == GC_DEAD)
		return;
	if (!gate_held(gc)) {
		gate_dead(gc);
		return;
	}
	if (gc->gc_txq != NULL && gate_send(gc) == -1) {
		gate_kill(gc);
		return;
	}
	bufferevent_flush(gc->gc_bev, EV_WRITE, BEV_NORMAL);
}

/* The push itself, after the callback that queued the answer returned. */
static void
gate_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gate_conn *gc = arg;

	(void)fd;
	(void)what;
	if (gc->gc_state != GC_DEAD && gate_held(gc))
		bufferevent_flush(gc->gc_bev, EV_WRITE, BEV_NORMAL);
}

/* Drop a reference; the last frees (connections finalize after evhttp_free). */
static void
gate_unref(struct api_gate *g)
{
	if (--g->g_refs > 0)
		return;
	if (g->g_tls != NULL)
		gt_tls_ctx_unref(g->g_tls);
	free(g);
}

/* The filter's destructor: the connection is gone, whoever closed it. */
static void
gate_conn_free(void *arg)
{
	struct gate_conn	*gc = arg;
	struct api_gate		*g = gc->gc_gate;

	gate_dead(gc);
	TAILQ_REMOVE(&g->g_conns, gc, gc_entry);
	if (gc->gc_outcb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(gc->gc_bev), gc->gc_outcb);
	if (gc->gc_kick != NULL)
		event_free(gc->gc_kick);
	if (gc->gc_wev != NULL)
		event_free(gc->gc_wev);
	if (gc->gc_check != NULL)
		event_free(gc->gc_check);
	if (gc->gc_timer != NULL)
		event_free(gc->gc_timer);
	if (gc->gc_txq != NULL)
		evbuffer_free(gc->gc_txq);
	gt_tls_pipe_free(gc->gc_tls);
	free(gc);
	gate_unref(g);
}

/* A new connection (the fd comes later, from evhttp). */
struct bufferevent *
api_gate_bevcb(struct event_base *base, void *arg)
{
	struct api_gate		*g = arg;
	struct gate_conn	*gc;
	struct bufferevent	*sock;

	if ((gc = calloc(1, sizeof(*gc))) == NULL)
		return NULL;
	gc->gc_gate = g;
	gc->gc_state = GC_NEW;
	gc->gc_fd = -1;
	snprintf(gc->gc_name, sizeof(gc->gc_name), "?");
	if ((gc->gc_check = event_new(base, -1, 0, gate_check_cb, gc)) == NULL ||
	    (gc->gc_timer = evtimer_new(base, gate_timer_cb, gc)) == NULL ||
	    (gc->gc_kick = event_new(base, -1, 0, gate_kick_cb, gc)) == NULL ||
	    (g->g_tls != NULL && ((gc->gc_tls = gt_tls_pipe_server(g->g_tls)) == NULL ||
	    (gc->gc_txq = evbuffer_new()) == NULL)))
		goto fail;
	if ((sock = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto fail;
	bufferevent_setwatermark(sock, EV_READ, 0, GATE_SOCK_HIWAT);
	gc->gc_bev = bufferevent_filter_new(sock, gate_in, gate_out,
	    BEV_OPT_CLOSE_ON_FREE, gate_conn_free, gc);
	if (gc->gc_bev == NULL) {
		bufferevent_free(sock);
		goto fail;
	}
	bufferevent_setwatermark(gc->gc_bev, EV_READ, 0, GATE_IN_HIWAT);
	/*
	 * The gate writes to the socket itself (gate_out), never through the
	 * socket bufferevent, whose writability callback would otherwise make
	 * the filter run its output unreferenced: evhttp may free the
	 * connection in there, and libevent 2.1 then re-arms a timer on it.
	 */
	bufferevent_disable(sock, EV_WRITE);
	TAILQ_INSERT_TAIL(&g->g_conns, gc, gc_entry);
	g->g_refs++;
	if ((gc->gc_outcb = evbuffer_add_cb(bufferevent_get_output(gc->gc_bev),
	    gate_outbuf_cb, gc)) == NULL) {
		bufferevent_free(gc->gc_bev);	/* frees gc too */
		return NULL;
	}
	/* Runs once this callback's caller has given the socket its fd. */
	event_active(gc->gc_check, EV_TIMEOUT, 0);
	return gc->gc_bev;
fail:
	if (gc->gc_txq != NULL)
		evbuffer_free(gc->gc_txq);
	if (gc->gc_kick != NULL)
		event_free(gc->gc_kick);
	if (gc->gc_check != NULL)
		event_free(gc->gc_check);
	if (gc->gc_timer != NULL)
		event_free(gc->gc_timer);
	gt_tls_pipe_free(gc->gc_tls);
	free(gc);
	return NULL;
}

/* The gate context of evcon, found through its bufferevent. */
static struct gate_conn *
gate_find(struct api_gate *g, struct evhttp_connection *evcon)
{
	struct bufferevent	*bev = evhttp_connection_get_bufferevent(evcon);
	struct gate_conn	*gc;

	TAILQ_FOREACH(gc, &g->g_conns, gc_entry)
		if (gc->gc_bev == bev)
			return gc;
	return NULL;
}

/* A request is being answered: no clock until the next one starts. */
void
api_gate_request_done(struct api_gate *g, struct evhttp_connection *evcon)
{
	struct gate_conn	*gc;
	struct evbuffer		*in;

	if (evcon == NULL || (gc = gate_find(g, evcon)) == NULL ||
	    gc->gc_state == GC_DEAD || gc->gc_state == GC_NEW)
		return;
	gc->gc_state = GC_IDLE;
	gate_clock(gc, 0);
	bufferevent_setwatermark(gc->gc_bev, EV_READ, 0, GATE_IN_HIWAT);
	/* Pipelined bytes already passed on are the next request's head. */
	in = bufferevent_get_input(gc->gc_bev);
	if (evbuffer_get_length(in) > 0) {
		gate_request_start(gc);
		gate_scan_buf(gc, in, 0);
	}
}

/* The verified client CN of evcon's TLS session. */
const char *
api_gate_peer_cn(struct api_gate *g, struct evhttp_connection *evcon)
{
	struct gate_conn *gc;

	if (evcon == NULL || (gc = gate_find(g, evcon)) == NULL || gc->gc_tls == NULL)
		return NULL;
	return gt_tls_pipe_peer_cn(gc->gc_tls);
}

/* New gate. */
struct api_gate *
api_gate_new(struct event_base *base, const struct api_gate_limits *lim,
    struct gt_tls_ctx *tls, api_gate_allow_fn *allow, void *arg)
{
	struct api_gate *g;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->g_base = base;
	g->g_lim = *lim;
	g->g_allow = allow;
	g->g_arg = arg;
	g->g_refs = 1;
	TAILQ_INIT(&g->g_conns);
	if (tls != NULL) {
		gt_tls_ctx_ref(tls);
		g->g_tls = tls;
	}
	return g;
}

/*
 * The owner lets go, after evhttp_free closed every connection: their
 * filters finalize later in the loop, and the last one frees the gate.
 */
void
api_gate_free(struct api_gate *g)
{
	struct gate_conn *gc;

	if (g == NULL)
		return;
	/* Nothing of theirs may run in between: their evhttp is gone. */
	TAILQ_FOREACH(gc, &g->g_conns, gc_entry) {
		gate_dead(gc);
		event_del(gc->gc_check);
		event_del(gc->gc_kick);
		if (gc->gc_wev != NULL)
			event_del(gc->gc_wev);
	}
	gate_unref(g);
}

/* Swap the TLS material; live pipes keep a reference to theirs. */
void
api_gate_set_tls(struct api_gate *g, struct gt_tls_ctx *tls)
{
	gt_tls_ctx_ref(tls);
	if (g->g_tls != NULL)
		gt_tls_ctx_unref(g->g_tls);
	g->g_tls = tls;
}

/* Counters for /metrics. */
const struct api_gate_stats *
api_gate_stats(const struct api_gate *g)
{
	return &g->g_stats;
}

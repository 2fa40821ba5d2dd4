/*
 * listener.c: the server's tunnel port. Each accepted connection does its
 * TLS handshake (client certificate required, EKU clientAuth, CN = name),
 * then becomes a mux registered by name. A handshake has a deadline and the
 * number in flight is capped, so a flood of idle sockets cannot pin memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "gt/accept_pause.h"
#include "gt/addr.h"
#include "gt/config.h"
#include "gt/log.h"
#include "gt/mux.h"
#include "gt/proto.h"
#include "gt/registry.h"
#include "gt/endpoint.h"
#include "gt/tunnel.h"

#define TUN_HANDSHAKE_TIMEOUT	10	/* seconds */
#define TUN_MAX_HANDSHAKES	256	/* in flight at once */
#define TUN_MAX_PER_SOURCE	16	/* in flight from one address */
#define TUN_ACCEPT_PAUSE_MS	500

struct tun_pending {
	TAILQ_ENTRY(tun_pending)	 tp_link;	/* oldest first */
	struct gt_tunnel_server		*tp_srv;
	struct gt_ep			*tp_conn;
	struct sockaddr_storage		 tp_addr;
};

struct tun_client {
	TAILQ_ENTRY(tun_client)		 tc_link;
	struct gt_tunnel_server		*tc_srv;
	struct gt_mux			*tc_mux;
	unsigned char			 tc_serial[GT_EP_SERIAL_MAX];	/* the peer certificate's */
	size_t				 tc_serial_len;
	unsigned char			*tc_issuer;	/* and its issuer (DER) */
	size_t				 tc_issuer_len;
};

struct gt_tunnel_server {
	struct event_base		*ts_base;
	struct gt_registry		*ts_reg;
	struct evconnlistener		*ts_lev;
	struct gt_tls_ctx		*ts_tls;	/* NULL: plain TCP */
	struct gt_accept_pause		*ts_pause;
	int				 ts_hb_interval, ts_hb_timeout;
	uint32_t			 ts_window, ts_window_max;
	uint64_t			 ts_buffer;
	size_t				 ts_out_max;
	struct gt_mux_budget		 ts_budget;	/* window growth, all tunnels */
	unsigned			 ts_npending;
	time_t				 ts_evict_logged;
	TAILQ_HEAD(, tun_pending)	 ts_pending;
	TAILQ_HEAD(, tun_client)	 ts_clients;
};

/* Build the TLS context from the config's files. */
static struct gt_tls_ctx *
tun_load_tls(const struct gt_config *cfg, char *err, size_t errlen)
{
	const char	*crl = cfg->security.tunnel.crl_file;

	return gt_tls_ctx_server_crl(cfg->security.tunnel.cert_file,
	    cfg->security.tunnel.key_file, cfg->security.tunnel.client_ca,
	    crl[0] != '\0' ? crl : NULL, err, errlen);
}

/* Forget a handshake in progress and close it. */
static void
tun_pending_free(struct tun_pending *tp)
{
	struct gt_tunnel_server *ts = tp->tp_srv;

	TAILQ_REMOVE(&ts->ts_pending, tp, tp_link);
	ts->ts_npending--;
	if (tp->tp_conn != NULL)
		gt_ep_free(tp->tp_conn);
	free(tp);
}

/* Same source address (port ignored)? */
static int
tun_same_source(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return 0;
	if (b->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr,
		    sizeof(struct in_addr)) == 0;
	if (b->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr,
		    sizeof(struct in6_addr)) == 0;
	return 0;
}

/*
 * Make room for a new handshake: past the cap for its source, or past the
 * global cap, the oldest handshake in flight goes. Silent connections thus
 * never lock the door: a flood from one address holds a few slots, and a
 * real client's handshake, much shorter than the timeout, gets through.
 */
static void
tun_make_room(struct gt_tunnel_server *ts, const struct sockaddr *sa)
{
	struct tun_pending	*tp, *oldest = NULL;
	unsigned		 same = 0;
	time_t			 now;

	TAILQ_FOREACH(tp, &ts->ts_pending, tp_link) {
		if (tun_same_source(&tp->tp_addr, sa)) {
			if (oldest == NULL)
				oldest = tp;
			same++;
		}
	}
	if (same < TUN_MAX_PER_SOURCE)
		oldest = ts->ts_npending >= TUN_MAX_HANDSHAKES ?
		    TAILQ_FIRST(&ts->ts_pending) : NULL;
	if (oldest == NULL)
		return;
	now = time(NULL);
	if (now != ts->ts_evict_logged) {
		ts->ts_evict_logged = now;
		log_warnx("tunnel", "too many handshakes in flight (%u, %u from %s):"
		    " dropping the oldest", ts->ts_npending, same,
		    gt_ep_peer_addr(oldest->tp_conn));
	}
	tun_pending_free(oldest);
}

/* Unregister and free a tunnel. */
static void
tun_client_free(struct tun_client *tc)
{
	struct gt_tunnel_server *ts = tc->tc_srv;

	gt_registry_remove(ts->ts_reg, tc->tc_mux);
	TAILQ_REMOVE(&ts->ts_clients, tc, tc_link);
	gt_mux_free(tc->tc_mux);
	free(tc->tc_issuer);
	free(tc);
}

/* A tunnel ended by itself (peer gone, heartbeat, protocol error). */
static void
tun_mux_closed(struct gt_mux *mux, const char *why, void *arg)
{
	struct tun_client *tc = arg;

	log_info("tunnel", "client %s (%s) disconnected: %s", gt_mux_name(mux),
	    gt_mux_peer_addr(mux), why);
	tun_client_free(tc);
}

/*
 * Refused handshakes are logged per source address, rate limited: anyone
 * can connect to the tunnel port as often as they like.
 */
static struct gt_logrl	tun_rl_refused;

/* The source address of a pending connection, without its port. */
static const char *
tun_source(const struct tun_pending *tp, char *buf, size_t size)
{
	socklen_t sl = tp->tp_addr.ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	if (gt_addr_format_ip((const struct sockaddr *)&tp->tp_addr, sl, 0,
	    buf, size) == -1)
		snprintf(buf, size, "%s", gt_ep_peer_addr(tp->tp_conn));
	return buf;
}

/* Handshake done: wrap into a mux and register it, replacing a namesake. */
static void
tun_ready(struct tun_pending *tp)
{
	struct gt_tunnel_server	*ts = tp->tp_srv;
	struct gt_ep		*c = tp->tp_conn;
	struct tun_client	*tc, *old;
	struct gt_mux		*replaced;
	struct gt_mux_params	 p;
	struct gt_mux_cbs	 cbs;
	char			 name[128];
	const char		*cn = gt_ep_peer_cn(c);
	const unsigned char	*serial, *issuer;
	size_t			 serial_len, issuer_len;
	char			 src[GT_ADDR_STRLEN];

	snprintf(name, sizeof(name), "%s", cn != NULL ? cn :
	    gt_ep_peer_addr(c));
	serial = gt_ep_peer_serial(c, &serial_len);
	issuer = gt_ep_peer_issuer(c, &issuer_len);
	/* A handshake begun before SIGHUP ran on the old CRL: check the new. */
	if (gt_tls_ctx_revoked(ts->ts_tls, issuer, issuer_len, serial,
	    serial_len)) {
		gt_log_rl(&tun_rl_refused, GT_LOG_WARN, "tunnel",
		    tun_source(tp, src, sizeof(src)), "refused %s: client "
		    "certificate %s is revoked (listed by the CRL)",
		    gt_ep_peer_addr(c), name);
		tun_pending_free(tp);
		return;
	}
	tp->tp_conn = NULL;
	tun_pending_free(tp);
	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		log_warnx("tunnel", "client %s: out of memory", name);
		gt_ep_free(c);
		return;
	}
	/* Kept for a later CRL: it names the certificate by issuer and serial. */
	if (serial_len <= sizeof(tc->tc_serial) && issuer_len > 0) {
		if ((tc->tc_issuer = malloc(issuer_len)) == NULL) {
			log_warnx("tunnel", "client %s: out of memory", name);
			gt_ep_free(c);
			free(tc);
			return;
		}
		memcpy(tc->tc_issuer, issuer, issuer_len);
		tc->tc_issuer_len = issuer_len;
		memcpy(tc->tc_serial, serial, serial_len);
		tc->tc_serial_len = serial_len;
	}
	memset(&p, 0, sizeof(p));
	p.role = GT_MUX_SERVER;
	p.name = name;
	p.caps = GT_CAP_ALL;
	p.hb_interval = ts->ts_hb_interval;
	p.hb_timeout = ts->ts_hb_timeout;
	p.window = ts->ts_window;
	p.window_max = ts->ts_window_max;
	p.buffer = ts->ts_buffer;
	p.process = &ts->ts_budget;
	p.out_max = ts->ts_out_max;
	memset(&cbs, 0, sizeof(cbs));
	cbs.closed = tun_mux_closed;
	log_info("tunnel", "client %s connected from %s (%s)", name,
	    gt_ep_peer_addr(c), gt_ep_cipher(c));
	if ((tc->tc_mux = gt_mux_new(ts->ts_base, c, &p, &cbs, tc)) == NULL) {
		log_warnx("tunnel", "client %s: cannot start the tunnel", name);
		free(tc->tc_issuer);
		free(tc);
		return;
	}
	tc->tc_srv = ts;
	TAILQ_INSERT_TAIL(&ts->ts_clients, tc, tc_link);
	/* The new tunnel is findable before the old one goes. */
	replaced = gt_registry_add(ts->ts_reg, name, tc->tc_mux);
	if (replaced != NULL) {
		TAILQ_FOREACH(old, &ts->ts_clients, tc_link)
			if (old->tc_mux == replaced)
				break;
		log_info("tunnel", "client %s reconnected: replacing the tunnel from %s",
		    name, gt_mux_peer_addr(replaced));
		if (old != NULL)
			tun_client_free(old);
	}
}

/* Transport events during the handshake. */
static void
tun_handshake_cb(struct gt_ep *c, enum gt_ep_ev ev, void *arg)
{
	struct tun_pending	*tp = arg;
	char			 src[GT_ADDR_STRLEN];

	switch (ev) {
	case GT_EP_EV_READY:
		tun_ready(tp);
		break;
	case GT_EP_EV_ERROR:
		gt_log_rl(&tun_rl_refused, GT_LOG_WARN, "tunnel",
		    tun_source(tp, src, sizeof(src)), "refused %s: %s",
		    gt_ep_peer_addr(c), gt_ep_error(c));
		tun_pending_free(tp);
		break;
	case GT_EP_EV_EOF:
		gt_log_rl(&tun_rl_refused, GT_LOG_WARN, "tunnel",
		    tun_source(tp, src, sizeof(src)), "refused %s: closed "
		    "during the handshake", gt_ep_peer_addr(c));
		tun_pending_free(tp);
		break;
	default:
		break;
	}
}

/* A new TCP connection on the tunnel port. */
static void
tun_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct gt_tunnel_server	*ts = arg;
	struct tun_pending	*tp;

	(void)lev;
	tun_make_room(ts, sa);
	if ((tp = calloc(1, sizeof(*tp))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	tp->tp_srv = ts;
	if (salen > 0 && (size_t)salen <= sizeof(tp->tp_addr))
		memcpy(&tp->tp_addr, sa, (size_t)salen);
	evutil_make_socket_nonblocking(fd);
	if (ts->ts_tls != NULL)
		tp->tp_conn = gt_ep_tls_server(ts->ts_base, fd, ts->ts_tls,
		    tun_handshake_cb, tp);
	else
		tp->tp_conn = gt_ep_plain(ts->ts_base, fd, tun_handshake_cb, tp);
	if (tp->tp_conn == NULL) {
		log_warnx("tunnel", "cannot set up a tunnel connection");
		free(tp);
		return;
	}
	TAILQ_INSERT_TAIL(&ts->ts_pending, tp, tp_link);
	ts->ts_npending++;
	gt_ep_set_handshake_timeout(tp->tp_conn, TUN_HANDSHAKE_TIMEOUT);
}

/* A pause began or ended: the tunnel listener follows. */
static void
tun_pause_cb(int paused, void *arg)
{
	struct gt_tunnel_server *ts = arg;

	if (paused)
		evconnlistener_disable(ts->ts_lev);
	else
		evconnlistener_enable(ts->ts_lev);
}

/* accept() failed: pause on descriptor exhaustion rather than spin. */
static void
tun_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct gt_tunnel_server	*ts = arg;

	(void)lev;
	(void)gt_accept_pause_error(ts->ts_pause, EVUTIL_SOCKET_ERROR());
}

struct gt_tunnel_server *
gt_tunnel_server_new(struct event_base *base, const struct gt_config *cfg,
    struct gt_registry *reg, char *err, size_t errlen)
{
	struct gt_tunnel_server	*ts;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 addr[GT_ADDR_HOSTMAX + 8];

	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ts->ts_base = base;
	ts->ts_reg = reg;
	ts->ts_hb_interval = cfg->tunnel.heartbeat_interval;
	ts->ts_hb_timeout = cfg->tunnel.heartbeat_timeout;
	ts->ts_window = (uint32_t)cfg->limits.stream_window;
	ts->ts_window_max = (uint32_t)cfg->limits.stream_window_max;
	ts->ts_buffer = (uint64_t)cfg->limits.tunnel_buffer;
	ts->ts_out_max = (size_t)cfg->limits.tunnel_output_max;
	ts->ts_budget.limit = (uint64_t)cfg->limits.process_buffer;
	TAILQ_INIT(&ts->ts_pending);
	TAILQ_INIT(&ts->ts_clients);
	if (cfg->security.tunnel.enable_tls &&
	    (ts->ts_tls = tun_load_tls(cfg, err, errlen)) == NULL)
		goto fail;
	(void)gt_addr_join(cfg->tunnel.listen_addr, cfg->tunnel.listen_port,
	    addr, sizeof(addr));
	if (gt_addr_parse_ip(cfg->tunnel.listen_addr, cfg->tunnel.listen_port, 0,
	    &ss, &sslen) == -1) {
		snprintf(err, errlen, "tunnel.listen_addr: bad address %s", addr);
		goto fail;
	}
	ts->ts_lev = evconnlistener_new_bind(base, tun_accept_cb, ts,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    511, (struct sockaddr *)&ss, (int)sslen);
	if (ts->ts_lev == NULL) {
		snprintf(err, errlen, "tunnel: cannot listen on %s: %s", addr,
		    strerror(errno));
		goto fail;
	}
	evconnlistener_set_error_cb(ts->ts_lev, tun_accept_error_cb);
	if ((ts->ts_pause = gt_accept_pause_new(base, TUN_ACCEPT_PAUSE_MS,
	    "tunnel", tun_pause_cb, ts)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	log_info("tunnel", "listening on %s (%s)", addr,
	    ts->ts_tls ? "mutual TLS" : "plain TCP, NO TLS");
	return ts;
fail:
	gt_tunnel_server_free(ts);
	return NULL;
}

int
gt_tunnel_server_reload(struct gt_tunnel_server *ts, const struct gt_config *cfg,
    char *err, size_t errlen)
{
	struct gt_tls_ctx	*nctx;
	struct tun_client	*tc;

	if (ts->ts_tls == NULL)
		return 0;
	if ((nctx = tun_load_tls(cfg, err, errlen)) == NULL)
		return -1;
	/* Live connections keep their reference to the old context. */
	gt_tls_ctx_unref(ts->ts_tls);
	ts->ts_tls = nctx;
	log_info("tunnel", "reloaded certificates, CA and CRL (%zu revoked) for "
	    "new connections", gt_tls_ctx_crl_count(nctx));
	/* A live tunnel outlives its handshake: the new CRL ends it now. */
	TAILQ_FOREACH(tc, &ts->ts_clients, tc_link) {
		if (gt_mux_is_closed(tc->tc_mux) ||
		    !gt_tls_ctx_revoked(nctx, tc->tc_issuer, tc->tc_issuer_len,
		    tc->tc_serial, tc->tc_serial_len))
			continue;
		log_warnx("tunnel", "client %s: certificate revoked, tunnel closed",
		    gt_mux_name(tc->tc_mux));
		gt_mux_end(tc->tc_mux, "certificate revoked");
	}
	return 0;
}

void
gt_tunnel_server_free(struct gt_tunnel_server *ts)
{
	struct tun_pending	*tp;
	struct tun_client	*tc;

	if (ts == NULL)
		return;
	if (ts->ts_lev != NULL) {
		evconnlistener_free(ts->ts_lev);
		ts->ts_lev = NULL;
	}
	while ((tp = TAILQ_FIRST(&ts->ts_pending)) != NULL)
		tun_pending_free(tp);
	while ((tc = TAILQ_FIRST(&ts->ts_clients)) != NULL)
		tun_client_free(tc);
	gt_accept_pause_free(ts->ts_pause);
	if (ts->ts_tls != NULL)
		gt_tls_ctx_unref(ts->ts_tls);
	free(ts);
}

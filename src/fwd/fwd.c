/*
 * fwd.c: the public listeners of the port mappings. One evconnlistener per
 * mapping; accepted sockets go to fwd_direct.c or fwd_tunnel.c. A mapping
 * restored at start whose port cannot be bound stays listed as failed and
 * is retried on a timer. A listener accepts only while three things hold
 * (fwd_listen_update): accept() has not just run out of file descriptors
 * (then every listener pauses for a moment instead of spinning, relayd's
 * accept-pause), the mapping is under its session limit, and the server is
 * under its own. Connections that come meanwhile wait in the kernel's
 * backlog and are served as sessions end.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "gt/accept_pause.h"
#include "gt/addr.h"
#include "gt/counters.h"
#include "gt/endpoint.h"
#include "gt/fwd.h"
#include "gt/rate.h"
#include "gt/registry.h"
#include "gt/log.h"
#include "gt/selfaddr.h"
#include "fwd_local.h"

#define FWD_BACKLOG		511
#define FWD_RETRY_MS		30000
#define FWD_PAUSE_MS		1000
#define FWD_MAX_SESSIONS	20000	/* limits.max_sessions */
#define FWD_MAX_PER_MAP		10000	/* limits.max_sessions_per_mapping */
#define FWD_LOOP_LOG_MS		10000	/* one loop warning a mapping per */

_Static_assert(GT_BANDWIDTH_MAX <= GT_RATE_MAX,
    "bandwidth_limit's bound must fit the bucket's arithmetic");

/* Refusals by access rule: per peer address, so a scan cannot flood the log. */
static struct gt_logrl fwd_access_rl;

static void	fwd_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	fwd_accept_error_cb(struct evconnlistener *, void *);
static void	fwd_retry_cb(evutil_socket_t, short, void *);
static void	fwd_pause_cb(int, void *);
static void	fwd_listen_update(struct fwd_map *);
static void	fwd_listen_update_all(struct gt_fwd *);

/* Render an address as "a.b.c.d:port" or "[v6]:port". */
void
fwd_addr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	(void)gt_addr_format(sa, len, buf, size);	/* "?" if it cannot */
}

/* The resolver for target names: the given one, else our own made on first need. */
struct evdns_base *
fwd_dns(struct gt_fwd *fw)
{
	if (fw->fw_dns != NULL)
		return fw->fw_dns;
	if (fw->fw_owndns == NULL) {
		/* Inactive resolvers must not keep the event loop alive. */
		fw->fw_owndns = evdns_base_new(fw->fw_base,
		    EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (fw->fw_owndns == NULL)
			log_warnx("fwd", "cannot set up a DNS resolver");
	}
	return fw->fw_owndns;
}

/* Parse the listen address: an IPv4 or IPv6 literal, [v6], or empty for 0.0.0.0. */
static int
fwd_parse_listen(struct gt_fwd *fw, const char *addr)
{
	memset(&fw->fw_addr, 0, sizeof(fw->fw_addr));
	if (addr == NULL || *addr == '\0' || strcmp(addr, "*") == 0)
		addr = "0.0.0.0";
	if (gt_addr_parse_ip(addr, 0, GT_ADDR_BRACKETS, &fw->fw_addr,
	    &fw->fw_addrlen) == -1)
		return -1;
	/* For messages that append ":port": IPv6 goes in brackets. */
	(void)gt_addr_format_ip((struct sockaddr *)&fw->fw_addr,
	    fw->fw_addrlen, GT_ADDR_BRACKETS, fw->fw_addrstr,
	    sizeof(fw->fw_addrstr));
	return 0;
}

struct gt_fwd *
gt_fwd_new(struct event_base *base, struct evdns_base *dns,
    struct gt_registry *reg, const char *listen_addr)
{
	struct gt_fwd *fw;

	if ((fw = calloc(1, sizeof(*fw))) == NULL)
		return NULL;
	fw->fw_base = base;
	fw->fw_dns = dns;
	fw->fw_reg = reg;
	fw->fw_retry_ms = FWD_RETRY_MS;
	fw->fw_max_sessions = FWD_MAX_SESSIONS;
	fw->fw_max_per_map = FWD_MAX_PER_MAP;
	TAILQ_INIT(&fw->fw_maps);
	TAILQ_INIT(&fw->fw_conns);
	if (fwd_parse_listen(fw, listen_addr) == -1) {
		log_warnx("fwd", "bad listen address \"%s\"", listen_addr);
		free(fw);
		errno = EINVAL;
		return NULL;
	}
	if ((fw->fw_pause = gt_accept_pause_new(base, FWD_PAUSE_MS, "fwd",
	    fwd_pause_cb, fw)) == NULL) {
		free(fw);
		errno = ENOMEM;
		return NULL;
	}
	return fw;
}

/* The mapping of port, or NULL. */
static struct fwd_map *
fwd_find(struct gt_fwd *fw, uint16_t port)
{
	struct fwd_map *fm;

	TAILQ_FOREACH(fm, &fw->fw_maps, fm_entry)
		if (fm->fm_map.source_port == port)
			return fm;
	return NULL;
}

/* Bind and listen on fm's port; -1 with errno and a reason in err. */
static int
fwd_listen(struct fwd_map *fm, char *err, size_t errlen)
{
	struct gt_fwd *fw = fm->fm_fwd;
	struct sockaddr_storage ss = fw->fw_addr;
	uint16_t port = fm->fm_map.source_port;
	unsigned flags;
	evutil_socket_t fd;
	int one = 1, zero = 0, e;
	const char *what;

	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);

	what = "socket";
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	what = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	/* "::" means both families whatever net.ipv6.bindv6only says. */
	what = "setsockopt";
	if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &zero, sizeof(zero)) == -1)
		goto fail;
	what = "bind";
	if (bind(fd, (struct sockaddr *)&ss, fw->fw_addrlen) == -1)
		goto fail;
	/* Two SO_REUSEADDR sockets may share a bound port: listen() tells. */
	what = "listen";
	if (listen(fd, FWD_BACKLOG) == -1)
		goto fail;

	flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
	    LEV_OPT_DISABLED;
	/* Backlog 0: the socket listens already. */
	fm->fm_lev = evconnlistener_new(fw->fw_base, fwd_accept_cb, fm, flags,
	    0, fd);
	if (fm->fm_lev == NULL) {
		errno = ENOMEM;
		what = "evconnlistener_new";
		goto fail;
	}
	evconnlistener_set_error_cb(fm->fm_lev, fwd_accept_error_cb);
	fm->fm_lev_on = 0;
	fwd_listen_update(fm);
	fm->fm_err[0] = '\0';
	return 0;

 fail:
	e = errno;
	if (fd != -1)
		close(fd);
	if (e == EADDRINUSE)
		snprintf(err, errlen, "port %u is already in use on %s", port,
		    fw->fw_addrstr);
	else if (e == EACCES)
		snprintf(err, errlen, "no permission to listen on %s:%u", 
		    fw->fw_addrstr, port);
	else
		snprintf(err, errlen, "cannot listen on %s:%u: %s: %s",
		    fw->fw_addrstr, port, what, strerror(e));
	errno = e;
	return -1;
}

/* A new mapping record for m with defaults filled in; NULL with errno. */
static struct fwd_map *
fwd_map_new(struct gt_fwd *fw, const struct gt_mapping *m, char *err,
    size_t errlen)
{
	struct fwd_map *fm;

	if (m->source_port == 0) {
		snprintf(err, errlen, "port 0 cannot be mapped");
		errno = EINVAL;
		return NULL;
	}
	if (fwd_find(fw, m->source_port) != NULL) {
		snprintf(err, errlen, "port %u is already mapped", m->source_port);
		errno = EEXIST;
		return NULL;
	}
	if (!m->use_tunnel && (m->target_port == 0 ||
	    memchr(m->target_host, '\0', sizeof(m->target_host)) == NULL ||
	    m->target_host[0] == '\0')) {
		snprintf(err, errlen, "direct mapping of port %u needs a target",
		    m->source_port);
		errno = EINVAL;
		return NULL;
	}
	if ((fm = calloc(1, sizeof(*fm))) == NULL ||
	    (fm->fm_ctr = gt_counters_new()) == NULL ||
	    (fm->fm_rate[FWD_UP] = gt_rate_new(fw->fw_base,
	    m->bandwidth_limit)) == NULL ||
	    (fm->fm_rate[FWD_DOWN] = gt_rate_new(fw->fw_base,
	    m->bandwidth_limit)) == NULL ||
	    (fm->fm_retry = evtimer_new(fw->fw_base, fwd_retry_cb, fm)) == NULL) {
		if (fm != NULL) {
			gt_counters_unref(fm->fm_ctr);
			gt_rate_unref(fm->fm_rate[FWD_UP]);
			gt_rate_unref(fm->fm_rate[FWD_DOWN]);
		}
		free(fm);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	fm->fm_fwd = fw;
	fm->fm_map = *m;
	fm->fm_ctr->on_session = fwd_session_delta;
	fm->fm_ctr->on_session_arg = fm;
	fm->fm_map.target_host[sizeof(fm->fm_map.target_host) - 1] = '\0';
	fm->fm_map.client[sizeof(fm->fm_map.client) - 1] = '\0';
	if (fm->fm_map.use_tunnel) {
		/* SPEC 4: the client dials 127.0.0.1:port unless told otherwise. */
		if (fm->fm_map.target_host[0] == '\0')
			snprintf(fm->fm_map.target_host,
			    sizeof(fm->fm_map.target_host), "127.0.0.1");
		if (fm->fm_map.target_port == 0)
			fm->fm_map.target_port = fm->fm_map.source_port;
	}
	TAILQ_INIT(&fm->fm_sessions);
	return fm;
}

/* Free a mapping record that holds no listener and no session. */
static void
fwd_map_free(struct fwd_map *fm)
{
	/* Its sessions may outlive it: they count against nothing now. */
	fm->fm_fwd->fw_nsessions -= fm->fm_ctr->active;
	fm->fm_ctr->on_session = NULL;
	event_free(fm->fm_retry);
	gt_counters_unref(fm->fm_ctr);
	gt_rate_unref(fm->fm_rate[FWD_UP]);
	gt_rate_unref(fm->fm_rate[FWD_DOWN]);
	free(fm);
}

int
gt_fwd_add(struct gt_fwd *fw, const struct gt_mapping *m, char *err,
    size_t errlen)
{
	struct fwd_map *fm;
	int e;

	if ((fm = fwd_map_new(fw, m, err, errlen)) == NULL)
		return -1;
	if (fwd_listen(fm, err, errlen) == -1) {
		e = errno;
		fwd_map_free(fm);
		errno = e;
		return -1;
	}
	TAILQ_INSERT_TAIL(&fw->fw_maps, fm, fm_entry);
	log_info("fwd", "port %u listening on %s -> %s %s:%u", m->source_port,
	    fw->fw_addrstr, fm->fm_map.use_tunnel ? "tunnel" : "direct",
	    fm->fm_map.target_host, fm->fm_map.target_port);
	return 0;
}

/* Arm the rebinding timer of a failed mapping. */
static void
fwd_retry_arm(struct fwd_map *fm)
{
	struct timeval tv;
	unsigned ms = fm->fm_fwd->fw_retry_ms;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(fm->fm_retry, &tv);
}

/* Try to bind a failed mapping again; log once per kind of failure. */
static void
fwd_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct fwd_map *fm = arg;
	char err[FWD_ERRLEN];
	int e;

	(void)fd;
	(void)ev;
	if (fwd_listen(fm, err, sizeof(err)) == 0) {
		fm->fm_errno = 0;
		log_info("fwd", "port %u listening again", fm->fm_map.source_port);
		return;
	}
	e = errno;
	if (e != fm->fm_errno)
		log_warnx("fwd", "mapping of port %u not listening: %s; retrying",
		    fm->fm_map.source_port, err);
	else
		log_debug("fwd", "mapping of port %u not listening: %s; retrying",
		    fm->fm_map.source_port, err);
	fm->fm_errno = e;
	snprintf(fm->fm_err, sizeof(fm->fm_err), "%s", err);
	fwd_retry_arm(fm);
}

int
gt_fwd_restore(struct gt_fwd *fw, const struct gt_mapping *m)
{
	struct fwd_map *fm;
	char err[FWD_ERRLEN];

	if ((fm = fwd_map_new(fw, m, err, sizeof(err))) == NULL) {
		log_warnx("fwd", "mapping of port %u not restored: %s",
		    m->source_port, err);
		return -1;
	}
	TAILQ_INSERT_TAIL(&fw->fw_maps, fm, fm_entry);
	if (fwd_listen(fm, err, sizeof(err)) == 0) {
		log_info("fwd", "port %u listening on %s -> %s %s:%u (restored)",
		    m->source_port, fw->fw_addrstr,
		    fm->fm_map.use_tunnel ? "tunnel" : "direct",
		    fm->fm_map.target_host, fm->fm_map.target_port);
		return 0;
	}
	fm->fm_errno = errno;
	snprintf(fm->fm_err, sizeof(fm->fm_err), "%s", err);
	log_warnx("fwd", "mapping of port %u not listening: %s; retrying every "
	    "%u ms", m->source_port, err, fw->fw_retry_ms);
	fwd_retry_arm(fm);
	return 1;
}

/* Close fm's listener and sessions and forget it. */
static void
fwd_map_remove(struct gt_fwd *fw, struct fwd_map *fm)
{
	TAILQ_REMOVE(&fw->fw_maps, fm, fm_entry);
	if (fm->fm_lev != NULL)
		evconnlistener_free(fm->fm_lev);
	fm->fm_lev = NULL;
	/* Sessions closed here count down; fwd_map_free forgets the rest. */
	fwd_direct_close_all(fm);
	/* Tunnel sessions of this mapping end with it too. */
	gt_registry_close_streams(fw->fw_reg, fm->fm_ctr);
	fwd_map_free(fm);
}

int
gt_fwd_remove(struct gt_fwd *fw, uint16_t port)
{
	struct fwd_map *fm;

	if ((fm = fwd_find(fw, port)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	fwd_map_remove(fw, fm);
	log_info("fwd", "port %u removed", port);
	return 0;
}

void
gt_fwd_free(struct gt_fwd *fw)
{
	struct fwd_map *fm;

	if (fw == NULL)
		return;
	while ((fm = TAILQ_FIRST(&fw->fw_maps)) != NULL)
		fwd_map_remove(fw, fm);
	fwd_conns_free(fw);
	gt_accept_pause_free(fw->fw_pause);
	/*
	 * A bufferevent freed during its lookup lives on until the lookup
	 * ends: fail the pending ones so they release it now.
	 */
	if (fw->fw_owndns != NULL)
		evdns_base_free(fw->fw_owndns, 1);
	free(fw);
}

const struct gt_counters *
gt_fwd_counters(struct gt_fwd *fw, uint16_t port)
{
	struct fwd_map *fm = fwd_find(fw, port);

	return fm != NULL ? fm->fm_ctr : NULL;
}

/* Every served mapping and its counters, in the order they were added. */
void
gt_fwd_maps_foreach(struct gt_fwd *fw, gt_fwd_map_cb *cb, void *arg)
{
	struct fwd_map *fm;

	TAILQ_FOREACH(fm, &fw->fw_maps, fm_entry)
		cb(&fm->fm_map, fm->fm_ctr, arg);
}

void
gt_fwd_totals(struct gt_fwd *fw, uint64_t *active, uint64_t *bytes_in,
    uint64_t *bytes_out)
{
	struct fwd_map *fm;
	uint64_t a = 0, in = 0, out = 0;

	TAILQ_FOREACH(fm, &fw->fw_maps, fm_entry) {
		a += fm->fm_ctr->active;
		in += fm->fm_ctr->bytes_in;
		out += fm->fm_ctr->bytes_out;
	}
	if (active != NULL)
		*active = a;
	if (bytes_in != NULL)
		*bytes_in = in;
	if (bytes_out != NULL)
		*bytes_out = out;
}

unsigned
gt_fwd_paused(struct gt_fwd *fw)
{
	return gt_accept_pause_count(fw->fw_pause);
}

const char *
gt_fwd_error(struct gt_fwd *fw, uint16_t port)
{
	struct fwd_map *fm = fwd_find(fw, port);

	if (fm == NULL || fm->fm_lev != NULL)
		return NULL;
	return fm->fm_err;
}

size_t
gt_fwd_buffered(struct gt_fwd *fw, uint16_t port)
{
	struct fwd_map *fm = fwd_find(fw, port);

	return fm != NULL ? fwd_direct_buffered(fm) : 0;
}

void
gt_fwd_set_retry_interval(struct gt_fwd *fw, unsigned ms)
{
	struct fwd_map *fm;

	fw->fw_retry_ms = ms;
	TAILQ_FOREACH(fm, &fw->fw_maps, fm_entry)
		if (fm->fm_lev == NULL)
			fwd_retry_arm(fm);
}

void
gt_fwd_set_pause_interval(struct gt_fwd *fw, unsigned ms)
{
	gt_accept_pause_set_interval(fw->fw_pause, ms);
}

/* A public connection arrived: hand it to its mode. */
static void
fwd_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct fwd_map *fm = arg;
	char peer[FWD_ADDRSTRLEN];
	int one = 1;

	(void)lev;
	fwd_addr_str(sa, (socklen_t)salen, peer, sizeof(peer));
	/* The access rule first: a refused peer costs nothing more. */
	if (!gt_mapping_admits(&fm->fm_map, sa)) {
		char ip[GT_ADDR_STRLEN];

		fm->fm_ctr->refused++;
		(void)gt_addr_format_ip(sa, (socklen_t)salen, 0, ip, sizeof(ip));
		gt_log_rl(&fwd_access_rl, GT_LOG_INFO, "fwd", ip,
		    "port %u: %s refused by the mapping's access rule (%s)",
		    fm->fm_map.source_port, peer,
		    gt_mapping_rule_name(fm->fm_map.access_rule));
		evutil_closesocket(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (fm->fm_map.use_tunnel)
		fwd_tunnel_accept(fm, fd, peer);
	else
		fwd_direct_accept(fm, fd, peer);
}

/* accept() failed: on descriptor exhaustion every listener pauses a moment. */
static void
fwd_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct fwd_map *fm = arg;

	(void)lev;
	(void)gt_accept_pause_error(fm->fm_fwd->fw_pause, EVUTIL_SOCKET_ERROR());
}

/* The pause began or ended: every listener follows. */
static void
fwd_pause_cb(int paused, void *arg)
{
	struct gt_fwd *fw = arg;

	(void)paused;
	fwd_listen_update_all(fw);
}

/* fm's session limit: its max_connections, else the server's per-mapping one. */
static unsigned
fwd_map_limit(const struct fwd_map *fm)
{
	return fm->fm_map.max_connections > 0 ? fm->fm_map.max_connections :
	    fm->fm_fwd->fw_max_per_map;
}

/*
 * Accept on fm's port only while nothing says stop: a descriptor shortage,
 * the mapping's session limit, the server's. Logged when a limit starts or
 * stops holding connections back.
 */
static void
fwd_listen_update(struct fwd_map *fm)
{
	struct gt_fwd	*fw = fm->fm_fwd;
	int		 full_map, full_all, on;

	if (fm->fm_lev == NULL)
		return;
	full_map = fm->fm_ctr->active >= fwd_map_limit(fm);
	full_all = fw->fw_nsessions >= fw->fw_max_sessions;
	on = !gt_accept_paused(fw->fw_pause) && !full_map && !full_all;
	if (on == fm->fm_lev_on)
		return;
	fm->fm_lev_on = on;
	if (on)
		evconnlistener_enable(fm->fm_lev);
	else
		evconnlistener_disable(fm->fm_lev);
	if (full_map != fm->fm_full) {
		fm->fm_full = full_map;
		if (full_map)
			log_warnx("fwd", "port %u: %u sessions, the mapping's "
			    "limit: new connections wait", fm->fm_map.source_port,
			    fwd_map_limit(fm));
		else
			log_info("fwd", "port %u: under its session limit, "
			    "accepting again", fm->fm_map.source_port);
	}
}

/* The same for every mapping (a server-wide condition changed). */
static void
fwd_listen_update_all(struct gt_fwd *fw)
{
	struct fwd_map *fm;

	TAILQ_FOREACH(fm, &fw->fw_maps, fm_entry)
		fwd_listen_update(fm);
}

/* A session of a mapping began or ended: the limits may hold or free it. */
void
fwd_session_delta(int delta, void *arg)
{
	struct fwd_map	*fm = arg;
	struct gt_fwd	*fw = fm->fm_fwd;
	int		 was_full = fw->fw_nsessions >= fw->fw_max_sessions;

	if (delta < 0 && fw->fw_nsessions == 0)
		return;
	fw->fw_nsessions += delta;
	if (was_full != (fw->fw_nsessions >= fw->fw_max_sessions)) {
		if (!was_full)
			log_warnx("fwd", "%u sessions, the server's limit: new "
			    "connections wait", fw->fw_max_sessions);
		else
			log_info("fwd", "under the server's session limit, "
			    "accepting again");
		fwd_listen_update_all(fw);
	} else
		fwd_listen_update(fm);
}

void
gt_fwd_set_limits(struct gt_fwd *fw, unsigned max_sessions,
    unsigned max_per_mapping)
{
	fw->fw_max_sessions = max_sessions > 0 ? max_sessions : FWD_MAX_SESSIONS;
	fw->fw_max_per_map = max_per_mapping > 0 ? max_per_mapping :
	    FWD_MAX_PER_MAP;
	fwd_listen_update_all(fw);
}

/* A tunnel stream's public peer, checked against the mapping's new rule. */
static int
fwd_stream_keep(const struct gt_ep *ep, void *arg)
{
	struct fwd_map		*fm = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	evutil_socket_t		 fd = gt_ep_fd(ep);

	if (fd == -1 || getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return 1;	/* not a socket, or already gone: nothing to judge */
	if (gt_mapping_admits(&fm->fm_map, (struct sockaddr *)&ss))
		return 1;
	fm->fm_ctr->refused++;
	return 0;
}

int
gt_fwd_update(struct gt_fwd *fw, const struct gt_mapping *m)
{
	struct fwd_map		*fm;
	struct gt_mapping	*cur;

	if ((fm = fwd_find(fw, m->source_port)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	cur = &fm->fm_map;
	/* id, use_tunnel and created_at stay: update does not change them. */
	memcpy(cur->target_host, m->target_host, sizeof(cur->target_host));
	cur->target_host[sizeof(cur->target_host) - 1] = '\0';
	cur->target_port = m->target_port;
	memcpy(cur->client, m->client, sizeof(cur->client));
	cur->client[sizeof(cur->client) - 1] = '\0';
	cur->access_rule = m->access_rule;
	cur->n_access_ips = m->n_access_ips > GT_ACCESS_IPS_MAX ?
	    GT_ACCESS_IPS_MAX : m->n_access_ips;
	memcpy(cur->access_ips, m->access_ips,
	    cur->n_access_ips * sizeof(cur->access_ips[0]));
	cur->max_connections = m->max_connections;
	cur->bandwidth_limit = m->bandwidth_limit;
	/* Running transfers take the new rate at once: they share these. */
	gt_rate_set(fm->fm_rate[FWD_UP], cur->bandwidth_limit);
	gt_rate_set(fm->fm_rate[FWD_DOWN], cur->bandwidth_limit);
	memcpy(cur->proxy_protocol, m->proxy_protocol,
	    sizeof(cur->proxy_protocol));
	cur->proxy_protocol[sizeof(cur->proxy_protocol) - 1] = '\0';
	/* A tightened rule also ends what it would not admit now. */
	fwd_direct_close_refused(fm);
	gt_registry_close_streams_if(fw->fw_reg, fm->fm_ctr, fwd_stream_keep,
	    fm, "refused by the new access rule");
	fwd_listen_update(fm);
	log_info("fwd", "port %u updated: -> %s:%u, access %s (%zu entries), "
	    "max_connections %u, bandwidth_limit %llu", cur->source_port,
	    cur->target_host, cur->target_port,
	    gt_mapping_rule_name(cur->access_rule), cur->n_access_ips,
	    cur->max_connections, (unsigned long long)cur->bandwidth_limit);
	return 0;
}

int
gt_fwd_reload(struct gt_fwd *fw, const struct gt_mapping *m)
{
	struct fwd_map *fm;

	if ((fm = fwd_find(fw, m->source_port)) != NULL)
		fwd_map_remove(fw, fm);
	return gt_fwd_restore(fw, m);
}

int
gt_fwd_throttled(struct gt_fwd *fw, uint16_t port, int dir, uint64_t *events,
    uint64_t *waited_ns)
{
	struct fwd_map *fm = fwd_find(fw, port);
	struct gt_rate *r;

	if (fm == NULL) {
		errno = ENOENT;
		return -1;
	}
	r = fm->fm_rate[dir != 0 ? FWD_DOWN : FWD_UP];
	if (events != NULL)
		*events = gt_rate_throttled(r);
	if (waited_ns != NULL)
		*waited_ns = gt_rate_waited_ns(r);
	return 0;
}

unsigned
gt_fwd_sessions(struct gt_fwd *fw)
{
	return fw->fw_nsessions;
}

void
gt_fwd_set_own_ports(struct gt_fwd *fw, uint16_t api_port, uint16_t tunnel_port)
{
	fw->fw_api_port = api_port;
	fw->fw_tun_port = tunnel_port;
}

/* Is port one of this server's: the API, the tunnel, a mapping's? */
static int
fwd_own_port(struct gt_fwd *fw, uint16_t port)
{
	return port == fw->fw_api_port || port == fw->fw_tun_port ||
	    fwd_find(fw, port) != NULL;
}

/*
 * The run-time half of the self-target guard (the API refuses literals at
 * create): every address a direct target resolves to, names included, is
 * refused when it reaches this host at one of our ports.
 */
int
fwd_self_filter(const struct sockaddr *sa, socklen_t len, void *arg)
{
	struct gt_fwd	*fw = arg;
	uint16_t	 port;

	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6 &&
	    len >= sizeof(struct sockaddr_in6))
		port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	else
		return 0;
	if (!fwd_own_port(fw, port))
		return 0;
	return gt_self_sockaddr(sa, len);
}

/*
 * Would fm's tunnel session come straight back here? Provably so when the
 * client reached us over loopback (the same host and network namespace:
 * its 127.0.0.1 is ours) and the target is this host at one of our ports.
 * A client that came by another address may be in a container with a
 * loopback of its own: there the session limit bounds a loop instead.
 */
int
fwd_tunnel_loops(struct fwd_map *fm, const char *tunnel_peer)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	const uint8_t		*b;
	size_t			 n;
	char			 host[GT_ADDR_STRLEN];
	uint16_t		 port;

	if (tunnel_peer == NULL ||
	    gt_addr_split(tunnel_peer, host, sizeof(host), &port) == -1 ||
	    gt_addr_parse_ip(host, 0, 0, &ss, &sl) == -1 ||
	    (n = gt_addr_bytes((struct sockaddr *)&ss, sl, &b)) == 0 ||
	    !gt_self_is_local(b, n))
		return 0;
	return gt_self_host(fm->fm_map.target_host) == 1 &&
	    fwd_own_port(fm->fm_fwd, fm->fm_map.target_port);
}

/*
 * A session refused because its target is this server itself: one warning
 * a mapping per FWD_LOOP_LOG_MS with the count, not one line a session (a
 * loop makes them as fast as it can).
 */
void
fwd_loop_note(struct fwd_map *fm)
{
	struct timespec	now;
	long long	ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	fm->fm_loop_refused++;
	if (fm->fm_loop_logged != 0 && ms - fm->fm_loop_logged < FWD_LOOP_LOG_MS)
		return;
	log_warnx("fwd", "port %u: target %s:%u is this server's own port (a "
	    "loop): %lu session(s) refused%s", fm->fm_map.source_port,
	    fm->fm_map.target_host, fm->fm_map.target_port,
	    fm->fm_loop_refused, fm->fm_loop_logged != 0 ?
	    " since the last warning" : "");
	fm->fm_loop_logged = ms;
	fm->fm_loop_refused = 0;
}

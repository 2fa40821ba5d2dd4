/*
 * fwd_direct.c: direct-mode sessions. A session is the public user's
 * endpoint, a dial to the mapping's target, then a relay of the two
 * (src/io/relay.c carries backpressure and half-close both ways), and one
 * teardown every path goes through. The user is not read until the target
 * answers: what the user sends meanwhile waits in the kernel. A mapping
 * with proxy_protocol writes the PROXY header to the target first; its
 * version is taken at accept, so an update applies to new sessions.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "gt/counters.h"
#include "gt/dialer.h"
#include "gt/endpoint.h"
#include "gt/log.h"
#include "gt/proxy_hdr.h"
#include "gt/rate.h"
#include "gt/relay.h"
#include "fwd_local.h"

#define FWD_HIWAT		(256 * 1024)	/* buffered per direction */
#define FWD_CONNECT_TIMEOUT	10		/* seconds, DNS included */

struct fwd_session {
	TAILQ_ENTRY(fwd_session) fs_entry;
	struct fwd_map		*fs_map;
	struct gt_counters	*fs_ctr;	/* referenced while we live */
	struct gt_ep		*fs_pub;	/* the user, until the relay takes it */
	struct gt_dial		*fs_dial;	/* the target, while dialling */
	struct gt_relay		*fs_relay;	/* both, once connected */
	char			 fs_peer[FWD_ADDRSTRLEN];
	struct sockaddr_storage	 fs_sa;		/* the peer, for the access rule */
	struct gt_proxy_addr	 fs_pp;		/* the PROXY header's addresses */
	int			 fs_has_pp;	/* send it to the target first */
	struct timespec		 fs_start;
	int			 fs_quiet;	/* logged in aggregate instead */
	struct fwd_conn		 fs_conn;	/* our entry in the session table */
};

/* Seconds since t. */
static double
fwd_elapsed(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* The one teardown: log the session, free its parts, drop the references. */
static void
fwd_session_close(struct fwd_session *s, const char *why)
{
	struct fwd_map *fm = s->fs_map;
	const struct gt_mapping *m = &fm->fm_map;

	if (s->fs_quiet)
		;
	else if (s->fs_relay != NULL)
		log_info("fwd", "port %u: %s -> %s:%u closed (%s): %llu bytes in, "
		    "%llu bytes out, %.3f s", m->source_port, s->fs_peer,
		    m->target_host, m->target_port, why,
		    (unsigned long long)gt_relay_moved(s->fs_relay, 0),
		    (unsigned long long)gt_relay_moved(s->fs_relay, 1),
		    fwd_elapsed(&s->fs_start));
	else
		log_info("fwd", "port %u: %s -> %s:%u refused: %s",
		    m->source_port, s->fs_peer, m->target_host, m->target_port,
		    why);
	TAILQ_REMOVE(&fm->fm_sessions, s, fs_entry);
	fm->fm_nsessions--;
	fwd_conn_remove(&s->fs_conn);
	if (s->fs_dial != NULL)
		gt_dial_cancel(s->fs_dial);
	gt_relay_free(s->fs_relay);	/* safe inside its own callback */
	gt_ep_free(s->fs_pub);
	gt_counters_end(s->fs_ctr);
	gt_counters_unref(s->fs_ctr);
	free(s);
}

/* The relay ended: so does the session. */
static void
fwd_relay_done(struct gt_relay *r, const char *why, void *arg)
{
	(void)r;
	fwd_session_close(arg, why);
}

/* Queue s's PROXY header as the first bytes to tgt. 0, or -1. */
static int
fwd_direct_proxy_hdr(struct fwd_session *s, struct gt_ep *tgt)
{
	uint8_t	hdr[GT_PROXY_HDR_MAX];
	int	n;

	if ((n = gt_proxy_hdr_encode(&s->fs_pp, hdr, sizeof(hdr))) <= 0 ||
	    evbuffer_add(gt_ep_output(tgt), hdr, (size_t)n) != 0)
		return -1;
	gt_ep_kick(tgt);
	return 0;
}

/*
 * The PROXY header's addresses of the connection fd when fm wants one:
 * the user (peer) and the public listener's address (local). 0 when none
 * is wanted or it is filled in, -1 when the addresses cannot be had (the
 * session is refused rather than sent without the header it was promised).
 */
int
fwd_proxy_addr(const struct fwd_map *fm, evutil_socket_t fd,
    struct gt_proxy_addr *pa, int *has)
{
	struct sockaddr_storage	 peer, local;
	socklen_t		 pl = sizeof(peer), ll = sizeof(local);
	int			 v;

	*has = 0;
	v = gt_proxy_version_parse(fm->fm_map.proxy_protocol);
	if (v <= 0)
		return 0;
	if (fd == -1 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) == -1 ||
	    getsockname(fd, (struct sockaddr *)&local, &ll) == -1 ||
	    gt_proxy_addr_set(pa, v, (struct sockaddr *)&peer,
	    (struct sockaddr *)&local) == -1)
		return -1;
	*has = 1;
	return 0;
}

/* The dial ended: relay the user to the target, or give up. */
static void
fwd_dial_done(evutil_socket_t fd, int err, const char *why, void *arg)
{
	struct fwd_session	*s = arg;
	struct fwd_map		*fm = s->fs_map;
	struct gt_ep		*tgt;
	int			 one = 1;

	s->fs_dial = NULL;
	if (fd == -1) {
		if (err == ELOOP) {
			fwd_loop_note(fm);
			s->fs_quiet = 1;
		}
		fwd_session_close(s, why);
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if ((tgt = gt_ep_plain_open(fm->fm_fwd->fw_base, fd, NULL,
	    NULL)) == NULL) {
		fwd_session_close(s, "out of memory");
		return;
	}
	/* The header goes before anything the relay moves (splice waits for an empty output). */
	if (s->fs_has_pp && fwd_direct_proxy_hdr(s, tgt) == -1) {
		gt_ep_free(tgt);
		fwd_session_close(s, "cannot write the PROXY header");
		return;
	}
	/* bandwidth_limit: what comes from the target is paced by reading it. */
	gt_ep_set_rate(tgt, fm->fm_rate[FWD_DOWN], NULL);
	clock_gettime(CLOCK_MONOTONIC, &s->fs_start);
	log_debug("fwd", "port %u: %s -> %s:%u connected", fm->fm_map.source_port,
	    s->fs_peer, fm->fm_map.target_host, fm->fm_map.target_port);
	s->fs_relay = gt_relay_new(s->fs_pub, tgt, FWD_HIWAT,
	    &s->fs_ctr->bytes_in, &s->fs_ctr->bytes_out, fwd_relay_done, s);
	s->fs_pub = NULL;	/* the relay's now, even on failure */
	if (s->fs_relay == NULL)
		fwd_session_close(s, "out of memory");
}

/* A public connection to a direct mapping: dial its target. fd is ours now. */
void
fwd_direct_accept(struct fwd_map *fm, evutil_socket_t fd, const char *peer)
{
	struct gt_fwd		*fw = fm->fm_fwd;
	struct fwd_session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warnx("fwd", "port %u: %s dropped: out of memory",
		    fm->fm_map.source_port, peer);
		evutil_closesocket(fd);
		return;
	}
	s->fs_map = fm;
	s->fs_ctr = gt_counters_ref(fm->fm_ctr);
	snprintf(s->fs_peer, sizeof(s->fs_peer), "%s", peer);
	if (fd != -1) {
		socklen_t sl = sizeof(s->fs_sa);

		(void)getpeername(fd, (struct sockaddr *)&s->fs_sa, &sl);
	}
	clock_gettime(CLOCK_MONOTONIC, &s->fs_start);
	TAILQ_INSERT_TAIL(&fm->fm_sessions, s, fs_entry);
	fm->fm_nsessions++;
	s->fs_conn.fc_session = s;
	fwd_conn_insert(fw, &s->fs_conn, fm->fm_map.source_port, peer, NULL,
	    fm->fm_map.target_host, fm->fm_map.target_port);
	gt_counters_begin(s->fs_ctr);
	if ((s->fs_pub = gt_ep_plain_open(fw->fw_base, fd, NULL, NULL)) == NULL) {
		fwd_session_close(s, "out of memory");
		return;
	}
	if (fwd_proxy_addr(fm, fd, &s->fs_pp, &s->fs_has_pp) == -1) {
		fwd_session_close(s, "no addresses for the PROXY header");
		return;
	}
	/* Nothing is read from the user before the target answers. */
	gt_ep_read_enable(s->fs_pub, 0);
	/* bandwidth_limit: what the user sends is paced by reading it. */
	gt_ep_set_rate(s->fs_pub, fm->fm_rate[FWD_UP], NULL);
	s->fs_dial = gt_dial_start_filtered(fw->fw_base, fwd_dns(fw),
	    fm->fm_map.target_host, fm->fm_map.target_port,
	    FWD_CONNECT_TIMEOUT, fwd_self_filter, fw, fwd_dial_done, s);
	if (s->fs_dial == NULL)
		fwd_session_close(s, strerror(errno));
}

/* Close every session of fm (its mapping is going away). */
void
fwd_direct_close_all(struct fwd_map *fm)
{
	struct fwd_session *s;

	while ((s = TAILQ_FIRST(&fm->fm_sessions)) != NULL)
		fwd_session_close(s, "mapping removed");
}

/* The access rule changed: close the sessions it refuses now. */
void
fwd_direct_close_refused(struct fwd_map *fm)
{
	struct fwd_session *s, *next;

	for (s = TAILQ_FIRST(&fm->fm_sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, fs_entry);
		if (!gt_mapping_admits(&fm->fm_map,
		    (struct sockaddr *)&s->fs_sa)) {
			fm->fm_ctr->refused++;
			fwd_session_close(s, "refused by the new access rule");
		}
	}
}

/* Bytes fm's sessions hold in memory. */
size_t
fwd_direct_buffered(const struct fwd_map *fm)
{
	const struct fwd_session *s;
	size_t n = 0;

	TAILQ_FOREACH(s, &fm->fm_sessions, fs_entry)
		if (s->fs_relay != NULL)
			n += gt_relay_buffered(s->fs_relay);
	return n;
}

/* Bytes s has relayed each way (none while it dials). */
void
fwd_direct_bytes(const struct fwd_session *s, uint64_t *in, uint64_t *out)
{
	*in = s->fs_relay != NULL ? gt_relay_moved(s->fs_relay, 0) : 0;
	*out = s->fs_relay != NULL ? gt_relay_moved(s->fs_relay, 1) : 0;
}

/* Close s now (the API asked), through the one teardown. */
void
fwd_direct_close(struct fwd_session *s, const char *why)
{
	fwd_session_close(s, why);
}

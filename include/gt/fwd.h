/*
 * fwd.h: the public side of the server. One listener per mapping; each
 * accepted connection is forwarded either directly (the server dials the
 * target, asynchronously, and pipes bytes with backpressure and half-close)
 * or through a tunnel picked from the registry.
 */
#ifndef GT_FWD_H
#define GT_FWD_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>

#include "gt/mapping.h"

struct event_base;
struct evdns_base;
struct gt_counters;
struct gt_registry;
struct gt_fwd;

/* reg (borrowed, may be NULL when tunnels are disabled) routes tunnel mappings. */
struct gt_fwd *gt_fwd_new(struct event_base *, struct evdns_base *,
	    struct gt_registry *reg, const char *listen_addr);
/* Close every listener and session. */
void	gt_fwd_free(struct gt_fwd *);

/*
 * Start serving m (copied). 0 on success; -1 with errno set and a reason in
 * err: EADDRINUSE (port taken by the OS), EEXIST (already mapped here),
 * EACCES, others.
 */
int	gt_fwd_add(struct gt_fwd *, const struct gt_mapping *m, char *err, size_t errlen);
/* Stop serving port and close its sessions. -1 (ENOENT) if not served. */
int	gt_fwd_remove(struct gt_fwd *, uint16_t port);
/* Live figures of port (borrowed), or NULL if not served. */
const struct gt_counters *gt_fwd_counters(struct gt_fwd *, uint16_t port);
/*
 * Call cb for every mapping served (listening or kept failed) with its
 * counters, which cb may ref to keep past the mapping's removal; a reload
 * gives the mapping new counters. cb must not add or remove mappings.
 */
typedef void gt_fwd_map_cb(const struct gt_mapping *m, struct gt_counters *ctr,
	    void *arg);
void	gt_fwd_maps_foreach(struct gt_fwd *, gt_fwd_map_cb *cb, void *arg);
/* Sum over every mapping: sessions open now, bytes each way. */
void	gt_fwd_totals(struct gt_fwd *, uint64_t *active, uint64_t *bytes_in,
	    uint64_t *bytes_out);
/* Listeners paused because file descriptors ran out (for metrics). */
unsigned gt_fwd_paused(struct gt_fwd *);

/*
 * Serve m (copied) at start-up: as gt_fwd_add, but a port that cannot be
 * bound keeps the mapping in a failed state (gt_fwd_error says why) and a
 * timer retries binding it (every 30 s). 0 listening, 1 kept failed,
 * -1 with errno when not kept: EEXIST, EINVAL, ENOMEM.
 */
int	gt_fwd_restore(struct gt_fwd *, const struct gt_mapping *m);
/* Why port is not listening (borrowed, until the next call), or NULL if it is or is unknown. */
const char *gt_fwd_error(struct gt_fwd *, uint16_t port);
/* Bytes held in memory by the direct sessions of port (memory bound checks). */
size_t	gt_fwd_buffered(struct gt_fwd *, uint16_t port);
/* Tests: milliseconds between rebinding attempts (default 30000) and of an accept pause (default 1000). */
void	gt_fwd_set_retry_interval(struct gt_fwd *, unsigned ms);
/*
 * Session limits (limits.max_sessions, limits.max_sessions_per_mapping; 0:
 * the defaults): a port stops accepting at its limit and starts again when
 * a session ends.
 */
void	gt_fwd_set_limits(struct gt_fwd *, unsigned max_sessions,
	    unsigned max_per_mapping);
/*
 * The server's own ports besides the mappings' (0: none): a direct
 * session whose target resolves to this host at one of them, or at any
 * mapping's public port, is refused (a loop, or the API published).
 */
void	gt_fwd_set_own_ports(struct gt_fwd *, uint16_t api_port,
	    uint16_t tunnel_port);
/*
 * Apply m's changed fields (target, client, access rule, max_connections,
 * bandwidth_limit, proxy_protocol) to the served mapping of m->source_port
 * at once: new connections see them, open sessions whose peer the new rule
 * refuses are closed, and running transfers move at the new rate.
 * proxy_protocol applies to new sessions only: a running one has sent its
 * header (or none) already. -1 (ENOENT) if not served.
 */
int	gt_fwd_update(struct gt_fwd *, const struct gt_mapping *m);
/*
 * Serve m afresh: close its listener and sessions if served, then as
 * gt_fwd_restore (a port that cannot be bound is kept failed and retried).
 */
int	gt_fwd_reload(struct gt_fwd *, const struct gt_mapping *m);
/*
 * One live public session, as gt_fwd_sessions_foreach shows it. The
 * strings are borrowed for the callback's duration only.
 */
struct gt_fwd_session_info {
	uint64_t	 id;		/* unique in the process, never reused */
	uint16_t	 port;		/* the mapping's public port */
	int		 tunnel;	/* 1: through a tunnel, 0: direct */
	const char	*peer;		/* the public user, "ip:port" or "[v6]:port" */
	const char	*client;	/* the tunnel client's name; "" for direct */
	const char	*target;	/* "host:port" the session reaches */
	uint64_t	 bytes_in;	/* user -> target so far */
	uint64_t	 bytes_out;	/* target -> user so far */
	time_t		 started_at;	/* accepted at (wall clock) */
	double		 age;		/* seconds since, monotonic */
};
typedef void gt_fwd_session_cb(const struct gt_fwd_session_info *, void *arg);
/*
 * Call cb for every live session, direct and tunnel, in id order (the
 * order they were accepted). cb must not open or close sessions.
 */
void	gt_fwd_sessions_foreach(struct gt_fwd *, gt_fwd_session_cb *cb, void *arg);
/*
 * End session id now, both sides, through its one teardown (counted and
 * logged as any close, with why). -1 (ENOENT) if no such live session.
 */
int	gt_fwd_session_close(struct gt_fwd *, uint64_t id, const char *why);
/*
 * bandwidth_limit's pacing of port, dir 0 user -> target, 1 target -> user:
 * times a session had to wait for its turn, and the time waited (summed
 * over sessions). -1 (ENOENT) if not served.
 */
int	gt_fwd_throttled(struct gt_fwd *, uint16_t port, int dir,
	    uint64_t *events, uint64_t *waited_ns);
/* Public sessions open now, all mappings. */
unsigned gt_fwd_sessions(struct gt_fwd *);
void	gt_fwd_set_pause_interval(struct gt_fwd *, unsigned ms);

#endif

/*
 * fwd_local.h: the forwarder's inside, shared by fwd.c (listeners),
 * fwd_direct.c (sessions the server dials itself) and fwd_tunnel.c
 * (hand-off of accepted sockets to a tunnel mux).
 */
#ifndef GT_FWD_LOCAL_H
#define GT_FWD_LOCAL_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "gt/fwd.h"
#include "gt/mapping.h"

#define FWD_ERRLEN	256
#define FWD_ADDRSTRLEN	64	/* "[v6]:port" */
#define FWD_UP		0	/* fm_rate: reading the user */
#define FWD_DOWN	1	/* fm_rate: reading the target, or writing the user */

struct event;
struct evconnlistener;
struct gt_accept_pause;
struct gt_rate;
struct fwd_session;

TAILQ_HEAD(fwd_sessions, fwd_session);

/* One served mapping: its listener (NULL while failed) and its sessions. */
struct fwd_map {
	TAILQ_ENTRY(fwd_map)	 fm_entry;
	struct gt_fwd		*fm_fwd;
	struct gt_mapping	 fm_map;	/* our copy */
	struct evconnlistener	*fm_lev;	/* NULL while binding fails */
	struct gt_counters	*fm_ctr;
	/*
	 * bandwidth_limit's buckets, one a direction (FWD_UP user -> target,
	 * FWD_DOWN target -> user), shared by the sessions, which reference
	 * them: a session outlives its mapping safely.
	 */
	struct gt_rate		*fm_rate[2];
	char			 fm_err[FWD_ERRLEN];	/* "" while listening */
	int			 fm_errno;	/* last bind failure, to log once */
	struct event		*fm_retry;	/* rebinding timer of a failed mapping */
	struct fwd_sessions	 fm_sessions;	/* live direct sessions */
	size_t			 fm_nsessions;
	int			 fm_lev_on;	/* the listener is enabled */
	int			 fm_full;	/* at its session limit (logged) */
	long long		 fm_loop_logged;	/* ms of the last loop warning, 0 never */
	unsigned long		 fm_loop_refused;	/* loop refusals since then */
};

TAILQ_HEAD(fwd_maps, fwd_map);

struct gt_fwd {
	struct event_base	*fw_base;
	struct evdns_base	*fw_dns;	/* borrowed, may be NULL */
	struct evdns_base	*fw_owndns;	/* made on first need when fw_dns is NULL */
	struct gt_registry	*fw_reg;	/* borrowed, may be NULL */
	struct sockaddr_storage	 fw_addr;	/* listen address, port 0 */
	socklen_t		 fw_addrlen;
	char			 fw_addrstr[FWD_ADDRSTRLEN];
	struct fwd_maps		 fw_maps;
	struct gt_accept_pause	*fw_pause;	/* descriptor shortage: all listeners wait */
	unsigned		 fw_retry_ms;
	unsigned		 fw_nsessions;	/* public sessions of live mappings */
	unsigned		 fw_max_sessions;
	unsigned		 fw_max_per_map;
	uint16_t		 fw_api_port;	/* ports of this server that are not */
	uint16_t		 fw_tun_port;	/* mappings (0: none) */
};

/* fwd.c */
struct evdns_base *fwd_dns(struct gt_fwd *);
void	fwd_addr_str(const struct sockaddr *, socklen_t, char *, size_t);

/* fwd.c: the dial filter, refusing this host at one of the server's own ports */
int	fwd_self_filter(const struct sockaddr *, socklen_t, void *fw);
/* fwd.c: a tunnel session of fm through a client at tunnel_peer would loop */
int	fwd_tunnel_loops(struct fwd_map *, const char *tunnel_peer);
/* fwd.c: one more session refused as a loop; warns at most every 10 s */
void	fwd_loop_note(struct fwd_map *);

/* fwd.c: counters' hook, a session began (+1) or ended (-1) */
void	fwd_session_delta(int delta, void *arg);

/* fwd_direct.c */
void	fwd_direct_accept(struct fwd_map *, evutil_socket_t, const char *peer);
void	fwd_direct_close_all(struct fwd_map *);
size_t	fwd_direct_buffered(const struct fwd_map *);
/* Close fm's sessions whose peer fm's access rule now refuses. */
void	fwd_direct_close_refused(struct fwd_map *);

/* fwd_tunnel.c */
void	fwd_tunnel_accept(struct fwd_map *, evutil_socket_t, const char *peer);

#endif

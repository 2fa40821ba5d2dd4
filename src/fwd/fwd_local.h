/*
 * fwd_local.h: the forwarder's inside, shared by fwd.c (listeners),
 * fwd_direct.c (sessions the server dials itself) and fwd_tunnel.c
 * (hand-off of accepted sockets to a tunnel mux).
 */
#ifndef GT_FWD_LOCAL_H
#define GT_FWD_LOCAL_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <time.h>

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
struct gt_mux;
struct gt_rate;
struct fwd_session;
struct gt_proxy_addr;

TAILQ_HEAD(fwd_sessions, fwd_session);

/*
 * One live public session in the forwarder's table (fwd_conns.c), found by
 * its id: a direct session's (embedded in its struct fwd_session), or a
 * tunnel session's (allocated here; the stream is the mux's, which tells us
 * through its watcher when it ends). It names its mapping by port, not by
 * pointer: a tunnel session may outlive its mapping for a moment.
 */
struct fwd_conn {
	TAILQ_ENTRY(fwd_conn)	 fc_entry;	/* fw_conns, in id order */
	struct fwd_conn		*fc_hnext;	/* hash chain */
	struct gt_fwd		*fc_fwd;
	uint64_t		 fc_id;
	uint16_t		 fc_port;
	int			 fc_tunnel;
	struct fwd_session	*fc_session;	/* direct: its session */
	struct gt_mux		*fc_mux;	/* tunnel: its stream */
	uint32_t		 fc_stream;
	time_t			 fc_started;	/* wall clock, for the API */
	struct timespec		 fc_mono;	/* for its age */
	char			 fc_peer[FWD_ADDRSTRLEN];
	char			 fc_client[GT_CLIENT_MAX + 1];
	char			 fc_target[GT_HOSTNAME_MAX + 16];	/* "[host]:port" */
};

TAILQ_HEAD(fwd_conns, fwd_conn);

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
	struct fwd_conns	 fw_conns;	/* live sessions, direct and tunnel */
	struct fwd_conn		**fw_ctab;	/* by id; NULL until the first */
	size_t			 fw_ctsize;	/* power of two */
	size_t			 fw_nconns;
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

/* fwd_conns.c: the session table; O(1) at accept and close */
void	fwd_conn_insert(struct gt_fwd *, struct fwd_conn *, uint16_t port,
	    const char *peer, const char *client, const char *host,
	    uint16_t tport);
void	fwd_conn_remove(struct fwd_conn *);
/* Forget the tunnel records left (their streams live on in closing tunnels). */
void	fwd_conns_free(struct gt_fwd *);
/* The tunnel stream of fc ended (the mux's watcher): forget and free fc. */
void	fwd_conn_tunnel_ended(void *fc);

/* fwd_direct.c */
/* fd's PROXY header addresses when fm's proxy_protocol wants one (*has). -1: none to be had. */
int	fwd_proxy_addr(const struct fwd_map *, evutil_socket_t,
	    struct gt_proxy_addr *, int *has);
void	fwd_direct_accept(struct fwd_map *, evutil_socket_t, const char *peer);
void	fwd_direct_close_all(struct fwd_map *);
size_t	fwd_direct_buffered(const struct fwd_map *);
/* Close fm's sessions whose peer fm's access rule now refuses. */
void	fwd_direct_close_refused(struct fwd_map *);
/* A session's figures and its one teardown, for the table's callers. */
void	fwd_direct_bytes(const struct fwd_session *, uint64_t *in, uint64_t *out);
void	fwd_direct_close(struct fwd_session *, const char *why);

/* fwd_tunnel.c */
void	fwd_tunnel_accept(struct fwd_map *, evutil_socket_t, const char *peer);

#endif

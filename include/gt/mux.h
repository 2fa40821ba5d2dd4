/*
 * mux.h: many sessions over one tunnel endpoint, with go-tunnel's frames and
 * gt's negotiated extensions: per-stream credit flow control, half-close,
 * refusal codes (docs/PROTOCOL.md). Each stream is attached to an endpoint
 * (the public user's or the target's) through the endpoint's event
 * interface; the mux knows streams and frames only: no sockets, no TLS.
 *
 * Memory: a stream reads its endpoint only as far as its credit allows;
 * receive windows start at params.window and grow for streams that drain
 * fast, out of a budget per tunnel and one per process; our own unsent
 * frames past params.out_max end the tunnel (a peer that does not read).
 */
#ifndef GT_MUX_H
#define GT_MUX_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>
#include <event2/util.h>

struct event_base;
struct gt_ep;
struct gt_counters;
struct gt_mux;
struct gt_proxy_addr;

enum gt_mux_role {
	GT_MUX_SERVER,		/* assigns conn IDs, sends ConnectRequests */
	GT_MUX_CLIENT,		/* answers ConnectRequests */
};

/* Bytes of window growth a process allows across its tunnels (caller owns). */
struct gt_mux_budget {
	uint64_t	 limit;
	uint64_t	 used;
};

struct gt_mux_params {
	enum gt_mux_role role;
	const char	*name;		/* for logs, e.g. the client CN; copied */
	uint32_t	 caps;		/* capabilities to offer: GT_CAP_*; 0 = go-tunnel only */
	uint32_t	 window;	/* initial receive window per stream; 0 = GT_WINDOW_INITIAL */
	uint32_t	 window_max;	/* a fast stream's window grows to this; 0 = GT_WINDOW_GROW_MAX */
	uint64_t	 buffer;	/* per tunnel: window growth allowed; 0 = 8 MiB */
	struct gt_mux_budget *process;	/* shared growth budget; NULL = none (borrowed) */
	size_t		 out_max;	/* unsent frames that end the tunnel; 0 = 4 MiB */
	unsigned	 max_streams;	/* streams at once; 0 = 200000 */
	int		 hb_interval;	/* seconds between KeepAlives we send; 0 = 10 */
	int		 hb_timeout;	/* silence that ends the tunnel; 0 = 30 */
	int		 connect_timeout;	/* server: seconds to wait for a ConnectResponse; 0 = 10 */
};

struct gt_mux_cbs {
	/*
	 * Client role: the peer asks for host:port on stream id. Answer now or
	 * later with gt_mux_accept() or gt_mux_refuse(); a request the peer
	 * cancels meanwhile makes the answer a no-op (accept closes the fd).
	 * pp (NULL: none; valid during the call only) is the PROXY extension:
	 * the header to write to the target before any stream data.
	 */
	void	(*connect_request)(struct gt_mux *, uint32_t id, const char *host,
		    uint16_t port, const struct gt_proxy_addr *pp, void *arg);
	/*
	 * The tunnel ended (EOF, error, heartbeat timeout, protocol error) and
	 * every stream is closed. Called once; free the mux from here or later.
	 */
	void	(*closed)(struct gt_mux *, const char *why, void *arg);
};

/* Take over conn (owned from now on; it must be READY). NULL on ENOMEM (conn freed). */
struct gt_mux *gt_mux_new(struct event_base *, struct gt_ep *,
	    const struct gt_mux_params *, const struct gt_mux_cbs *, void *arg);
/* Close every stream and the connection now. Safe inside any mux callback (deferred). */
void	gt_mux_free(struct gt_mux *);

/*
 * Server role: carry the public user's endpoint ep (open; owned from now
 * on, freed on every failure) to host:port on the peer. ctr (may be NULL)
 * is referenced for the stream's life and counts its bytes; label names the
 * session in logs (copied). pp (NULL: none; copied) is the public
 * connection's PROXY header, sent in the ConnectRequest's extension when
 * the peer announced GT_CAP_PROXY, else dropped (a go-tunnel peer: no
 * header, logged). Returns 0, or -1 when the tunnel is closing.
 */
int	gt_mux_open(struct gt_mux *, struct gt_ep *ep, const char *host,
	    uint16_t port, const struct gt_proxy_addr *pp,
	    struct gt_counters *ctr, const char *label);

/*
 * A stream's watcher: called once, from inside the stream's one teardown,
 * when the stream ends for any reason (the tunnel's end included); the
 * stream is gone by then. It must not call back into the mux.
 */
typedef void gt_mux_ended_cb(void *arg);
/*
 * gt_mux_open, and on success (only then) ended(arg) is called when the
 * stream ends and *idp (may be NULL) is its conn ID, which names it to the
 * calls below until then. On -1 ended is never called.
 */
int	gt_mux_open_watched(struct gt_mux *, struct gt_ep *ep, const char *host,
	    uint16_t port, const struct gt_proxy_addr *pp,
	    struct gt_counters *ctr, const char *label,
	    gt_mux_ended_cb *ended, void *arg, uint32_t *idp);
/*
 * Bytes stream id has moved so far: read from its endpoint into the tunnel
 * (from_ep) and from the tunnel to its endpoint (to_ep). -1 if no such stream.
 */
int	gt_mux_stream_bytes(const struct gt_mux *, uint32_t id,
	    uint64_t *from_ep, uint64_t *to_ep);
/*
 * End stream id now through its teardown (its endpoint closed, the peer
 * told with Close, its watcher called). -1 if no such stream.
 */
int	gt_mux_close_stream(struct gt_mux *, uint32_t id, const char *why);
/* Forget stream id's watcher (its owner goes first); the stream lives on. */
void	gt_mux_unwatch(struct gt_mux *, uint32_t id);
/* Client role: answer a connect_request with the target's open endpoint (owned from now on). */
int	gt_mux_accept(struct gt_mux *, uint32_t id, struct gt_ep *ep);
/* Client role: refuse it with a GT_STATUS_* code (sent as 0x01 to a base peer). */
void	gt_mux_refuse(struct gt_mux *, uint32_t id, uint8_t status);

/*
 * End the tunnel now for why (logged like any end): its streams close and
 * the closed callback follows from the loop. Safe anywhere; a no-op on a
 * tunnel already ending.
 */
void	gt_mux_end(struct gt_mux *, const char *why);

/* Close every stream counted in ctr (its mapping was removed). */
void	gt_mux_close_streams(struct gt_mux *, const struct gt_counters *ctr);
/*
 * Close the streams counted in ctr whose endpoint keep() says no to (an
 * access rule tightened); why is logged with each.
 */
void	gt_mux_close_streams_if(struct gt_mux *, const struct gt_counters *ctr,
	    int (*keep)(const struct gt_ep *, void *), void *arg, const char *why);

/* Figures for the API and logs. */
const char *gt_mux_name(const struct gt_mux *);
const char *gt_mux_peer_addr(const struct gt_mux *);
unsigned gt_mux_streams(const struct gt_mux *);
uint32_t gt_mux_peer_caps(const struct gt_mux *);	/* 0 until the peer's hello */
time_t	gt_mux_started(const struct gt_mux *);
int	gt_mux_is_closed(const struct gt_mux *);

#endif

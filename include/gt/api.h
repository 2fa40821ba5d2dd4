/*
 * api.h: gt-server's REST API (SPEC §4) on libevent's evhttp. Routes come
 * from one table (gt_api_routes); bodies are parsed with jansson and
 * checked by the pure functions below (validate.c), which the unit tests
 * and the fuzzer call without a server.
 */
#ifndef GT_API_H
#define GT_API_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "gt/auth.h"
#include "gt/mapping.h"

struct event_base;
struct gt_config;
struct gt_counters;
struct gt_fwd;
struct gt_registry;
struct gt_store;
struct gt_api;

#define GT_API_BODY_MAX		(64 * 1024)	/* larger bodies get a JSON 413 */
#define GT_API_BODY_HARD_MAX	(1024 * 1024)	/* larger ones: libevent's own 413 */
#define GT_API_MSG_MAX		256		/* error messages */

/*
 * Listen on cfg->api.listen_addr:listen_port. cfg is copied; key (may be
 * NULL when auth is off) is copied; store, fwd and reg (reg may be NULL)
 * are borrowed and must outlive the API. NULL + err on failure.
 */
struct gt_api *gt_api_new(struct event_base *, const struct gt_config *cfg,
	    const unsigned char *key, size_t keylen, struct gt_store *,
	    struct gt_fwd *, struct gt_registry *reg, char *err, size_t errlen);
/* SIGHUP: take cfg's security.api.allowed_ips; on error keep the old list. */
int	gt_api_reload_allowlist(struct gt_api *, const struct gt_config *cfg,
	    char *err, size_t errlen);
/*
 * SIGHUP: new HTTPS material from cfg's api.cert_file, key_file and
 * client_ca for new connections (open ones keep theirs); on error keep the old.
 */
int	gt_api_reload_tls(struct gt_api *, const struct gt_config *cfg, char *err,
	    size_t errlen);
/* Remember why port is not served (restore failures); shown in the list. */
void	gt_api_note_error(struct gt_api *, uint16_t port, const char *why);
/* Close the listener and every HTTP connection. NULL ok. */
void	gt_api_free(struct gt_api *);

/* --- routes (route.c) --- */

enum gt_api_op {
	GT_API_OP_HEALTH,
	GT_API_OP_METRICS,
	GT_API_OP_CREATE,
	GT_API_OP_REMOVE,
	GT_API_OP_LIST,
	GT_API_OP_CLIENTS,
	GT_API_OP_UPDATE,
	GT_API_OP_RELOAD,
	GT_API_OP_CONNS,
	GT_API_OP_CONN_CLOSE,
	GT_API_OP_STATS_CONNS,
	GT_API_OP_DISCONNECT,
	GT_API_OP_STATS_TRAFFIC,
	GT_API_OP_STATS_HISTORY,
	GT_API_OP_STATS_MONITOR,
	GT_API_OP_MAX
};

struct gt_api_route {
	int		 r_method;	/* EVHTTP_REQ_GET, EVHTTP_REQ_POST */
	const char	*r_path;
	enum gt_role	 r_role;	/* GT_ROLE_NONE: no token needed */
	enum gt_api_op	 r_op;
};

/* The one table of routes, ended by a NULL path. */
extern const struct gt_api_route gt_api_routes[];

/*
 * Find method + path (no query string) in table. Returns the route, or
 * NULL with *status 404 (unknown path) or 405 (known path, other method;
 * allow then lists its methods, e.g. "GET").
 */
const struct gt_api_route *gt_api_route_find(const struct gt_api_route *table,
	    int method, const char *path, int *status, char *allow, size_t allowlen);
/* Whether any route of table has that path. */
int	gt_api_path_known(const struct gt_api_route *table, const char *path);
/* "GET", "POST", ... for an EVHTTP_REQ_* value. */
const char *gt_api_method_name(int method);
/* The reason phrase of an HTTP status code ("Not Found"). */
const char *gt_api_status_text(int code);

/* --- request validation (validate.c); pure, no I/O --- */

/*
 * Parse a request body (len bytes, not NUL-terminated). 0 with *out a new
 * reference, or an HTTP status (400, 413) with a message in msg.
 */
int	gt_api_parse_body(const char *buf, size_t len, json_t **out,
	    char *msg, size_t msglen);
/*
 * Check a create request against cfg's port range, blacklist and tunnel
 * setting; fill m (id and created_at zeroed). 0, or 400 with msg. Also
 * refused: an unknown field; a bad access_rule, access_ips (array or
 * go-tunnel's JSON-in-a-string, at most GT_ACCESS_IPS_MAX entries) or
 * max_connections (0..GT_MAXCONN_MAX), bandwidth_limit (0 or
 * GT_BANDWIDTH_MIN..GT_BANDWIDTH_MAX) or proxy_protocol ("", "v1", "v2");
 * a direct target on this host at the API port,
 * the tunnel port or the mapping's own port.
 */
int	gt_api_check_create(const json_t *, const struct gt_config *cfg,
	    struct gt_mapping *m, char *msg, size_t msglen);
/*
 * The self-target guard against the mappings served now (ms, n): a direct
 * m whose target is this host at another mapping's public port, or any m
 * on a port an existing direct mapping targets on this host. 0, or 400.
 */
int	gt_api_check_chain(const struct gt_mapping *m,
	    const struct gt_mapping *ms, size_t n, char *msg, size_t msglen);
/*
 * An update request's port (port or source_port), after its fields were
 * checked against the update's list: 0 with *port, or 400 with msg.
 */
int	gt_api_check_update_port(const json_t *, uint16_t *port, char *msg,
	    size_t msglen);
/*
 * Apply an update request to old (the stored mapping) into m: target_host
 * (target_ip), target_port, client, access_rule, access_ips,
 * max_connections, bandwidth_limit, proxy_protocol; use_tunnel only
 * unchanged. 0, or 400 with msg naming the field. The self-target rules of create hold.
 */
int	gt_api_check_update(const json_t *, const struct gt_config *cfg,
	    const struct gt_mapping *old, struct gt_mapping *m, char *msg,
	    size_t msglen);
/* Check a reload request (port or source_port, nothing else). */
int	gt_api_check_reload(const json_t *, uint16_t *port, char *msg, size_t msglen);
/*
 * GET /api/connections (and go-tunnel's /api/stats/connections): the
 * query string (NULL: none; raw, percent-encoded) into a filter. Known
 * parameters port (1..65535) and client (a client name), each at most
 * once; anything else, a bad value or a query over GT_API_QUERY_MAX bytes
 * is 400 with msg naming it.
 */
#define GT_API_QUERY_MAX	1024
#define GT_API_CONNS_MAX	10000	/* sessions one answer lists at most (api.max_sessions_listed's default) */
struct gt_api_conn_filter {
	uint16_t	port;				/* 0: every port */
	char		client[GT_CLIENT_MAX + 1];	/* "": every session */
};
int	gt_api_check_conn_query(const char *query, struct gt_api_conn_filter *f,
	    char *msg, size_t msglen);
/*
 * GET /api/stats/history: port (1..65535), from and to (inclusive bounds
 * on recorded_at: unix seconds or RFC 3339, gt_api_parse_time), limit
 * (1.., default GT_API_HISTORY_LIMIT; above GT_API_HISTORY_MAX answers
 * that many, as go-tunnel). Each at most once; anything else, a bad value
 * or from after to is 400 with msg naming it.
 */
#define GT_API_HISTORY_LIMIT	100
#define GT_API_HISTORY_MAX	1000
struct gt_api_history_filter {
	uint16_t	port;		/* 0: every port */
	int64_t		from, to;	/* default 0 and INT64_MAX */
	size_t		limit;
};
int	gt_api_check_history_query(const char *query,
	    struct gt_api_history_filter *f, char *msg, size_t msglen);
/* Unix seconds (digits) or an RFC 3339 time into *out; -1 if neither. */
int	gt_api_parse_time(const char *v, int64_t *out);
/* POST /api/connections/close: {"id":N}, N >= 1, nothing else. 0 with *id, or 400. */
int	gt_api_check_conn_close(const json_t *, uint64_t *id, char *msg,
	    size_t msglen);
/* Check a remove request (port or source_port, nothing else): 0 with *port, or 400 with msg. */
int	gt_api_check_remove(const json_t *, uint16_t *port, char *msg, size_t msglen);
/*
 * Check a disconnect request ({"name":"cn"}, nothing else): 0 with the
 * name copied into name (size >= GT_NAME_MAX + 1), or 400 with msg.
 */
int	gt_api_check_disconnect(const json_t *, char *name, size_t size,
	    char *msg, size_t msglen);
/* An IP literal or a DNS name (1..253, labels [A-Za-z0-9-], not all-numeric TLD). */
int	gt_api_host_valid(const char *);
/* A client name: printable ASCII without spaces, 1..GT_CLIENT_MAX. */
int	gt_api_client_valid(const char *);

/* --- replies (reply.c) --- */

/* {"success":b,"message":msg,"data":data}; data is stolen (NULL: {}). */
json_t	*gt_api_envelope(int success, const char *msg, json_t *data);
/*
 * The mapping object of SPEC §4 with live figures from ctr (NULL: zeros).
 * "error" is added when error is set, or ctr is NULL ("not listening").
 */
json_t	*gt_api_mapping_json(const struct gt_mapping *, const struct gt_counters *ctr,
	    const char *error);
/* RFC 3339 UTC, e.g. "2024-05-01T12:00:00Z", into buf (>= 21 bytes). */
const char *gt_api_time(time_t, char *buf, size_t len);

/* --- statistics (stats.c) --- */

/*
 * The data of GET /api/stats/traffic: go-tunnel's shape (tunnel, mappings
 * with port, bytes_sent, bytes_received, last_update; total_sent,
 * total_received, timestamp) with gt's fields added, per mapping, per
 * tunnel client and overall. Each returns GT_STORE_OK with *data a new
 * reference, GT_STORE_OK with *data NULL when out of memory, or the
 * store's failure.
 */
int	gt_api_stats_traffic(struct gt_store *, struct gt_fwd *, time_t now,
	    json_t **data);
/* GET /api/stats/history: {"records":[...],"count":N,"limit":L}, newest first. */
int	gt_api_stats_history(struct gt_store *,
	    const struct gt_api_history_filter *f, json_t **data);
/*
 * GET /api/stats/monitor: the figures go-tunnel's monitor page shows, as
 * JSON: each mapping's live totals and its rates over the last recorded
 * interval (interval: stats.record_interval).
 */
int	gt_api_stats_monitor(struct gt_store *, struct gt_fwd *, unsigned interval,
	    time_t now, json_t **data);

/* --- metrics (metrics.c) --- */

/* Why the API closed a connection before answering it. */
enum gt_api_refusal {
	GT_API_REFUSED_ALLOWLIST,	/* source outside allowed_ips, at accept */
	GT_API_REFUSED_MAX,		/* api.max_connections */
	GT_API_REFUSED_PER_IP,		/* api.max_connections_per_ip */
	GT_API_REFUSED_DEADLINE,	/* head or body too slow */
	GT_API_REFUSED_TLS,		/* HTTPS handshake or record failed */
};

#define GT_API_CODE_MIN	100
#define GT_API_CODE_MAX	599

struct gt_api_figures {
	uint64_t	mappings;
	uint64_t	sessions_active;
	uint64_t	sessions_total;
	uint64_t	bytes_in;
	uint64_t	bytes_out;
	uint64_t	tunnel_clients;
	uint64_t	paused_listeners;
	uint64_t	api_conns;		/* API connections open */
	uint64_t	api_refused[5];		/* by enum gt_api_refusal */
	uint64_t	api_pauses;		/* API accept pauses */
	const uint64_t	*codes;		/* [GT_API_CODE_MAX - GT_API_CODE_MIN + 1] */
	size_t		 nmaps;		/* per mapping, for gt_mapping_refused_total: */
	const uint16_t	*map_port;	/* [nmaps] its public port */
	const uint64_t	*map_refused;	/* [nmaps] connections its access rule refused */
	const uint64_t	*map_bw;	/* [nmaps] its bandwidth_limit (may be NULL) */
	/* [2 * nmaps] (may be NULL): 2i user -> target, 2i+1 target -> user */
	const uint64_t	*map_throttled;	/* waits for a turn at the bucket */
	const uint64_t	*map_waited_ns;	/* time sessions waited, summed */
};

/* Prometheus text format (0.0.4); malloc'ed, caller frees; NULL on ENOMEM. */
char	*gt_api_metrics_text(const struct gt_api_figures *, size_t *len);

#endif

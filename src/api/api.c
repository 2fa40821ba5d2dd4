/*
 * api.c: the evhttp glue of the REST API. Every request goes through
 * api_dispatch: allowlist, console files (/ui/), token, route table, role,
 * then the handler of the route's op. Every answer but /health, /metrics
 * and the console's files is a JSON envelope.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "gt/accept_pause.h"
#include "gt/api.h"
#include "gt/auth.h"
#include "gt/config.h"
#include "gt/counters.h"
#include "gt/fwd.h"
#include "gt/log.h"
#include "gt/names.h"
#include "gt/registry.h"
#include "gt/endpoint.h"
#include "gt/store.h"
#include "gt/ui.h"
#include "gate.h"

#define API_COMP	"api"
#define API_NCODES	(GT_API_CODE_MAX - GT_API_CODE_MIN + 1)
#define API_HDR_MAX	(16 * 1024)
#define API_PAUSE_MS	1000		/* accept pause when descriptors run out */

struct api_note {
	uint16_t	 an_port;
	char		 an_why[160];
};

struct gt_api {
	LIST_ENTRY(gt_api)	 api_entry;
	struct event_base	*api_base;
	struct evhttp		*api_http;
	struct evconnlistener	*api_lev;	/* evhttp's, borrowed */
	struct api_gate		*api_gate;
	struct gt_tls_ctx	*api_tls;
	struct gt_accept_pause	*api_pause;
	struct gt_config	 api_cfg;
	unsigned char		*api_key;
	size_t			 api_keylen;
	struct gt_cidr		*api_allow;
	size_t			 api_nallow;
	struct gt_store		*api_store;
	struct gt_fwd		*api_fwd;
	struct gt_registry	*api_reg;
	uint64_t		 api_codes[API_NCODES];
	struct api_note		*api_notes;
	size_t			 api_nnotes;
};

/* One request being answered. */
struct api_ctx {
	struct gt_api		*c_api;
	struct evhttp_request	*c_req;
	const struct gt_api_route *c_route;
	char			 c_peer[64];
	const char		*c_method;
	char			 c_path[128];
	char			 c_sub[64];
	enum gt_role		 c_role;
	const char		*c_query;	/* raw query string, or NULL (the request's) */
};

typedef void api_handler(struct api_ctx *);

/* Live APIs, to find ours from the listener's error callback (its arg is evhttp's). */
static LIST_HEAD(, gt_api) api_all = LIST_HEAD_INITIALIZER(api_all);

static void	api_health(struct api_ctx *);
static void	api_metrics(struct api_ctx *);
static void	api_create(struct api_ctx *);
static void	api_remove(struct api_ctx *);
static void	api_list(struct api_ctx *);
static void	api_clients(struct api_ctx *);
static void	api_update(struct api_ctx *);
static void	api_reload(struct api_ctx *);
static void	api_conns(struct api_ctx *);
static void	api_conn_close(struct api_ctx *);
static void	api_stats_conns(struct api_ctx *);
static void	api_disconnect(struct api_ctx *);
static void	api_stats_traffic(struct api_ctx *);
static void	api_stats_history(struct api_ctx *);
static void	api_stats_monitor(struct api_ctx *);

/* Handlers by the op of gt_api_routes (route.c). */
static api_handler *const api_handlers[GT_API_OP_MAX] = {
	[GT_API_OP_HEALTH] = api_health,
	[GT_API_OP_METRICS] = api_metrics,
	[GT_API_OP_CREATE] = api_create,
	[GT_API_OP_REMOVE] = api_remove,
	[GT_API_OP_LIST] = api_list,
	[GT_API_OP_CLIENTS] = api_clients,
	[GT_API_OP_UPDATE] = api_update,
	[GT_API_OP_RELOAD] = api_reload,
	[GT_API_OP_CONNS] = api_conns,
	[GT_API_OP_CONN_CLOSE] = api_conn_close,
	[GT_API_OP_STATS_CONNS] = api_stats_conns,
	[GT_API_OP_DISCONNECT] = api_disconnect,
	[GT_API_OP_STATS_TRAFFIC] = api_stats_traffic,
	[GT_API_OP_STATS_HISTORY] = api_stats_history,
	[GT_API_OP_STATS_MONITOR] = api_stats_monitor,
};

/* Append JSON text to an evbuffer (json_dump_callback's sink). */
static int
api_dump_cb(const char *buf, size_t len, void *arg)
{
	return evbuffer_add(arg, buf, len);
}

/* Send code with body (already in out) and log the request. */
static void
api_send(struct api_ctx *c, int code, const char *ctype, struct evbuffer *out)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(c->c_req);
	int mutation;

	evhttp_add_header(h, "Content-Type", ctype);
	/* the console's files say their own (api_ui) */
	if (evhttp_find_header(h, "Cache-Control") == NULL)
		evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (code >= GT_API_CODE_MIN && code <= GT_API_CODE_MAX)
		c->c_api->api_codes[code - GT_API_CODE_MIN]++;
	mutation = c->c_route != NULL && c->c_route->r_method != EVHTTP_REQ_GET;
	if (mutation)
		log_info(API_COMP, "%s %s %s -> %d (token %s)", c->c_peer, c->c_method,
		    c->c_path, code, c->c_sub[0] ? c->c_sub : "-");
	else
		log_debug(API_COMP, "%s %s %s -> %d (token %s)", c->c_peer, c->c_method,
		    c->c_path, code, c->c_sub[0] ? c->c_sub : "-");
	evhttp_send_reply(c->c_req, code, gt_api_status_text(code), out);
}

/* Send a JSON value (stolen) with code. */
static void
api_send_json(struct api_ctx *c, int code, json_t *j)
{
	struct evbuffer *out;

	if ((out = evbuffer_new()) == NULL) {
		json_decref(j);
		evhttp_send_error(c->c_req, 500, NULL);
		return;
	}
	if (j == NULL || json_dump_callback(j, api_dump_cb, out, JSON_COMPACT) != 0) {
		evbuffer_drain(out, evbuffer_get_length(out));
		code = 500;
		evbuffer_add_printf(out, "{\"success\":false,\"message\":\"out of memory\","
		    "\"data\":{}}");
	}
	evbuffer_add(out, "\n", 1);
	json_decref(j);
	api_send(c, code, "application/json", out);
	evbuffer_free(out);
}

/* Answer success with data (stolen). */
static void
api_ok(struct api_ctx *c, const char *msg, json_t *data)
{
	api_send_json(c, 200, gt_api_envelope(1, msg, data));
}

/* Answer an error: success false and a message saying what was wrong. */
static void __attribute__((format(printf, 3, 4)))
api_error(struct api_ctx *c, int code, const char *fmt, ...)
{
	char	msg[GT_API_MSG_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code >= 500)
		log_warnx(API_COMP, "%s %s %s: %s", c->c_peer, c->c_method, c->c_path, msg);
	api_send_json(c, code, gt_api_envelope(0, msg, NULL));
}

/* The noted error of port, or NULL. */
static struct api_note *
api_note_find(struct gt_api *api, uint16_t port)
{
	size_t i;

	for (i = 0; i < api->api_nnotes; i++)
		if (api->api_notes[i].an_port == port)
			return &api->api_notes[i];
	return NULL;
}

/* Forget the noted error of port. */
static void
api_note_clear(struct gt_api *api, uint16_t port)
{
	struct api_note *n = api_note_find(api, port);

	if (n != NULL)
		*n = api->api_notes[--api->api_nnotes];
}

/* Remember why port is not served, for the list. */
void
gt_api_note_error(struct gt_api *api, uint16_t port, const char *why)
{
	struct api_note	*n, *nv;

	if ((n = api_note_find(api, port)) == NULL) {
		nv = reallocarray(api->api_notes, api->api_nnotes + 1, sizeof(*nv));
		if (nv == NULL)
			return;
		api->api_notes = nv;
		n = &nv[api->api_nnotes++];
		n->an_port = port;
	}
	snprintf(n->an_why, sizeof(n->an_why), "%s", why);
}

/* The body of the request as JSON; answers the error itself and returns NULL. */
static json_t *
api_body(struct api_ctx *c)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(c->c_req);
	char		 msg[GT_API_MSG_MAX];
	size_t		 len = evbuffer_get_length(in);
	json_t		*j;
	int		 rc;

	rc = gt_api_parse_body(len ? (const char *)evbuffer_pullup(in, -1) : "", len,
	    &j, msg, sizeof(msg));
	if (rc != 0) {
		api_error(c, rc, "%s", msg);
		return NULL;
	}
	return j;
}

/* A store failure: 503 with Retry-After when another process holds the lock. */
static void
api_store_error(struct api_ctx *c, int rc)
{
	if (rc == GT_STORE_BUSY) {
		evhttp_add_header(evhttp_request_get_output_headers(c->c_req),
		    "Retry-After", "1");
		api_error(c, 503, "database is locked by another process (busy); "
		    "retry");
	} else
		api_error(c, 500, "database: %s", gt_store_error(c->c_api->api_store));
}

/* GET /health: liveness, outside the envelope. */
static void
api_health(struct api_ctx *c)
{
	struct gt_api *api = c->c_api;

	api_send_json(c, 200, json_pack("{s:s, s:b, s:b}", "status", "ok",
	    "tunnel_enabled", api->api_cfg.tunnel.enabled ? 1 : 0,
	    "tunnel_connected", api->api_reg != NULL &&
	    gt_registry_count(api->api_reg) > 0));
}

/* GET /metrics: Prometheus text. */
static void
api_metrics(struct api_ctx *c)
{
	struct gt_api		*api = c->c_api;
	struct gt_api_figures	 f;
	struct gt_mapping	*ms = NULL;
	const struct gt_counters *ctr;
	const struct api_gate_stats *gs;
	uint16_t		*ports = NULL;
	uint64_t		*refused = NULL, *bw = NULL, *thr = NULL;
	uint64_t		*waited = NULL;
	struct evbuffer		*out;
	size_t			 n = 0, i, len;
	char			*text;
	int			 rc;

	memset(&f, 0, sizeof(f));
	if ((rc = gt_store_list(api->api_store, &ms, &n)) != GT_STORE_OK) {
		api_store_error(c, rc);
		return;
	}
	f.mappings = n;
	if (n > 0 && ((ports = calloc(n, sizeof(*ports))) == NULL ||
	    (refused = calloc(n, sizeof(*refused))) == NULL ||
	    (bw = calloc(n, sizeof(*bw))) == NULL ||
	    (thr = calloc(2 * n, sizeof(*thr))) == NULL ||
	    (waited = calloc(2 * n, sizeof(*waited))) == NULL)) {
		free(ports);
		free(refused);
		free(bw);
		free(thr);
		free(ms);
		api_error(c, 500, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		ports[i] = ms[i].source_port;
		bw[i] = ms[i].bandwidth_limit;
		(void)gt_fwd_throttled(api->api_fwd, ms[i].source_port, 0,
		    &thr[2 * i], &waited[2 * i]);
		(void)gt_fwd_throttled(api->api_fwd, ms[i].source_port, 1,
		    &thr[2 * i + 1], &waited[2 * i + 1]);
		if ((ctr = gt_fwd_counters(api->api_fwd, ms[i].source_port)) != NULL) {
			f.sessions_total += ctr->total;
			refused[i] = ctr->refused;
		}
	}
	free(ms);
	f.nmaps = n;
	f.map_port = ports;
	f.map_refused = refused;
	f.map_bw = bw;
	f.map_throttled = thr;
	f.map_waited_ns = waited;
	gt_fwd_totals(api->api_fwd, &f.sessions_active, &f.bytes_in, &f.bytes_out);
	f.tunnel_clients = api->api_reg ? gt_registry_count(api->api_reg) : 0;
	f.paused_listeners = gt_fwd_paused(api->api_fwd);
	gs = api_gate_stats(api->api_gate);
	f.api_conns = gs->open;
	f.api_refused[GT_API_REFUSED_ALLOWLIST] = gs->refused_allow;
	f.api_refused[GT_API_REFUSED_MAX] = gs->refused_max;
	f.api_refused[GT_API_REFUSED_PER_IP] = gs->refused_per_ip;
	f.api_refused[GT_API_REFUSED_DEADLINE] = gs->deadline;
	f.api_refused[GT_API_REFUSED_TLS] = gs->tls_failed;
	f.api_pauses = gt_accept_pause_count(api->api_pause);
	/* Count this answer itself before formatting. */
	api->api_codes[200 - GT_API_CODE_MIN]++;
	f.codes = api->api_codes;
	text = gt_api_metrics_text(&f, &len);
	api->api_codes[200 - GT_API_CODE_MIN]--;
	free(ports);
	free(refused);
	free(bw);
	free(thr);
	free(waited);
	if (text == NULL || (out = evbuffer_new()) == NULL) {
		free(text);
		api_error(c, 500, "out of memory");
		return;
	}
	evbuffer_add(out, text, len);
	free(text);
	api_send(c, 200, "text/plain; version=0.0.4; charset=utf-8", out);
	evbuffer_free(out);
}

/* POST /api/mapping/create: listen first, then commit, then answer. */
static void
api_create(struct api_ctx *c)
{
	struct gt_api		*api = c->c_api;
	struct gt_mapping	 m, old, *ms = NULL;
	char			 msg[GT_API_MSG_MAX];
	json_t			*j;
	size_t			 n = 0;
	int			 rc, saved;

	if ((j = api_body(c)) == NULL)
		return;
	rc = gt_api_check_create(j, &api->api_cfg, &m, msg, sizeof(msg));
	json_decref(j);
	if (rc != 0) {
		api_error(c, rc, "%s", msg);
		return;
	}
	rc = gt_store_get(api->api_store, m.source_port, &old);
	if (rc == GT_STORE_OK) {
		api_error(c, 409, "port %u is already mapped", m.source_port);
		return;
	} else if (rc != GT_STORE_NOTFOUND) {
		api_store_error(c, rc);
		return;
	}
	/* The self-target guard against every mapping there is. */
	if ((rc = gt_store_list(api->api_store, &ms, &n)) != GT_STORE_OK) {
		api_store_error(c, rc);
		return;
	}
	rc = gt_api_check_chain(&m, ms, n, msg, sizeof(msg));
	free(ms);
	if (rc != 0) {
		api_error(c, rc, "%s", msg);
		return;
	}
	if (gt_fwd_add(api->api_fwd, &m, msg, sizeof(msg)) == -1) {
		saved = errno;
		if (saved == EEXIST)
			api_error(c, 409, "port %u is already mapped", m.source_port);
		else if (saved == EADDRINUSE)
			api_error(c, 409, "port %u is in use by another program: %s",
			    m.source_port, msg);
		else
			api_error(c, 500, "cannot listen on port %u: %s", m.source_port, msg);
		return;
	}
	rc = gt_store_add(api->api_store, &m);
	if (rc != GT_STORE_OK) {
		/* Not committed: nothing may stay listening. */
		gt_fwd_remove(api->api_fwd, m.source_port);
		if (rc == GT_STORE_EXISTS)
			api_error(c, 409, "port %u is already mapped", m.source_port);
		else
			api_store_error(c, rc);
		return;
	}
	api_note_clear(api, m.source_port);
	log_info(API_COMP, "mapping created: port %u -> %s:%u (%s%s%s)", m.source_port,
	    m.target_host, m.target_port, m.use_tunnel ? "tunnel" : "direct",
	    m.client[0] ? ", client " : "", m.client);
	api_ok(c, "mapping created", gt_api_mapping_json(&m,
	    gt_fwd_counters(api->api_fwd, m.source_port), NULL));
}

/* POST /api/mapping/remove: forget it in the database first, then stop serving. */
static void
api_remove(struct api_ctx *c)
{
	struct gt_api	*api = c->c_api;
	char		 msg[GT_API_MSG_MAX];
	uint16_t	 port;
	json_t		*j;
	int		 rc;

	if ((j = api_body(c)) == NULL)
		return;
	rc = gt_api_check_remove(j, &port, msg, sizeof(msg));
	json_decref(j);
	if (rc != 0) {
		api_error(c, rc, "%s", msg);
		return;
	}
	rc = gt_store_remove(api->api_store, port);
	if (rc == GT_STORE_NOTFOUND) {
		api_error(c, 404, "port %u is not mapped", port);
		return;
	} else if (rc != GT_STORE_OK) {
		/* Still in the database: it stays served. */
		api_store_error(c, rc);
		return;
	}
	gt_fwd_remove(api->api_fwd, port);
	api_note_clear(api, port);
	log_info(API_COMP, "mapping removed: port %u", port);
	api_ok(c, "mapping removed", json_pack("{s:i}", "port", (int)port));
}

/* The mapping object of port as served now (list's error rules). */
static json_t *
api_mapping_now(struct gt_api *api, const struct gt_mapping *m)
{
	const struct gt_counters *ctr;
	struct api_note		*note;
	const char		*why;

	ctr = gt_fwd_counters(api->api_fwd, m->source_port);
	why = gt_fwd_error(api->api_fwd, m->source_port);
	if (why == NULL && ctr == NULL &&
	    (note = api_note_find(api, m->source_port)) != NULL)
		why = note->an_why;
	return gt_api_mapping_json(m, ctr, why);
}

/*
 * POST /api/mapping/update: check against the stored row, commit, then
 * apply to the live listener (its sessions included) and answer.
 */
static void
api_update(struct api_ctx *c)
{
	struct gt_api		*api = c->c_api;
	struct gt_mapping	*old = NULL, *m = NULL, *ms = NULL;
	char			 msg[GT_API_MSG_MAX];
	json_t			*j;
	uint16_t		 port;
	size_t			 n = 0;
	int			 rc;

	if ((j = api_body(c)) == NULL)
		return;
	/* Two mappings of some 1.6 KiB each: not on the stack. */
	if ((old = malloc(sizeof(*old))) == NULL ||
	    (m = malloc(sizeof(*m))) == NULL) {
		api_error(c, 500, "out of memory");
		goto done;
	}
	if ((rc = gt_api_check_update_port(j, &port, msg, sizeof(msg))) != 0) {
		api_error(c, rc, "%s", msg);
		goto done;
	}
	rc = gt_store_get(api->api_store, port, old);
	if (rc == GT_STORE_NOTFOUND) {
		api_error(c, 404, "port %u is not mapped", port);
		goto done;
	} else if (rc != GT_STORE_OK) {
		api_store_error(c, rc);
		goto done;
	}
	if ((rc = gt_api_check_update(j, &api->api_cfg, old, m, msg,
	    sizeof(msg))) != 0) {
		api_error(c, rc, "%s", msg);
		goto done;
	}
	/* A new target may chain through this server: create's guard. */
	if ((rc = gt_store_list(api->api_store, &ms, &n)) != GT_STORE_OK) {
		api_store_error(c, rc);
		goto done;
	}
	rc = gt_api_check_chain(m, ms, n, msg, sizeof(msg));
	free(ms);
	if (rc != 0) {
		api_error(c, rc, "%s", msg);
		goto done;
	}
	rc = gt_store_update(api->api_store, m);
	if (rc == GT_STORE_NOTFOUND) {
		api_error(c, 404, "port %u is not mapped", port);
		goto done;
	} else if (rc != GT_STORE_OK) {
		/* Not committed: the live mapping stays as it was. */
		api_store_error(c, rc);
		goto done;
	}
	(void)gt_fwd_update(api->api_fwd, m);	/* ENOENT: not served, stored */
	log_info(API_COMP, "mapping updated: port %u -> %s:%u, access %s, "
	    "max_connections %u", m->source_port, m->target_host,
	    m->target_port, gt_mapping_rule_name(m->access_rule),
	    m->max_connections);
	api_ok(c, "mapping updated", api_mapping_now(api, m));
 done:
	json_decref(j);
	free(old);
	free(m);
}

/* POST /api/mapping/reload: the stored row, served afresh. */
static void
api_reload(struct api_ctx *c)
{
	struct gt_api		*api = c->c_api;
	struct gt_mapping	*m;
	char			 msg[GT_API_MSG_MAX];
	json_t			*j;
	uint16_t		 port;
	int			 rc;

	if ((j = api_body(c)) == NULL)
		return;
	rc = gt_api_check_reload(j, &port, msg, sizeof(msg));
	json_decref(j);
	if (rc != 0) {
		api_error(c, rc, "%s", msg);
		return;
	}
	if ((m = malloc(sizeof(*m))) == NULL) {
		api_error(c, 500, "out of memory");
		return;
	}
	rc = gt_store_get(api->api_store, port, m);
	if (rc == GT_STORE_NOTFOUND)
		api_error(c, 404, "port %u is not mapped", port);
	else if (rc != GT_STORE_OK)
		api_store_error(c, rc);
	else if (gt_fwd_reload(api->api_fwd, m) == -1)
		api_error(c, 500, "cannot serve port %u again: %s", port,
		    strerror(errno));
	else {
		api_note_clear(api, port);
		log_info(API_COMP, "mapping reloaded: port %u", port);
		api_ok(c, "mapping reloaded", api_mapping_now(api, m));
	}
	free(m);
}

/* GET /api/mapping/list: every stored mapping with its live figures. */
static void
api_list(struct api_ctx *c)
{
	struct gt_api		*api = c->c_api;
	struct gt_mapping	*ms = NULL;
	const struct gt_counters *ctr;
	struct api_note		*note;
	const char		*why;
	json_t			*arr;
	size_t			 n = 0, i;
	int			 rc;

	if ((rc = gt_store_list(api->api_store, &ms, &n)) != GT_STORE_OK) {
		api_store_error(c, rc);
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++) {
		ctr = gt_fwd_counters(api->api_fwd, ms[i].source_port);
		why = gt_fwd_error(api->api_fwd, ms[i].source_port);
		if (why == NULL && ctr == NULL &&
		    (note = api_note_find(api, ms[i].source_port)) != NULL)
			why = note->an_why;
		json_array_append_new(arr, gt_api_mapping_json(&ms[i], ctr, why));
	}
	free(ms);
	api_ok(c, "ok", json_pack("{s:o, s:I, s:b}", "mappings", arr, "count",
	    (json_int_t)n, "use_tunnel", api->api_cfg.tunnel.enabled ? 1 : 0));
}

/* One connected client into the array. */
static void
api_clients_cb(const struct gt_client_info *ci, void *arg)
{
	char ts[32];

	json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:i}",
	    "name", ci->name ? ci->name : "", "address", ci->address ? ci->address : "",
	    "connected_at", gt_api_time(ci->connected_at, ts, sizeof(ts)),
	    "streams", (int)ci->streams));
}

/* GET /api/tunnel/clients. */
static void
api_clients(struct api_ctx *c)
{
	json_t *arr = json_array();

	if (c->c_api->api_reg != NULL)
		gt_registry_each(c->c_api->api_reg, api_clients_cb, arr);
	api_ok(c, "ok", json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(arr),
	    "clients", arr));
}

/* One answer about live sessions being built (both shapes). */
struct api_conns {
	struct gt_api_conn_filter	 f;
	size_t				 max;		/* to list at most */
	size_t				 count;		/* sessions that match */
	size_t				 listed;	/* of them, in the answer */
	json_t				*arr;		/* gt: the connections */
	/* go-tunnel's shape: the mappings, by port, and their arrays */
	const struct gt_mapping		*maps;
	size_t				 nmaps;
	json_t				**lists;	/* [nmaps] active_connections */
	size_t				*totals;	/* [nmaps] total_connections */
	int				 oom;
};

/* Whether a session passes the query's filters. */
static int
api_conns_match(const struct api_conns *ac, const struct gt_fwd_session_info *si)
{
	if (ac->f.port != 0 && si->port != ac->f.port)
		return 0;
	if (ac->f.client[0] != '\0' && strcmp(si->client, ac->f.client) != 0)
		return 0;
	return 1;
}

/* One live session into gt's list (up to ac->max; all are counted). */
static void
api_conns_cb(const struct gt_fwd_session_info *si, void *arg)
{
	struct api_conns	*ac = arg;
	char			 ts[32];
	json_t			*o;

	if (!api_conns_match(ac, si))
		return;
	ac->count++;
	if (ac->listed >= ac->max || ac->oom)
		return;
	o = json_pack("{s:I, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:f}",
	    "id", (json_int_t)si->id, "port", (int)si->port, "mode",
	    si->tunnel ? "tunnel" : "direct", "peer", si->peer, "client",
	    si->client, "target", si->target, "bytes_in",
	    (json_int_t)si->bytes_in, "bytes_out", (json_int_t)si->bytes_out,
	    "started_at", gt_api_time(si->started_at, ts, sizeof(ts)),
	    "age_seconds", (double)(long long)(si->age * 1000) / 1000);
	if (o == NULL || json_array_append_new(ac->arr, o) == -1) {
		ac->oom = 1;
		return;
	}
	ac->listed++;
}

/* The query's filter, or a 400 answered here (-1). */
static int
api_conns_filter(struct api_ctx *c, struct api_conns *ac)
{
	char	msg[GT_API_MSG_MAX];
	int	rc;

	ac->max = c->c_api->api_cfg.api.max_sessions_listed > 0 ?
	    (size_t)c->c_api->api_cfg.api.max_sessions_listed : GT_API_CONNS_MAX;
	if ((rc = gt_api_check_conn_query(c->c_query, &ac->f, msg,
	    sizeof(msg))) != 0) {
		api_error(c, rc, "%s", msg);
		return -1;
	}
	return 0;
}

/* GET /api/connections: the live sessions, filtered by port and client. */
static void
api_conns(struct api_ctx *c)
{
	struct api_conns ac;

	memset(&ac, 0, sizeof(ac));
	if (api_conns_filter(c, &ac) == -1)
		return;
	if ((ac.arr = json_array()) == NULL) {
		api_error(c, 500, "out of memory");
		return;
	}
	gt_fwd_sessions_foreach(c->c_api->api_fwd, api_conns_cb, &ac);
	if (ac.oom) {
		json_decref(ac.arr);
		api_error(c, 500, "out of memory");
		return;
	}
	api_ok(c, "ok", json_pack("{s:o, s:I, s:b, s:I}", "connections", ac.arr,
	    "count", (json_int_t)ac.count, "truncated", ac.listed < ac.count,
	    "limit", (json_int_t)ac.max));
}

/* POST /api/connections/close: end one live session now. */
static void
api_conn_close(struct api_ctx *c)
{
	char		 msg[GT_API_MSG_MAX];
	uint64_t	 id;
	json_t		*j;
	int		 rc;

	if ((j = api_body(c)) == NULL)
		return;
	rc = gt_api_check_conn_close(j, &id, msg, sizeof(msg));
	json_decref(j);
	if (rc != 0) {
		api_error(c, rc, "%s", msg);
		return;
	}
	if (gt_fwd_session_close(c->c_api->api_fwd, id, "closed by the API") == -1) {
		api_error(c, 404, "no live session with id %llu",
		    (unsigned long long)id);
		return;
	}
	log_info(API_COMP, "session %llu closed by %s (token %s)",
	    (unsigned long long)id, c->c_peer, c->c_sub[0] ? c->c_sub : "-");
	api_ok(c, "connection closed", json_pack("{s:I}", "id", (json_int_t)id));
}

/* The stored mapping of port in ac (sorted by port), or -1. */
static ssize_t
api_conns_map(const struct api_conns *ac, uint16_t port)
{
	size_t lo = 0, hi = ac->nmaps, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ac->maps[mid].source_port == port)
			return (ssize_t)mid;
		if (ac->maps[mid].source_port < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* One live session into its mapping's list, in go-tunnel's shape. */
static void
api_stats_conns_cb(const struct gt_fwd_session_info *si, void *arg)
{
	struct api_conns	*ac = arg;
	ssize_t			 i;
	json_t			*o;

	if (!api_conns_match(ac, si) || (i = api_conns_map(ac, si->port)) == -1)
		return;
	ac->count++;
	ac->totals[i]++;
	if (ac->listed >= ac->max || ac->oom)
		return;
	o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s}",
	    "client_addr", si->peer, "target_addr", si->target,
	    "bytes_sent", (json_int_t)si->bytes_in,
	    "bytes_received", (json_int_t)si->bytes_out,
	    "connected_at", (json_int_t)si->started_at,
	    "id", (json_int_t)si->id, "client", si->client);
	if (o == NULL || json_array_append_new(ac->lists[i], o) == -1) {
		ac->oom = 1;
		return;
	}
	ac->listed++;
}

/* go-tunnel's PortConnectionStats for m (its list stolen). */
static json_t *
api_stats_conns_map(const struct gt_mapping *m, json_t *list, size_t total)
{
	char		 buf[GT_CIDR_STRLEN];
	const char	*host = m->target_host;
	uint16_t	 tport = m->target_port;
	json_t		*o, *ips;
	char		*s;
	size_t		 i;

	/* What a tunnel mapping's client dials when the row leaves it out (SPEC 4). */
	if (m->use_tunnel && host[0] == '\0')
		host = "127.0.0.1";
	if (m->use_tunnel && tport == 0)
		tport = m->source_port;
	o = json_pack("{s:i, s:s, s:i, s:b, s:o, s:I, s:s}",
	    "source_port", (int)m->source_port, "target_host", host,
	    "target_port", (int)tport, "use_tunnel", m->use_tunnel ? 1 : 0,
	    "active_connections", list, "total_connections", (json_int_t)total,
	    "access_rule", gt_mapping_rule_name(m->access_rule));
	if (o == NULL)
		return NULL;
	if (m->bandwidth_limit > 0 && json_object_set_new(o, "bandwidth_limit",
	    json_integer((json_int_t)m->bandwidth_limit)) == -1)
		goto fail;
	if (m->n_access_ips > 0) {
		/* go-tunnel keeps access_ips as JSON text in a string. */
		if ((ips = json_array()) == NULL)
			goto fail;
		for (i = 0; i < m->n_access_ips && i < GT_ACCESS_IPS_MAX; i++)
			if (gt_cidr_format(&m->access_ips[i], buf, sizeof(buf)) == -1 ||
			    json_array_append_new(ips, json_string(buf)) == -1) {
				json_decref(ips);
				goto fail;
			}
		s = json_dumps(ips, JSON_COMPACT);
		json_decref(ips);
		if (s == NULL || json_object_set_new(o, "access_ips",
		    json_string(s)) == -1) {
			free(s);
			goto fail;
		}
		free(s);
	}
	return o;
 fail:
	json_decref(o);
	return NULL;
}

/*
 * GET /api/stats/connections: go-tunnel's shape of the same data, every
 * stored mapping (or the one of the port filter) by port with its live
 * sessions.
 */
static void
api_stats_conns(struct api_ctx *c)
{
	struct gt_api		*api = c->c_api;
	struct api_conns	 ac;
	struct gt_mapping	*ms = NULL;
	json_t			*maps = NULL, *o;
	size_t			 n = 0, i;
	int			 rc;

	memset(&ac, 0, sizeof(ac));
	if (api_conns_filter(c, &ac) == -1)
		return;
	if ((rc = gt_store_list(api->api_store, &ms, &n)) != GT_STORE_OK) {
		api_store_error(c, rc);
		return;
	}
	ac.maps = ms;
	ac.nmaps = n;	/* the store lists them by port */
	if ((maps = json_array()) == NULL ||
	    (ac.lists = calloc(n + 1, sizeof(*ac.lists))) == NULL ||
	    (ac.totals = calloc(n + 1, sizeof(*ac.totals))) == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		if ((ac.lists[i] = json_array()) == NULL)
			goto oom;
	gt_fwd_sessions_foreach(api->api_fwd, api_stats_conns_cb, &ac);
	if (ac.oom)
		goto oom;
	for (i = 0; i < n; i++) {
		if (ac.f.port != 0 && ms[i].source_port != ac.f.port)
			continue;
		o = api_stats_conns_map(&ms[i], ac.lists[i], ac.totals[i]);
		ac.lists[i] = NULL;	/* stolen, even on failure */
		if (o == NULL || json_array_append_new(maps, o) == -1)
			goto oom;
	}
	for (i = 0; i < n; i++)
		json_decref(ac.lists[i]);
	free(ac.lists);
	free(ac.totals);
	free(ms);
	api_ok(c, "ok", json_pack("{s:o, s:I, s:I, s:b}", "mappings", maps,
	    "timestamp", (json_int_t)time(NULL), "count", (json_int_t)ac.count,
	    "truncated", ac.listed < ac.count));
	return;
 oom:
	if (ac.lists != NULL)
		for (i = 0; i < n; i++)
			json_decref(ac.lists[i]);
	free(ac.lists);
	free(ac.totals);
	json_decref(maps);
	free(ms);
	api_error(c, 500, "out of memory");
}

/* Answer a stats.c builder's result: its data, or why there is none. */
static void
api_stats_answer(struct api_ctx *c, int rc, json_t *data)
{
	if (rc != GT_STORE_OK)
		api_store_error(c, rc);
	else if (data == NULL)
		api_error(c, 500, "out of memory");
	else
		api_ok(c, "ok", data);
}

/* GET /api/stats/traffic: totals now, per mapping, per client, overall. */
static void
api_stats_traffic(struct api_ctx *c)
{
	json_t	*data;
	int	 rc;

	rc = gt_api_stats_traffic(c->c_api->api_store, c->c_api->api_fwd,
	    time(NULL), &data);
	api_stats_answer(c, rc, data);
}

/* GET /api/stats/history: the recorder's records, filtered. */
static void
api_stats_history(struct api_ctx *c)
{
	struct gt_api_history_filter	 f;
	char				 msg[GT_API_MSG_MAX];
	json_t				*data;
	int				 rc;

	if ((rc = gt_api_check_history_query(c->c_query, &f, msg,
	    sizeof(msg))) != 0) {
		api_error(c, rc, "%s", msg);
		return;
	}
	rc = gt_api_stats_history(c->c_api->api_store, &f, &data);
	api_stats_answer(c, rc, data);
}

/* GET /api/stats/monitor: go-tunnel's monitor figures as JSON. */
static void
api_stats_monitor(struct api_ctx *c)
{
	json_t	*data;
	int	 rc;

	if (c->c_query != NULL && c->c_query[0] != '\0') {
		api_error(c, 400, "/api/stats/monitor takes no query parameters");
		return;
	}
	rc = gt_api_stats_monitor(c->c_api->api_store, c->c_api->api_fwd,
	    (unsigned)c->c_api->api_cfg.stats.record_interval, time(NULL),
	    &data);
	api_stats_answer(c, rc, data);
}

/*
 * POST /api/tunnel/clients/disconnect: end one client's tunnel now. It
 * reconnects by its backoff; revoking its certificate keeps it out.
 */
static void
api_disconnect(struct api_ctx *c)
{
	char	 msg[GT_API_MSG_MAX], name[GT_NAME_MAX + 1], why[160];
	json_t	*j;
	int	 rc;

	if ((j = api_body(c)) == NULL)
		return;
	rc = gt_api_check_disconnect(j, name, sizeof(name), msg, sizeof(msg));
	json_decref(j);
	if (rc != 0) {
		api_error(c, rc, "%s", msg);
		return;
	}
	snprintf(why, sizeof(why), "disconnected through the API%s%s",
	    c->c_sub[0] != '\0' ? " by " : "", c->c_sub);
	if (gt_registry_end(c->c_api->api_reg, name, why) == 0) {
		api_error(c, 404, "no tunnel client named %s is connected", name);
		return;
	}
	log_info(API_COMP, "%s: tunnel client %s disconnected", c->c_peer, name);
	api_ok(c, "client disconnected", json_pack("{s:s}", "name", name));
}

/* Check the bearer token; answers 401 itself and returns -1 on failure. */
static int
api_authenticate(struct api_ctx *c)
{
	struct gt_api	*api = c->c_api;
	struct evkeyvalq *h = evhttp_request_get_input_headers(c->c_req);
	const char	*v;
	int		 rc;

	v = evhttp_find_header(h, "Authorization");
	if (v == NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(c->c_req),
		    "WWW-Authenticate", "Bearer");
		api_error(c, 401, "missing token: send Authorization: Bearer <JWT>");
		return -1;
	}
	if (strncasecmp(v, "Bearer ", 7) != 0 || v[7] == '\0') {
		evhttp_add_header(evhttp_request_get_output_headers(c->c_req),
		    "WWW-Authenticate", "Bearer error=\"invalid_request\"");
		api_error(c, 401, "malformed Authorization header: Bearer <JWT> expected");
		return -1;
	}
	for (v += 7; *v == ' '; v++)
		;
	rc = gt_jwt_verify(v, api->api_key, api->api_keylen, time(NULL), &c->c_role,
	    c->c_sub, sizeof(c->c_sub));
	if (rc != GT_JWT_OK) {
		c->c_sub[0] = '\0';
		evhttp_add_header(evhttp_request_get_output_headers(c->c_req),
		    "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		log_info(API_COMP, "%s %s %s: token refused: %s", c->c_peer, c->c_method,
		    c->c_path, gt_jwt_strerror(rc));
		api_error(c, 401, "invalid token: %s", gt_jwt_strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * Refuse what a proxy in front could read differently from evhttp: more
 * than one Content-Length, or Content-Length with Transfer-Encoding, or a
 * coding other than chunked (request smuggling). 400, and the connection
 * closes after the answer so nothing after it is read as a request.
 */
static int
api_framing_bad(struct api_ctx *c)
{
	struct evkeyvalq	*h = evhttp_request_get_input_headers(c->c_req);
	struct evkeyval		*kv;
	int			 ncl = 0, nte = 0, other = 0;

	TAILQ_FOREACH(kv, h, next) {
		if (strcasecmp(kv->key, "Content-Length") == 0)
			ncl++;
		else if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
			nte++;
			if (strcasecmp(kv->value, "chunked") != 0)
				other = 1;
		}
	}
	if (ncl <= 1 && nte == 0)
		return 0;
	if (ncl == 0 && nte == 1 && !other)
		return 0;
	evhttp_add_header(evhttp_request_get_output_headers(c->c_req),
	    "Connection", "close");
	log_info(API_COMP, "%s %s %s: refused, ambiguous framing (%d Content-Length, "
	    "%d Transfer-Encoding)", c->c_peer, c->c_method, c->c_path, ncl, nte);
	if (ncl > 1)
		api_error(c, 400, "more than one Content-Length header");
	else if (ncl == 1)
		api_error(c, 400, "Content-Length together with Transfer-Encoding");
	else
		api_error(c, 400, "Transfer-Encoding other than a single chunked");
	return -1;
}

/*
 * GET /ui/...: the console's compiled-in files. Reached after the allowlist
 * and before the token check (a browser cannot send a bearer header when
 * it loads a page); what they hold is public, the API calls they make are
 * not. Every answer carries the CSP that forbids inline and foreign code.
 */
static void
api_ui(struct api_ctx *c, int method)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(c->c_req);
	const struct gt_ui_file	*f;
	struct evbuffer		*out;

	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		api_error(c, 405, "method %s is not allowed on %s (allowed: GET, HEAD)",
		    c->c_method, c->c_path);
		return;
	}
	if (strcmp(c->c_path, "/ui") == 0) {
		evhttp_add_header(h, "Location", "/ui/");
		api_error(c, 301, "the console is at /ui/");
		return;
	}
	if ((f = gt_ui_find(c->c_path)) == NULL) {
		api_error(c, 404, "no such path: %s", c->c_path);
		return;
	}
	if ((out = evbuffer_new()) == NULL ||
	    evbuffer_add_reference(out, f->uf_data, f->uf_len, NULL, NULL) == -1) {
		if (out != NULL)
			evbuffer_free(out);
		api_error(c, 500, "out of memory");
		return;
	}
	evhttp_add_header(h, "Content-Security-Policy", GT_UI_CSP);
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
	/* built into the binary: revalidate so an upgrade shows at once */
	evhttp_add_header(h, "Cache-Control", "no-cache");
	api_send(c, 200, f->uf_ctype, out);
	evbuffer_free(out);
}

/* Every request: allowlist, console files, token, route, role, handler. */
static void
api_dispatch(struct evhttp_request *req, void *arg)
{
	struct gt_api		*api = arg;
	struct api_ctx		 c;
	struct evhttp_connection *evcon;
	const struct evhttp_uri	*uri;
	const struct sockaddr	*sa = NULL;
	const char		*path = NULL;
	char			*addr = NULL;
	char			 allow[64];
	ev_uint16_t		 pport = 0;
	int			 status, method;

	memset(&c, 0, sizeof(c));
	c.c_api = api;
	c.c_req = req;
	method = (int)evhttp_request_get_command(req);
	c.c_method = gt_api_method_name(method);
	if ((evcon = evhttp_request_get_connection(req)) != NULL) {
		sa = evhttp_connection_get_addr(evcon);
		evhttp_connection_get_peer(evcon, &addr, &pport);
	}
	snprintf(c.c_peer, sizeof(c.c_peer), "%s:%u", addr ? addr : "?", pport);
	if ((uri = evhttp_request_get_evhttp_uri(req)) != NULL)
		path = evhttp_uri_get_path(uri);
	if (path == NULL || *path == '\0')
		path = "/";
	snprintf(c.c_path, sizeof(c.c_path), "%s", path);
	if (uri != NULL)
		c.c_query = evhttp_uri_get_query(uri);
	if (evcon != NULL)
		api_gate_request_done(api->api_gate, evcon);

	if (api_framing_bad(&c) == -1)
		return;
	if (sa == NULL || !gt_cidr_match(api->api_allow, api->api_nallow, sa)) {
		log_info(API_COMP, "%s %s %s: refused, source not in allowed_ips",
		    c.c_peer, c.c_method, c.c_path);
		api_error(&c, 403, "source address %s is not in security.api.allowed_ips",
		    addr ? addr : "?");
		return;
	}
	if (strncmp(path, "/ui", 3) == 0 && (path[3] == '\0' || path[3] == '/')) {
		api_ui(&c, method);
		return;
	}
	c.c_role = GT_ROLE_ADMIN;
	if (api->api_cfg.security.api.enable_auth && strcmp(path, "/health") != 0) {
		if (api_authenticate(&c) == -1)
			return;
	}
	c.c_route = gt_api_route_find(gt_api_routes, method, path, &status, allow,
	    sizeof(allow));
	if (c.c_route == NULL) {
		if (status == 405) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			    allow);
			api_error(&c, 405, "method %s is not allowed on %s (allowed: %s)",
			    c.c_method, c.c_path, allow);
		} else
			api_error(&c, 404, "no such path: %s", c.c_path);
		return;
	}
	if (c.c_route->r_role == GT_ROLE_ADMIN && c.c_role != GT_ROLE_ADMIN) {
		api_error(&c, 403, "a read token may not %s %s", c.c_method, c.c_path);
		return;
	}
	api_handlers[c.c_route->r_op](&c);
}

/* Parse cfg's allowlist into a new array. */
static int
api_parse_allowlist(const struct gt_config *cfg, struct gt_cidr **out, size_t *n,
    char *err, size_t errlen)
{
	struct gt_cidr	*v;
	size_t		 i, cnt = cfg->security.api.n_allowed_ips;

	*out = NULL;
	*n = 0;
	if ((v = calloc(cnt ? cnt : 1, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < cnt; i++) {
		if (gt_cidr_parse(cfg->security.api.allowed_ips[i], &v[i]) == -1) {
			snprintf(err, errlen, "security.api.allowed_ips: \"%s\" is not a CIDR",
			    cfg->security.api.allowed_ips[i]);
			free(v);
			return -1;
		}
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* Swap in a new allowlist, or keep the old one on error. */
int
gt_api_reload_allowlist(struct gt_api *api, const struct gt_config *cfg, char *err,
    size_t errlen)
{
	struct gt_cidr	*v;
	size_t		 n;

	if (api_parse_allowlist(cfg, &v, &n, err, errlen) == -1)
		return -1;
	free(api->api_allow);
	api->api_allow = v;
	api->api_nallow = n;
	memcpy(api->api_cfg.security.api.allowed_ips, cfg->security.api.allowed_ips,
	    sizeof(cfg->security.api.allowed_ips));
	api->api_cfg.security.api.n_allowed_ips = n;
	if (n == 0)
		log_warnx(API_COMP, "security.api.allowed_ips is empty: every request gets 403");
	return 0;
}

/* New HTTPS material for new connections. */
int
gt_api_reload_tls(struct gt_api *api, const struct gt_config *cfg, char *err,
    size_t errlen)
{
	struct gt_tls_ctx *t;

	if (api->api_tls == NULL) {
		snprintf(err, errlen, "the API was started without api.tls");
		return -1;
	}
	t = gt_tls_ctx_server(cfg->api.cert_file, cfg->api.key_file,
	    cfg->api.client_ca[0] ? cfg->api.client_ca : NULL, err, errlen);
	if (t == NULL)
		return -1;
	api_gate_set_tls(api->api_gate, t);
	gt_tls_ctx_unref(api->api_tls);
	api->api_tls = t;
	return 0;
}

/* The gate's allowlist check, at accept; a refused peer is told why (403). */
static int
api_allowed(const struct sockaddr *sa, void *arg, struct evbuffer *refusal)
{
	struct gt_api	*api = arg;
	char		 ip[64], msg[GT_API_MSG_MAX];
	json_t		*j;
	struct evbuffer	*body;

	if (gt_cidr_match(api->api_allow, api->api_nallow, sa))
		return 1;
	api->api_codes[403 - GT_API_CODE_MIN]++;
	if (gt_addr_format_ip(sa, sizeof(struct sockaddr_storage), 0, ip,
	    sizeof(ip)) == -1)
		snprintf(ip, sizeof(ip), "?");
	snprintf(msg, sizeof(msg), "source address %s is not in "
	    "security.api.allowed_ips", ip);
	if ((body = evbuffer_new()) == NULL)
		return 0;
	j = gt_api_envelope(0, msg, NULL);
	if (j != NULL && json_dump_callback(j, api_dump_cb, body, JSON_COMPACT) == 0 &&
	    evbuffer_add(body, "\n", 1) == 0)
		evbuffer_add_printf(refusal, "HTTP/1.1 403 Forbidden\r\n"
		    "Content-Type: application/json\r\nCache-Control: no-store\r\n"
		    "X-Content-Type-Options: nosniff\r\nConnection: close\r\n"
		    "Content-Length: %zu\r\n\r\n", evbuffer_get_length(body));
	if (evbuffer_get_length(refusal) > 0)
		evbuffer_add_buffer(refusal, body);
	json_decref(j);
	evbuffer_free(body);
	return 0;
}

/* Out of descriptors (or another accept error): pause instead of spinning. */
static void
api_accept_error(struct evconnlistener *lev, void *arg)
{
	struct gt_api	*api;
	int		 err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	LIST_FOREACH(api, &api_all, api_entry)
		if (api->api_lev == lev)
			break;
	if (api != NULL)
		(void)gt_accept_pause_error(api->api_pause, err);
}

/* Stop or resume accepting (the accept-pause's callback). */
static void
api_pause_cb(int paused, void *arg)
{
	struct gt_api *api = arg;

	if (api->api_lev == NULL)
		return;
	if (paused)
		evconnlistener_disable(api->api_lev);
	else
		evconnlistener_enable(api->api_lev);
}

/* Create the HTTP server and listen. */
struct gt_api *
gt_api_new(struct event_base *base, const struct gt_config *cfg,
    const unsigned char *key, size_t keylen, struct gt_store *store,
    struct gt_fwd *fwd, struct gt_registry *reg, char *err, size_t errlen)
{
	struct gt_api			*api;
	struct evhttp_bound_socket	*bound;
	struct api_gate_limits		 lim;
	char				 msg[256];

	if (cfg->security.api.enable_auth && (key == NULL || keylen == 0)) {
		snprintf(err, errlen, "security.api.jwt_secret_file: no key loaded");
		return NULL;
	}
	if ((api = calloc(1, sizeof(*api))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	api->api_base = base;
	LIST_INSERT_HEAD(&api_all, api, api_entry);
	api->api_cfg = *cfg;
	api->api_store = store;
	api->api_fwd = fwd;
	api->api_reg = reg;
	if (key != NULL && keylen > 0) {
		if ((api->api_key = malloc(keylen)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		memcpy(api->api_key, key, keylen);
		api->api_keylen = keylen;
	}
	if (gt_api_reload_allowlist(api, cfg, err, errlen) == -1)
		goto fail;
	if (cfg->api.tls && (api->api_tls = gt_tls_ctx_server(cfg->api.cert_file,
	    cfg->api.key_file, cfg->api.client_ca[0] ? cfg->api.client_ca : NULL,
	    msg, sizeof(msg))) == NULL) {
		snprintf(err, errlen, "api.tls: %s", msg);
		goto fail;
	}
	lim.max_conns = cfg->api.max_connections;
	lim.max_per_ip = cfg->api.max_connections_per_ip;
	lim.head_timeout = cfg->api.header_timeout;
	lim.body_timeout = cfg->api.body_timeout;
	if ((api->api_gate = api_gate_new(base, &lim, api->api_tls, api_allowed,
	    api)) == NULL || (api->api_pause = gt_accept_pause_new(base,
	    API_PAUSE_MS, "api", api_pause_cb, api)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((api->api_http = evhttp_new(base)) == NULL) {
		snprintf(err, errlen, "api: cannot create the HTTP server");
		goto fail;
	}
	/* Every method reaches the router, which answers 405 with Allow. */
	evhttp_set_allowed_methods(api->api_http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	    EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(api->api_http, GT_API_BODY_HARD_MAX);
	evhttp_set_max_headers_size(api->api_http, API_HDR_MAX);
	evhttp_set_timeout(api->api_http, cfg->api.idle_timeout);
	evhttp_set_bevcb(api->api_http, api_gate_bevcb, api->api_gate);
	/* Read (and drop) an oversized body before answering 413, so clients see it. */
	evhttp_set_flags(api->api_http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(api->api_http, api_dispatch, api);
	if ((bound = evhttp_bind_socket_with_handle(api->api_http,
	    cfg->api.listen_addr, cfg->api.listen_port)) == NULL) {
		snprintf(err, errlen, "api.listen_port: cannot listen on %s:%u: %s",
		    cfg->api.listen_addr, cfg->api.listen_port,
		    errno ? strerror(errno) : "bind failed");
		goto fail;
	}
	api->api_lev = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(api->api_lev, api_accept_error);
	return api;
fail:
	gt_api_free(api);
	return NULL;
}

/* Close the listener and connections; forget the key. */
void
gt_api_free(struct gt_api *api)
{
	if (api == NULL)
		return;
	if (api->api_http != NULL)
		evhttp_free(api->api_http);
	api_gate_free(api->api_gate);
	gt_accept_pause_free(api->api_pause);
	gt_tls_ctx_unref(api->api_tls);
	if (api->api_base != NULL)
		LIST_REMOVE(api, api_entry);
	if (api->api_key != NULL) {
		explicit_bzero(api->api_key, api->api_keylen);
		free(api->api_key);
	}
	free(api->api_allow);
	free(api->api_notes);
	free(api);
}

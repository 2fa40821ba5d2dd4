/*
 * stats.c: the data of /api/stats/traffic, /api/stats/history and
 * /api/stats/monitor, built from the store (configured mappings, history)
 * and the forwarder (live counters). The evhttp glue is in api.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gt/api.h"
#include "gt/counters.h"
#include "gt/fwd.h"
#include "gt/store.h"

/* Live figures of one mapping, or of a sum of them. */
struct stats_fig {
	uint64_t	in, out, active, total, refused;
};

/* Add a mapping's counters (NULL: nothing) to f. */
static void
stats_add(struct stats_fig *f, const struct gt_counters *ctr)
{
	if (ctr == NULL)
		return;
	f->in += ctr->bytes_in;
	f->out += ctr->bytes_out;
	f->active += ctr->active;
	f->total += ctr->total;
	f->refused += ctr->refused;
}

/* Set key to an integer in o; -1 on ENOMEM. */
static int
stats_set(json_t *o, const char *key, uint64_t v)
{
	return json_object_set_new(o, key,
	    json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v));
}

/* gt's figures of f into o (bytes_in, bytes_out, sessions). */
static int
stats_set_fig(json_t *o, const struct stats_fig *f)
{
	if (stats_set(o, "bytes_in", f->in) == -1 ||
	    stats_set(o, "bytes_out", f->out) == -1 ||
	    stats_set(o, "active_sessions", f->active) == -1 ||
	    stats_set(o, "sessions_total", f->total) == -1 ||
	    stats_set(o, "refused", f->refused) == -1)
		return -1;
	return 0;
}

/* The per-mapping object of /api/stats/traffic: go-tunnel's keys and gt's. */
static json_t *
stats_mapping(const struct gt_mapping *m, const struct gt_counters *ctr,
    time_t now)
{
	struct stats_fig	 f;
	json_t			*o;

	memset(&f, 0, sizeof(f));
	stats_add(&f, ctr);
	o = json_pack("{s:i, s:I, s:I, s:I, s:b, s:s, s:b}",
	    "port", (int)m->source_port,
	    "bytes_sent", (json_int_t)(f.in > INT64_MAX ? INT64_MAX : f.in),
	    "bytes_received", (json_int_t)(f.out > INT64_MAX ? INT64_MAX : f.out),
	    "last_update", (json_int_t)now, "use_tunnel", m->use_tunnel ? 1 : 0,
	    "client", m->client, "listening", ctr != NULL);
	if (o == NULL || stats_set_fig(o, &f) == -1) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Add a tunnel mapping's figures to its client's object (made if new). */
static int
stats_client(json_t *index, json_t *clients, const struct gt_mapping *m,
    const struct gt_counters *ctr)
{
	struct stats_fig	 f;
	json_t			*c, *v;

	if ((c = json_object_get(index, m->client)) == NULL) {
		if ((c = json_pack("{s:s, s:i}", "name", m->client, "mappings",
		    0)) == NULL || json_array_append_new(clients, c) == -1 ||
		    json_object_set(index, m->client, c) == -1)
			return -1;
	}
	/* The sums so far, plus this mapping. */
	memset(&f, 0, sizeof(f));
	stats_add(&f, ctr);
	if ((v = json_object_get(c, "bytes_in")) != NULL) {
		f.in += (uint64_t)json_integer_value(v);
		f.out += (uint64_t)json_integer_value(json_object_get(c,
		    "bytes_out"));
		f.active += (uint64_t)json_integer_value(json_object_get(c,
		    "active_sessions"));
		f.total += (uint64_t)json_integer_value(json_object_get(c,
		    "sessions_total"));
		f.refused += (uint64_t)json_integer_value(json_object_get(c,
		    "refused"));
	}
	if (stats_set(c, "mappings", (uint64_t)json_integer_value(
	    json_object_get(c, "mappings")) + 1) == -1)
		return -1;
	return stats_set_fig(c, &f);
}

int
gt_api_stats_traffic(struct gt_store *st, struct gt_fwd *fw, time_t now,
    json_t **data)
{
	struct gt_mapping	*ms = NULL;
	const struct gt_counters *ctr;
	struct stats_fig	 all, tun;
	json_t			*maps = NULL, *clients = NULL, *index = NULL, *o;
	json_t			*d = NULL, *t;
	size_t			 n = 0, i;
	int			 rc;

	*data = NULL;
	if ((rc = gt_store_list(st, &ms, &n)) != GT_STORE_OK)
		return rc;
	memset(&all, 0, sizeof(all));
	memset(&tun, 0, sizeof(tun));
	if ((maps = json_array()) == NULL || (clients = json_array()) == NULL ||
	    (index = json_object()) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		ctr = gt_fwd_counters(fw, ms[i].source_port);
		stats_add(&all, ctr);
		if ((o = stats_mapping(&ms[i], ctr, now)) == NULL ||
		    json_array_append_new(maps, o) == -1)
			goto oom;
		if (!ms[i].use_tunnel)
			continue;
		stats_add(&tun, ctr);
		if (stats_client(index, clients, &ms[i], ctr) == -1)
			goto oom;
	}
	d = json_pack("{s:{s:I, s:I, s:I}, s:o, s:o, s:I, s:I, s:I, s:{s:I}}",
	    "tunnel", "bytes_sent", (json_int_t)tun.in, "bytes_received",
	    (json_int_t)tun.out, "last_update", (json_int_t)now,
	    "mappings", maps, "clients", clients,
	    "total_sent", (json_int_t)all.in, "total_received",
	    (json_int_t)all.out, "timestamp", (json_int_t)now,
	    "total", "mappings", (json_int_t)n);
	maps = clients = NULL;	/* stolen, even on failure */
	if (d == NULL || (t = json_object_get(d, "total")) == NULL ||
	    stats_set_fig(t, &all) == -1)
		goto oom;
	json_decref(index);
	free(ms);
	*data = d;
	return GT_STORE_OK;
 oom:
	json_decref(d);
	json_decref(maps);
	json_decref(clients);
	json_decref(index);
	free(ms);
	return GT_STORE_OK;	/* with *data NULL: out of memory */
}

/* One history record in SPEC 9's shape plus gt's fields. */
static json_t *
stats_record(const struct gt_traffic_record *r)
{
	char	 ts[32];
	json_t	*o;

	o = json_pack("{s:i, s:s, s:I}", "port", (int)r->port,
	    "recorded_at", gt_api_time(r->recorded_at, ts, sizeof(ts)),
	    "recorded_at_unix", (json_int_t)r->recorded_at);
	if (o == NULL || stats_set(o, "bytes_in", r->bytes_in) == -1 ||
	    stats_set(o, "bytes_out", r->bytes_out) == -1 ||
	    stats_set(o, "sessions", r->sessions) == -1 ||
	    stats_set(o, "refused", r->refused) == -1 ||
	    stats_set(o, "peak_sessions", r->peak_sessions) == -1) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
gt_api_stats_history(struct gt_store *st, const struct gt_api_history_filter *f,
    json_t **data)
{
	struct gt_history_query	 q;
	struct gt_traffic_record *rs = NULL;
	json_t			*arr, *o;
	size_t			 n = 0, i;
	int			 rc;

	*data = NULL;
	memset(&q, 0, sizeof(q));
	q.port = f->port;
	q.from = f->from;
	q.to = f->to;
	q.limit = f->limit;
	if ((rc = gt_store_history(st, &q, &rs, &n)) != GT_STORE_OK)
		return rc;
	if ((arr = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		if ((o = stats_record(&rs[i])) == NULL ||
		    json_array_append_new(arr, o) == -1)
			goto oom;
	free(rs);
	*data = json_pack("{s:o, s:I, s:I}", "records", arr, "count",
	    (json_int_t)n, "limit", (json_int_t)q.limit);
	return GT_STORE_OK;
 oom:
	json_decref(arr);
	free(rs);
	return GT_STORE_OK;
}

/* The latest record of port among rs (sorted by port), or NULL. */
static const struct gt_traffic_record *
stats_latest(const struct gt_traffic_record *rs, size_t n, uint16_t port)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (rs[mid].port == port)
			return &rs[mid];
		if (rs[mid].port < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
gt_api_stats_monitor(struct gt_store *st, struct gt_fwd *fw, unsigned interval,
    time_t now, json_t **data)
{
	struct gt_mapping	*ms = NULL;
	struct gt_traffic_record *rs = NULL;
	const struct gt_traffic_record *r;
	const struct gt_counters *ctr;
	struct stats_fig	 all, f;
	uint64_t		 rin = 0, rout = 0;
	json_t			*maps = NULL, *o, *d = NULL, *t;
	size_t			 n = 0, nr = 0, i;
	int			 rc;

	*data = NULL;
	if (interval == 0)
		interval = 1;
	if ((rc = gt_store_list(st, &ms, &n)) != GT_STORE_OK)
		return rc;
	if ((rc = gt_store_history_latest(st, &rs, &nr)) != GT_STORE_OK) {
		free(ms);
		return rc;
	}
	memset(&all, 0, sizeof(all));
	if ((maps = json_array()) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		ctr = gt_fwd_counters(fw, ms[i].source_port);
		memset(&f, 0, sizeof(f));
		stats_add(&f, ctr);
		stats_add(&all, ctr);
		r = stats_latest(rs, nr, ms[i].source_port);
		o = json_pack("{s:i, s:I, s:I, s:o}", "port",
		    (int)ms[i].source_port,
		    "rate_in", (json_int_t)(r ? r->bytes_in / interval : 0),
		    "rate_out", (json_int_t)(r ? r->bytes_out / interval : 0),
		    "last_record", r ? stats_record(r) : json_null());
		if (o == NULL || stats_set_fig(o, &f) == -1 ||
		    json_array_append_new(maps, o) == -1) {
			json_decref(o);
			goto oom;
		}
		if (r != NULL) {
			rin += r->bytes_in / interval;
			rout += r->bytes_out / interval;
		}
	}
	d = json_pack("{s:I, s:i, s:o, s:{s:I, s:I}}", "timestamp",
	    (json_int_t)now, "record_interval", (int)interval, "mappings", maps,
	    "total", "rate_in", (json_int_t)rin, "rate_out", (json_int_t)rout);
	maps = NULL;
	if (d == NULL || (t = json_object_get(d, "total")) == NULL ||
	    stats_set_fig(t, &all) == -1)
		goto oom;
	free(ms);
	free(rs);
	*data = d;
	return GT_STORE_OK;
 oom:
	json_decref(d);
	json_decref(maps);
	free(ms);
	free(rs);
	return GT_STORE_OK;
}

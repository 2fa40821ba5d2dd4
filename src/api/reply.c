/* reply.c: the JSON shapes the API answers with (SPEC §4). */
#include <stdio.h>
#include <time.h>

#include "gt/api.h"
#include "gt/counters.h"

/* Format t as RFC 3339 UTC. */
const char *
gt_api_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "1970-01-01T00:00:00Z");
	return buf;
}

/* Wrap data in the API envelope. */
json_t *
gt_api_envelope(int success, const char *msg, json_t *data)
{
	json_t *o;

	if (data == NULL)
		data = json_object();
	o = json_pack("{s:b, s:s, s:o}", "success", success, "message",
	    msg != NULL ? msg : "", "data", data);
	return o;
}

/* SPEC 9's fields of m, and the access rule's refusals, into o. */
static int
reply_edge(json_t *o, const struct gt_mapping *m, const struct gt_counters *ctr)
{
	char	 buf[GT_CIDR_STRLEN];
	json_t	*ips;
	size_t	 i;

	if ((ips = json_array()) == NULL)
		return -1;
	for (i = 0; i < m->n_access_ips && i < GT_ACCESS_IPS_MAX; i++)
		if (gt_cidr_format(&m->access_ips[i], buf, sizeof(buf)) == -1 ||
		    json_array_append_new(ips, json_string(buf)) == -1) {
			json_decref(ips);
			return -1;
		}
	if (json_object_set_new(o, "access_rule",
	    json_string(gt_mapping_rule_name(m->access_rule))) == -1 ||
	    json_object_set_new(o, "access_ips", ips) == -1 ||
	    json_object_set_new(o, "max_connections",
	    json_integer((json_int_t)m->max_connections)) == -1 ||
	    json_object_set_new(o, "bandwidth_limit",
	    json_integer((json_int_t)m->bandwidth_limit)) == -1 ||
	    json_object_set_new(o, "proxy_protocol",
	    json_string(m->proxy_protocol)) == -1 ||
	    json_object_set_new(o, "refused_connections",
	    json_integer((json_int_t)(ctr ? ctr->refused : 0))) == -1)
		return -1;
	return 0;
}

/* A mapping and its live figures as JSON. */
json_t *
gt_api_mapping_json(const struct gt_mapping *m, const struct gt_counters *ctr,
    const char *error)
{
	char	 ts[32];
	json_t	*o;

	o = json_pack("{s:I, s:i, s:s, s:s, s:i, s:b, s:s, s:s, s:I, s:I, s:I}",
	    "id", (json_int_t)m->id,
	    "source_port", (int)m->source_port,
	    "target_host", m->target_host,
	    "target_ip", m->target_host,
	    "target_port", (int)m->target_port,
	    "use_tunnel", m->use_tunnel ? 1 : 0,
	    "client", m->client,
	    "created_at", gt_api_time(m->created_at, ts, sizeof(ts)),
	    "active_connections", (json_int_t)(ctr ? ctr->active : 0),
	    "bytes_in", (json_int_t)(ctr ? ctr->bytes_in : 0),
	    "bytes_out", (json_int_t)(ctr ? ctr->bytes_out : 0));
	if (o != NULL && reply_edge(o, m, ctr) == -1) {
		json_decref(o);
		return NULL;
	}
	if (o != NULL && (ctr == NULL || error != NULL))
		json_object_set_new(o, "error",
		    json_string(error != NULL ? error : "not listening"));
	return o;
}

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
	if (o != NULL && (ctr == NULL || error != NULL))
		json_object_set_new(o, "error",
		    json_string(error != NULL ? error : "not listening"));
	return o;
}

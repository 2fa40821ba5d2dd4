/* fuzz_api_request.c: libFuzzer target for the API's body parsing and validation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gt/api.h"
#include "gt/config.h"
#include "gt/names.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A config like SPEC §3's, with both tunnel settings tried. */
static void
fuzz_cfg(struct gt_config *cfg, int tunnel)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->port_range.from = 1;
	cfg->port_range.end = 65535;
	cfg->tunnel.enabled = tunnel;
	cfg->security.port_range.blacklist[0] = 22;
	cfg->security.port_range.n_blacklist = 1;
}

/* The same bytes as a query string of /api/connections and /api/stats/history. */
static void
fuzz_query(const uint8_t *data, size_t size)
{
	struct gt_api_conn_filter	 f;
	struct gt_api_history_filter	 h;
	char				 msg[GT_API_MSG_MAX], *q;

	if ((q = malloc(size + 1)) == NULL)
		return;
	memcpy(q, data, size);
	q[size] = '\0';
	if (gt_api_check_conn_query(q, &f, msg, sizeof(msg)) == 0 &&
	    f.client[0] != '\0' && !gt_api_client_valid(f.client))
		__builtin_trap();
	/* and of /api/stats/history: what passes is in range */
	if (gt_api_check_history_query(q, &h, msg, sizeof(msg)) == 0 &&
	    (h.limit < 1 || h.limit > GT_API_HISTORY_MAX || h.from > h.to))
		__builtin_trap();
	free(q);
}

/* One fuzz input: bytes to JSON to every validator. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gt_config	 cfg;
	struct gt_mapping	 m;
	char			 msg[GT_API_MSG_MAX], name[GT_NAME_MAX + 1];
	uint16_t		 port;
	json_t			*j;
	uint64_t		 id;
	int			 tunnel;

	fuzz_query(data, size);
	if (gt_api_parse_body((const char *)data, size, &j, msg, sizeof(msg)) != 0)
		return 0;
	for (tunnel = 0; tunnel <= 1; tunnel++) {
		fuzz_cfg(&cfg, tunnel);
		if (gt_api_check_create(j, &cfg, &m, msg, sizeof(msg)) == 0) {
			/* What passed must be what the rest of the server relies on. */
			if (m.source_port == 0 || m.target_port == 0 ||
			    !gt_api_host_valid(m.target_host) ||
			    (m.client[0] != '\0' && !gt_api_client_valid(m.client)))
				__builtin_trap();
			json_decref(gt_api_mapping_json(&m, NULL, NULL));
		}
	}
	(void)gt_api_check_remove(j, &port, msg, sizeof(msg));
	if (gt_api_check_conn_close(j, &id, msg, sizeof(msg)) == 0 && id == 0)
		__builtin_trap();
	/* A name that passed is one the registry and the log can take. */
	if (gt_api_check_disconnect(j, name, sizeof(name), msg, sizeof(msg)) == 0 &&
	    !gt_name_valid(name))
		__builtin_trap();
	json_decref(j);
	return 0;
}

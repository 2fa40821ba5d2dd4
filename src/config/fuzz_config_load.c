/* fuzz_config_load.c: libFuzzer target: any bytes through gt_config_load_buf. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gt/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Parse one input; success must give a config that passes its own bounds. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gt_config	c;
	char			err[256];
	size_t			i;

	memset(err, 'x', sizeof(err));
	if (gt_config_load_buf((const char *)data, size, "fuzz.yaml", &c, err,
	    sizeof(err)) == 0) {
		if (c.port_range.from == 0 || c.port_range.from > c.port_range.end ||
		    c.tunnel.heartbeat_timeout <= c.tunnel.heartbeat_interval ||
		    c.security.port_range.n_blacklist > GT_CONFIG_MAX_LIST ||
		    c.security.api.n_allowed_ips == 0 ||
		    c.security.api.n_allowed_ips > GT_CONFIG_MAX_LIST)
			abort();
		for (i = 0; i < c.security.port_range.n_blacklist; i++)
			if (c.security.port_range.blacklist[i] == 0)
				abort();
		if (memchr(c.database.path, '\0', sizeof(c.database.path)) ==
		    NULL)
			abort();
	} else if (memchr(err, '\0', sizeof(err)) == NULL ||
	    strchr(err, '\n') != NULL)
		abort();	/* errors are one terminated line */
	return 0;
}

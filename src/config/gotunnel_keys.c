/*
 * gotunnel_keys.c: every key of go-tunnel's config.yaml (all its
 * releases: src/server/config/config.go) and what a user moving to gt
 * does with it. A key gt lacks gets "lacks", said instead of a bare
 * "unknown key"; a key gt has under the same name gets "note" when gt
 * treats it differently, NULL when it means the same. Which of the two
 * applies is decided by gt's own key table at run time, so a key gt
 * learns later (the stats section of SPEC 9) turns from advice into a
 * note, or into nothing, without touching this table.
 */
#include <string.h>

#include "gt/config.h"

static const struct gt_config_gtkey gotunnel_keys[] = {
	{ "port_range", "gt enforces port_range on every create, import and "
	    "restart (go-tunnel's later releases ignore it): widen it to hold "
	    "every port you map", NULL },
	{ "port_range.from", NULL, NULL },
	{ "port_range.end", NULL, NULL },
	{ "tunnel.enabled", NULL, NULL },
	{ "tunnel.listen_port", "gt's tunnel is mutual TLS by default "
	    "(security.tunnel.*, certificates from gt-certgen init): run "
	    "gt-client on the private side; a go-tunnel client connects only "
	    "with security.tunnel.enable_tls: false", NULL },
	{ "api.listen_port", "gt's API binds api.listen_addr, 127.0.0.1 by "
	    "default (go-tunnel: every address), and admits "
	    "security.api.allowed_ips only: set both, with api.tls, to reach "
	    "it from elsewhere", NULL },
	{ "api.api_key", NULL, "go-tunnel's shared API key: gt takes signed "
	    "tokens instead; remove the key, make the signing key with "
	    "gt-certgen init -out certs (security.api.jwt_secret_file: "
	    "certs/jwt.key) and issue a token with gt-server -config FILE "
	    "-issue-token NAME [-token-role admin|read] [-token-ttl SECONDS], "
	    "sent as Authorization: Bearer TOKEN (not X-API-Key, never in the "
	    "URL)" },
	{ "database.path", "gt keeps its own schema and will not open "
	    "go-tunnel's mappings.db as its store: point this at a new file "
	    "and copy the mappings with gt-server -import-gotunnel OLD.db", NULL },
	{ "stats.enabled", NULL, "gt has no switch for traffic statistics, "
	    "they are always counted (GET /api/mapping/list, /metrics): "
	    "remove the key" },
	{ "stats.record_interval", NULL, "this gt build keeps no traffic "
	    "history (live figures: GET /api/mapping/list, /metrics): remove "
	    "the key" },
	{ "stats.retention_days", NULL, "this gt build keeps no traffic "
	    "history (live figures: GET /api/mapping/list, /metrics): remove "
	    "the key" },
};
#define GOTUNNEL_NKEYS	(sizeof(gotunnel_keys) / sizeof(gotunnel_keys[0]))

const struct gt_config_gtkey *
gt_config_gotunnel_key(const char *path)
{
	size_t i;

	for (i = 0; i < GOTUNNEL_NKEYS; i++)
		if (strcmp(gotunnel_keys[i].gk_key, path) == 0)
			return &gotunnel_keys[i];
	return NULL;
}

int
gt_config_gotunnel_section(const char *path)
{
	size_t	i, len = strlen(path);

	for (i = 0; i < GOTUNNEL_NKEYS; i++)
		if (strncmp(gotunnel_keys[i].gk_key, path, len) == 0 &&
		    gotunnel_keys[i].gk_key[len] == '.')
			return 1;
	return 0;
}

const struct gt_config_gtkey *
gt_config_gotunnel_keys(size_t *n)
{
	*n = GOTUNNEL_NKEYS;
	return gotunnel_keys;
}

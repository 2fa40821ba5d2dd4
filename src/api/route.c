/*
 * route.c: the API's one table of routes and its lookup. Kept apart from
 * the evhttp glue so that tests link it without the forwarder.
 */
#include <stdio.h>
#include <string.h>

#include <event2/http.h>

#include "gt/api.h"

const struct gt_api_route gt_api_routes[] = {
	{ EVHTTP_REQ_GET,  "/health",		 GT_ROLE_NONE,  GT_API_OP_HEALTH },
	{ EVHTTP_REQ_GET,  "/metrics",		 GT_ROLE_READ,  GT_API_OP_METRICS },
	{ EVHTTP_REQ_POST, "/api/mapping/create", GT_ROLE_ADMIN, GT_API_OP_CREATE },
	{ EVHTTP_REQ_POST, "/api/mapping/remove", GT_ROLE_ADMIN, GT_API_OP_REMOVE },
	{ EVHTTP_REQ_GET,  "/api/mapping/list",	 GT_ROLE_READ,  GT_API_OP_LIST },
	{ EVHTTP_REQ_GET,  "/api/tunnel/clients", GT_ROLE_READ,  GT_API_OP_CLIENTS },
	{ EVHTTP_REQ_POST, "/api/mapping/update", GT_ROLE_ADMIN, GT_API_OP_UPDATE },
	{ EVHTTP_REQ_POST, "/api/mapping/reload", GT_ROLE_ADMIN, GT_API_OP_RELOAD },
	{ EVHTTP_REQ_GET,  "/api/connections",	 GT_ROLE_READ,  GT_API_OP_CONNS },
	{ EVHTTP_REQ_POST, "/api/connections/close", GT_ROLE_ADMIN, GT_API_OP_CONN_CLOSE },
	{ EVHTTP_REQ_GET,  "/api/stats/connections", GT_ROLE_READ, GT_API_OP_STATS_CONNS },
	{ EVHTTP_REQ_POST, "/api/tunnel/clients/disconnect", GT_ROLE_ADMIN,
	    GT_API_OP_DISCONNECT },
	{ EVHTTP_REQ_GET,  "/api/stats/traffic", GT_ROLE_READ, GT_API_OP_STATS_TRAFFIC },
	{ EVHTTP_REQ_GET,  "/api/stats/history", GT_ROLE_READ, GT_API_OP_STATS_HISTORY },
	{ EVHTTP_REQ_GET,  "/api/stats/monitor", GT_ROLE_READ, GT_API_OP_STATS_MONITOR },
	{ 0, NULL, GT_ROLE_NONE, GT_API_OP_MAX }
};

/* Name of an evhttp method bit. */
const char *
gt_api_method_name(int method)
{
	switch (method) {
	case EVHTTP_REQ_GET:	 return "GET";
	case EVHTTP_REQ_POST:	 return "POST";
	case EVHTTP_REQ_HEAD:	 return "HEAD";
	case EVHTTP_REQ_PUT:	 return "PUT";
	case EVHTTP_REQ_DELETE:	 return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE:	 return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH:	 return "PATCH";
	}
	return "?";
}

/* Reason phrases for the codes the API sends. */
const char *
gt_api_status_text(int code)
{
	switch (code) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

/* Whether the table has path at all. */
int
gt_api_path_known(const struct gt_api_route *t, const char *path)
{
	for (; t->r_path != NULL; t++)
		if (strcmp(t->r_path, path) == 0)
			return 1;
	return 0;
}

/* Look method and path up; 404 or 405 with Allow when absent. */
const struct gt_api_route *
gt_api_route_find(const struct gt_api_route *table, int method, const char *path,
    int *status, char *allow, size_t allowlen)
{
	const struct gt_api_route	*t;
	size_t				 used = 0;
	int				 n;

	if (allowlen > 0)
		allow[0] = '\0';
	for (t = table; t->r_path != NULL; t++)
		if (t->r_method == method && strcmp(t->r_path, path) == 0)
			return t;
	*status = 404;
	for (t = table; t->r_path != NULL; t++) {
		if (strcmp(t->r_path, path) != 0)
			continue;
		*status = 405;
		if (allowlen == 0 || used >= allowlen)
			continue;
		n = snprintf(allow + used, allowlen - used, "%s%s",
		    used ? ", " : "", gt_api_method_name(t->r_method));
		if (n > 0)
			used += (size_t)n;
	}
	return NULL;
}

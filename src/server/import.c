/*
 * import.c: gt-server -import-gotunnel FILE. Copies go-tunnel's mappings
 * into gt's store, one line a row on stdout. Each row becomes the JSON
 * body go-tunnel's own API would have sent and goes through the API's
 * create checks (gt_api_check_create, gt_api_check_chain), so an imported
 * mapping obeys exactly the rules of one made by hand; where go-tunnel
 * silently skipped a bad value (an access_ips entry it could not parse,
 * an unknown access_rule) gt refuses, and the row is skipped with the
 * reason instead of being served open.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gt/api.h"
#include "gt/config.h"
#include "gt/gotunnel.h"
#include "gt/mapping.h"
#include "gt/store.h"

#include "server.h"

#define IMP_PROG	"gt-server"
#define IMP_MSGLEN	320

/* What became of one row. */
enum imp_fate {
	IMP_IMPORTED,
	IMP_UNCHANGED,	/* the store has this very mapping already */
	IMP_SKIPPED,
	IMP_STOP,	/* the store failed: no further row is tried */
};

struct imp {
	const struct gt_config	*i_cfg;
	struct gt_store		*i_store;
	struct gt_mapping	*i_ms;		/* the store's mappings, and ours */
	size_t			 i_n, i_cap;
	size_t			 i_count[IMP_STOP + 1];
};

/*
 * One raw value as JSON: NULL (and an absent column) is no field, as in a
 * go-tunnel API body; text must be UTF-8. -1 with msg for a blob or text
 * jansson refuses.
 */
static int
imp_json_value(const struct gt_gotunnel_value *v, const char *name,
    json_t **out, char *msg, size_t msglen)
{
	*out = NULL;
	switch (v->type) {
	case GT_GOTUNNEL_ABSENT:
	case GT_GOTUNNEL_NULL:
		return 0;
	case GT_GOTUNNEL_INT:
		*out = json_integer((json_int_t)v->i);
		break;
	case GT_GOTUNNEL_REAL:
		*out = json_real(v->r);
		break;
	case GT_GOTUNNEL_TEXT:
		if ((*out = json_stringn(v->s, v->len)) == NULL) {
			snprintf(msg, msglen, "%s: not UTF-8 text", name);
			return -1;
		}
		break;
	case GT_GOTUNNEL_BLOB:
		snprintf(msg, msglen, "%s: a binary value, not %s", name,
		    strcmp(name, "target_host") == 0 || strcmp(name,
		    "access_rule") == 0 || strcmp(name, "access_ips") == 0 ?
		    "text" : "a number");
		return -1;
	}
	if (*out == NULL) {
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * The row as the create body go-tunnel's API took: port, target_host,
 * target_port, use_tunnel, bandwidth_limit, access_rule, access_ips.
 */
static json_t *
imp_body(const struct gt_gotunnel_row *row, char *msg, size_t msglen)
{
	static const struct {
		enum gt_gotunnel_col	 col;
		const char		*field;
	} map[] = {
		{ GT_GOTUNNEL_SOURCE_PORT, "port" },
		{ GT_GOTUNNEL_TARGET_HOST, "target_host" },
		{ GT_GOTUNNEL_TARGET_PORT, "target_port" },
		{ GT_GOTUNNEL_BANDWIDTH_LIMIT, "bandwidth_limit" },
		{ GT_GOTUNNEL_ACCESS_RULE, "access_rule" },
		{ GT_GOTUNNEL_ACCESS_IPS, "access_ips" },
	};
	const struct gt_gotunnel_value	*ut = &row->v[GT_GOTUNNEL_USE_TUNNEL];
	json_t				*o, *v;
	size_t				 i;

	if ((o = json_object()) == NULL) {
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (imp_json_value(&row->v[map[i].col], map[i].field, &v, msg,
		    msglen) == -1)
			goto fail;
		if (v != NULL && json_object_set_new(o, map[i].field, v) == -1) {
			snprintf(msg, msglen, "out of memory");
			goto fail;
		}
	}
	/*
	 * go-tunnel's BOOLEAN is SQLite's 0 or 1; a file from before
	 * use_tunnel had only direct mappings (its migration adds 0).
	 */
	if (ut->type == GT_GOTUNNEL_INT && (ut->i == 0 || ut->i == 1))
		v = json_boolean(ut->i == 1);
	else if (ut->type == GT_GOTUNNEL_ABSENT || ut->type == GT_GOTUNNEL_NULL)
		v = json_false();
	else {
		snprintf(msg, msglen, "use_tunnel: must be 0 or 1");
		goto fail;
	}
	if (json_object_set_new(o, "use_tunnel", v) == -1) {
		snprintf(msg, msglen, "out of memory");
		goto fail;
	}
	return o;
 fail:
	json_decref(o);
	return NULL;
}

/*
 * go-tunnel's created_at, SQLite's CURRENT_TIMESTAMP ("2024-05-01
 * 12:00:00", UTC), as a time; 0 when it is missing or reads otherwise.
 */
static time_t
imp_created(const struct gt_gotunnel_value *v)
{
	struct tm	tm;
	char		buf[40];
	int		n = 0;
	time_t		t;

	if (v->type == GT_GOTUNNEL_INT)
		return v->i > 0 && v->i < (int64_t)1 << 40 ? (time_t)v->i : 0;
	if (v->type != GT_GOTUNNEL_TEXT || v->len >= sizeof(buf))
		return 0;
	memcpy(buf, v->s, v->len);
	buf[v->len] = '\0';
	memset(&tm, 0, sizeof(tm));
	if (sscanf(buf, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%n", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	    &n) != 6 || n < 19)
		return 0;
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	return t > 0 ? t : 0;
}

/* Whether a and b would serve alike (id and created_at aside). */
static int
imp_same(const struct gt_mapping *a, const struct gt_mapping *b)
{
	char	ia[GT_ACCESS_IPS_MAX * GT_CIDR_STRLEN];
	char	ib[GT_ACCESS_IPS_MAX * GT_CIDR_STRLEN];

	if (gt_mapping_ips_format(a, ia, sizeof(ia)) == -1 ||
	    gt_mapping_ips_format(b, ib, sizeof(ib)) == -1)
		return 0;
	return a->source_port == b->source_port &&
	    strcmp(a->target_host, b->target_host) == 0 &&
	    a->target_port == b->target_port &&
	    (a->use_tunnel != 0) == (b->use_tunnel != 0) &&
	    strcmp(a->client, b->client) == 0 &&
	    a->access_rule == b->access_rule && strcmp(ia, ib) == 0 &&
	    a->max_connections == b->max_connections &&
	    a->bandwidth_limit == b->bandwidth_limit &&
	    strcmp(a->proxy_protocol, b->proxy_protocol) == 0;
}

/* The mapping at port among those known, or NULL. */
static const struct gt_mapping *
imp_find(const struct imp *im, uint16_t port)
{
	size_t i;

	for (i = 0; i < im->i_n; i++)
		if (im->i_ms[i].source_port == port)
			return &im->i_ms[i];
	return NULL;
}

/* Remember m as mapped, for the checks of the rows after it. */
static int
imp_remember(struct imp *im, const struct gt_mapping *m)
{
	struct gt_mapping	*nm;
	size_t			 cap;

	if (im->i_n == im->i_cap) {
		cap = im->i_cap ? im->i_cap * 2 : 64;
		if ((nm = reallocarray(im->i_ms, cap, sizeof(*nm))) == NULL)
			return -1;
		im->i_ms = nm;
		im->i_cap = cap;
	}
	im->i_ms[im->i_n++] = *m;
	return 0;
}

/* "direct to h:p; bandwidth_limit N B/s; whitelist of N" for a report line. */
static void
imp_describe(const struct gt_mapping *m, char *buf, size_t len)
{
	size_t o;

	o = (size_t)snprintf(buf, len, "%s to %s:%u", m->use_tunnel ?
	    "tunnel" : "direct", m->target_host, m->target_port);
	if (o < len && m->bandwidth_limit > 0)
		o += (size_t)snprintf(buf + o, len - o, ", bandwidth_limit "
		    "%llu B/s", (unsigned long long)m->bandwidth_limit);
	if (o < len && m->access_rule != GT_ACCESS_DISABLED)
		o += (size_t)snprintf(buf + o, len - o, ", %s of %zu",
		    gt_mapping_rule_name(m->access_rule), m->n_access_ips);
	(void)o;
}

/* Check and store one row; the report line is printed here. */
static enum imp_fate
imp_row(struct imp *im, const struct gt_gotunnel_row *row)
{
	const struct gt_gotunnel_value	*sp = &row->v[GT_GOTUNNEL_SOURCE_PORT];
	const struct gt_gotunnel_value	*bw = &row->v[GT_GOTUNNEL_BANDWIDTH_LIMIT];
	const struct gt_mapping		*old;
	struct gt_mapping		*m;
	enum imp_fate			 fate = IMP_SKIPPED;
	char				 msg[IMP_MSGLEN], what[IMP_MSGLEN];
	char				 port[16];
	json_t				*o;
	int				 rc;

	if (sp->type == GT_GOTUNNEL_INT && sp->i >= 1 && sp->i <= 65535)
		snprintf(port, sizeof(port), "%lld", (long long)sp->i);
	else
		snprintf(port, sizeof(port), "?");
	printf("row %lld port %s: ", (long long)row->id, port);
	if ((m = malloc(sizeof(*m))) == NULL) {
		printf("stopped: out of memory\n");
		return IMP_STOP;
	}
	if ((o = imp_body(row, msg, sizeof(msg))) == NULL)
		goto skip;
	rc = gt_api_check_create(o, im->i_cfg, m, msg, sizeof(msg));
	json_decref(o);
	if (rc != 0)
		goto skip;
	m->created_at = imp_created(&row->v[GT_GOTUNNEL_CREATED_AT]);
	if ((old = imp_find(im, m->source_port)) != NULL) {
		imp_describe(old, what, sizeof(what));
		if (imp_same(old, m)) {
			printf("unchanged: already in the store as %s\n", what);
			fate = IMP_UNCHANGED;
		} else
			printf("skipped: port %u is already mapped in the "
			    "store (%s)\n", m->source_port, what);
		free(m);
		return fate;
	}
	if ((rc = gt_api_check_chain(m, im->i_ms, im->i_n, msg,
	    sizeof(msg))) != 0)
		goto skip;
	rc = gt_store_add(im->i_store, m);
	if (rc == GT_STORE_EXISTS) {
		/* A server on the same store made it since we listed. */
		printf("skipped: port %u is already mapped in the store\n",
		    m->source_port);
		free(m);
		return IMP_SKIPPED;
	}
	if (rc == GT_STORE_BUSY) {
		printf("skipped: the store is locked by another process (%s); "
		    "run the import again\n", gt_store_error(im->i_store));
		free(m);
		return IMP_SKIPPED;
	}
	if (rc != GT_STORE_OK) {
		printf("stopped: database.path: %s\n",
		    gt_store_error(im->i_store));
		free(m);
		return IMP_STOP;
	}
	if (imp_remember(im, m) == -1) {
		printf("imported; stopped after it: out of memory\n");
		free(m);
		return IMP_STOP;
	}
	imp_describe(m, what, sizeof(what));
	printf("imported: %s%s\n", what, bw->type == GT_GOTUNNEL_INT &&
	    bw->i == 0 ? " (go-tunnel's bandwidth_limit 0 let only a "
	    "first burst through; gt reads 0 as no limit)" : "");
	free(m);
	return IMP_IMPORTED;
 skip:
	/* go-tunnel served such a row with the bad part ignored. */
	printf("skipped: %s%s\n", msg, strncmp(msg, "access_", 7) == 0 ?
	    " (go-tunnel ignored what it could not parse; gt refuses the "
	    "mapping rather than serve it with another rule)" : "");
	free(m);
	return IMP_SKIPPED;
}

/* Whether a and b name the same file (both must exist). */
static int
imp_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) == -1 || stat(b, &sb) == -1)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int
gt_server_import(const struct gt_config *cfg, const char *path)
{
	struct gt_gotunnel	*g;
	struct gt_gotunnel_row	 row;
	struct imp		 im;
	char			 err[512];
	size_t			 rows = 0;
	int			 rc, stopped = 0;

	memset(&im, 0, sizeof(im));
	im.i_cfg = cfg;
	/* gt's store would switch go-tunnel's file to WAL and fail on it. */
	if (imp_same_file(path, cfg->database.path)) {
		fprintf(stderr, "%s: -import-gotunnel: %s is database.path "
		    "itself: point database.path at a new file for gt's store "
		    "(go-tunnel's file is only read)\n", IMP_PROG, path);
		return 2;
	}
	if ((g = gt_gotunnel_open(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: -import-gotunnel: %s\n", IMP_PROG, err);
		return 2;
	}
	if ((im.i_store = gt_store_open(cfg->database.path, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "%s: database.path: %s\n", IMP_PROG, err);
		gt_gotunnel_close(g);
		return 1;
	}
	if (gt_store_list(im.i_store, &im.i_ms, &im.i_n) != GT_STORE_OK) {
		fprintf(stderr, "%s: database.path: %s\n", IMP_PROG,
		    gt_store_error(im.i_store));
		gt_store_close(im.i_store);
		gt_gotunnel_close(g);
		return 1;
	}
	im.i_cap = im.i_n;
	printf("importing %s (go-tunnel columns: %s) into %s\n", path,
	    gt_gotunnel_columns(g), cfg->database.path);
	while ((rc = gt_gotunnel_next(g, &row)) == 1) {
		rows++;
		rc = imp_row(&im, &row);
		im.i_count[rc]++;
		if (rc == IMP_STOP) {
			stopped = 1;
			break;
		}
	}
	if (rc == -1) {
		printf("stopped: %s: %s\n", path, gt_gotunnel_error(g));
		stopped = 1;
	}
	printf("summary: %zu rows read: %zu imported, %zu unchanged, %zu "
	    "skipped%s\n", rows, im.i_count[IMP_IMPORTED],
	    im.i_count[IMP_UNCHANGED], im.i_count[IMP_SKIPPED],
	    stopped ? "; stopped early" : "");
	free(im.i_ms);
	gt_store_close(im.i_store);
	gt_gotunnel_close(g);
	if (fflush(stdout) != 0)
		return 1;
	return stopped || im.i_count[IMP_SKIPPED] > 0 ? 1 : 0;
}

/*
 * server.c: gt-server's wiring. Flags, configuration, then one event loop
 * holding the store, the forwarder, the tunnel listener and the API.
 * SIGTERM/SIGINT tear everything down and let the loop run dry; SIGHUP
 * reloads the API allowlist and the tunnel's TLS material.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <jansson.h>
#include <mbedtls/version.h>

#include "gt/api.h"
#include "gt/auth.h"
#include "gt/config.h"
#include "gt/flags.h"
#include "gt/fwd.h"
#include "gt/log.h"
#include "gt/loop.h"
#include "gt/recorder.h"
#include "gt/registry.h"
#include "gt/store.h"
#include "gt/tunnel.h"

#include "server.h"

#define SRV_PROG		"gt-server"
#define SRV_COMP		"server"
#define SRV_SHUTDOWN_SECS	4	/* a teardown slower than this is cut short */
#define SRV_TTL_MAX		31536000L
#define SRV_ERRLEN		512

struct server {
	const char		*s_cfgpath;
	struct gt_config	 s_cfg;
	struct event_base	*s_base;
	struct evdns_base	*s_dns;
	struct gt_store		*s_store;
	struct gt_registry	*s_reg;
	struct gt_tunnel_server	*s_tun;
	struct gt_fwd		*s_fwd;
	struct gt_api		*s_api;
	struct gt_recorder	*s_rec;
	struct event		*s_ev_term;
	struct event		*s_ev_int;
	struct event		*s_ev_hup;
	int			 s_stopping;
	int			 s_signo;
};

/* Second stop signal, or a teardown that hangs: leave now. */
static void
server_hard_exit(int sig)
{
	static const char msg_sig[] = SRV_PROG ": second signal, exiting at once\n";
	static const char msg_alarm[] = SRV_PROG ": shutdown took too long, exiting\n";

	if (sig == SIGALRM)
		(void)!write(STDERR_FILENO, msg_alarm, sizeof(msg_alarm) - 1);
	else
		(void)!write(STDERR_FILENO, msg_sig, sizeof(msg_sig) - 1);
	_exit(1);
}

/* Free every part, newest first; idempotent. */
static void
server_teardown(struct server *s)
{
	/* Stop accepting first: API, public ports, tunnels. */
	gt_api_free(s->s_api);
	s->s_api = NULL;
	/* Before the forwarder: it records the last partial interval. */
	gt_recorder_free(s->s_rec);
	s->s_rec = NULL;
	gt_fwd_free(s->s_fwd);
	s->s_fwd = NULL;
	gt_tunnel_server_free(s->s_tun);
	s->s_tun = NULL;
	gt_registry_free(s->s_reg);
	s->s_reg = NULL;
	if (s->s_dns != NULL) {
		evdns_base_free(s->s_dns, 1);
		s->s_dns = NULL;
	}
	if (s->s_store != NULL) {
		gt_store_close(s->s_store);
		s->s_store = NULL;
	}
	if (s->s_ev_term != NULL) {
		event_free(s->s_ev_term);
		s->s_ev_term = NULL;
	}
	if (s->s_ev_int != NULL) {
		event_free(s->s_ev_int);
		s->s_ev_int = NULL;
	}
	if (s->s_ev_hup != NULL) {
		event_free(s->s_ev_hup);
		s->s_ev_hup = NULL;
	}
}

/* Outside any signal event's callback: tear down and let the loop run dry. */
static void
server_stop_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct server		*s = arg;
	struct sigaction	 sa;

	(void)fd;
	(void)ev;
	log_info(SRV_COMP, "%s: stopping", strsignal(s->s_signo));
	server_teardown(s);
	/* What remains are deferred frees; a second signal or a hang ends it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = server_hard_exit;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	alarm(SRV_SHUTDOWN_SECS);
}

/* SIGTERM, SIGINT. */
static void
server_signal_stop(evutil_socket_t sig, short ev, void *arg)
{
	struct server *s = arg;

	(void)ev;
	if (s->s_stopping)
		return;
	s->s_stopping = 1;
	s->s_signo = (int)sig;
	if (event_base_once(s->s_base, -1, EV_TIMEOUT, server_stop_cb, s, NULL) == -1) {
		log_errorx(SRV_COMP, "cannot schedule the shutdown; exiting");
		_exit(1);
	}
}

/* SIGHUP: reload the allowlist and TLS; a bad file keeps the old settings. */
static void
server_signal_hup(evutil_socket_t sig, short ev, void *arg)
{
	struct server		*s = arg;
	struct gt_config	*nc;
	char			 err[SRV_ERRLEN];

	(void)sig;
	(void)ev;
	if (s->s_stopping)
		return;
	if ((nc = malloc(sizeof(*nc))) == NULL) {
		log_warnx(SRV_COMP, "SIGHUP: out of memory; keeping the old settings");
		return;
	}
	if (gt_config_load(s->s_cfgpath, nc, err, sizeof(err)) == -1 ||
	    gt_config_check_files(nc, err, sizeof(err)) == -1) {
		log_warnx(SRV_COMP, "SIGHUP: %s; keeping the old settings", err);
		free(nc);
		return;
	}
	if (gt_api_reload_allowlist(s->s_api, nc, err, sizeof(err)) == -1)
		log_warnx(SRV_COMP, "SIGHUP: API allowlist: %s; keeping the old one", err);
	else
		log_info(SRV_COMP, "SIGHUP: API allowlist reloaded (%zu entries)",
		    nc->security.api.n_allowed_ips);
	if (s->s_cfg.api.tls) {
		if (!nc->api.tls)
			log_warnx(SRV_COMP, "SIGHUP: api.tls cannot be turned off "
			    "without a restart; keeping HTTPS");
		else if (gt_api_reload_tls(s->s_api, nc, err, sizeof(err)) == -1)
			log_warnx(SRV_COMP, "SIGHUP: API TLS: %s; keeping the old "
			    "material", err);
		else
			log_info(SRV_COMP, "SIGHUP: API TLS material reloaded");
	}
	if (s->s_tun != NULL) {
		if (gt_tunnel_server_reload(s->s_tun, nc, err, sizeof(err)) == -1)
			log_warnx(SRV_COMP, "SIGHUP: tunnel TLS: %s; keeping the old material",
			    err);
		else
			log_info(SRV_COMP, "SIGHUP: tunnel TLS material reloaded");
	}
	if (strcmp(s->s_cfg.public_addr, nc->public_addr) != 0)
		log_warnx(SRV_COMP, "SIGHUP: public_addr changes only with a "
		    "restart; mappings stay on %s", s->s_cfg.public_addr);
	memcpy(s->s_cfg.security.api.allowed_ips, nc->security.api.allowed_ips,
	    sizeof(nc->security.api.allowed_ips));
	s->s_cfg.security.api.n_allowed_ips = nc->security.api.n_allowed_ips;
	free(nc);
}

/* Why a stored mapping may no longer be served under the current config, or NULL. */
static const char *
server_restore_refusal(const struct gt_config *cfg, const struct gt_mapping *m)
{
	size_t i;

	if (m->use_tunnel && !cfg->tunnel.enabled)
		return "tunnel mapping, but tunnel.enabled is false";
	if (m->source_port < cfg->port_range.from || m->source_port > cfg->port_range.end)
		return "port is outside port_range";
	for (i = 0; i < cfg->security.port_range.n_blacklist; i++)
		if (cfg->security.port_range.blacklist[i] == m->source_port)
			return "port is blacklisted";
	return NULL;
}

/* Serve every stored mapping again; failures are logged, never fatal. */
static int
server_restore(struct server *s, size_t *total, size_t *listening)
{
	struct gt_mapping	*ms = NULL;
	const char		*why;
	char			 buf[160];
	size_t			 n = 0, i;
	int			 rc;

	*total = *listening = 0;
	if (gt_store_list(s->s_store, &ms, &n) != GT_STORE_OK) {
		log_errorx(SRV_COMP, "database: %s", gt_store_error(s->s_store));
		return -1;
	}
	*total = n;
	for (i = 0; i < n; i++) {
		if ((why = server_restore_refusal(&s->s_cfg, &ms[i])) != NULL) {
			log_warnx(SRV_COMP, "mapping of port %u not served: %s",
			    ms[i].source_port, why);
			gt_api_note_error(s->s_api, ms[i].source_port, why);
			continue;
		}
		rc = gt_fwd_restore(s->s_fwd, &ms[i]);
		if (rc == 0)
			(*listening)++;
		else if (rc == -1) {
			snprintf(buf, sizeof(buf), "not restored: %s", strerror(errno));
			gt_api_note_error(s->s_api, ms[i].source_port, buf);
		}
	}
	free(ms);
	return 0;
}

/* Start everything and run the loop until a stop signal. */
static int
server_run(struct server *s)
{
	unsigned char	*key = NULL;
	size_t		 keylen = 0, total, listening;
	char		 err[SRV_ERRLEN];
	int		 rc = 1;

	if (s->s_cfg.security.api.enable_auth &&
	    (key = gt_config_read_jwt_key(s->s_cfg.security.api.jwt_secret_file, &keylen,
	    err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", SRV_PROG, err);
		return 1;
	}
	if ((s->s_base = gt_loop_new()) == NULL) {
		fprintf(stderr, "%s: cannot create the event loop\n", SRV_PROG);
		goto out;
	}
	s->s_dns = evdns_base_new(s->s_base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (s->s_dns == NULL) {
		log_warnx(SRV_COMP, "no DNS servers from /etc/resolv.conf; "
		    "direct targets must be IP addresses");
		s->s_dns = evdns_base_new(s->s_base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (s->s_dns == NULL) {
			fprintf(stderr, "%s: cannot create the DNS resolver\n", SRV_PROG);
			goto out;
		}
	}
	if ((s->s_store = gt_store_open(s->s_cfg.database.path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: database.path: %s\n", SRV_PROG, err);
		goto out;
	}
	/* Serving, a lock held elsewhere must not stall every session. */
	gt_store_set_busy_timeout(s->s_store, s->s_cfg.database.busy_timeout);
	if (s->s_cfg.tunnel.enabled) {
		if ((s->s_reg = gt_registry_new()) == NULL) {
			fprintf(stderr, "%s: out of memory\n", SRV_PROG);
			goto out;
		}
		if ((s->s_tun = gt_tunnel_server_new(s->s_base, &s->s_cfg, s->s_reg, err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "%s: %s\n", SRV_PROG, err);
			goto out;
		}
	}
	if ((s->s_fwd = gt_fwd_new(s->s_base, s->s_dns, s->s_reg,
	    s->s_cfg.public_addr)) == NULL) {
		fprintf(stderr, "%s: cannot create the forwarder: %s\n", SRV_PROG,
		    strerror(errno));
		goto out;
	}
	gt_fwd_set_limits(s->s_fwd, (unsigned)s->s_cfg.limits.max_sessions,
	    (unsigned)s->s_cfg.limits.max_sessions_per_mapping);
	gt_fwd_set_own_ports(s->s_fwd, s->s_cfg.api.listen_port,
	    s->s_cfg.tunnel.enabled ? s->s_cfg.tunnel.listen_port : 0);
	if ((s->s_api = gt_api_new(s->s_base, &s->s_cfg, key, keylen, s->s_store,
	    s->s_fwd, s->s_reg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", SRV_PROG, err);
		goto out;
	}
	if (server_restore(s, &total, &listening) == -1) {
		fprintf(stderr, "%s: database.path: cannot read the mappings\n", SRV_PROG);
		goto out;
	}
	/* After the restore: it seeds the served mappings' live counters. */
	if ((s->s_rec = gt_recorder_new(s->s_base, s->s_store, s->s_fwd,
	    (unsigned)s->s_cfg.stats.record_interval,
	    (unsigned)s->s_cfg.stats.retention_days)) == NULL) {
		fprintf(stderr, "%s: cannot start the traffic recorder: %s\n",
		    SRV_PROG, strerror(errno));
		goto out;
	}
	s->s_ev_term = evsignal_new(s->s_base, SIGTERM, server_signal_stop, s);
	s->s_ev_int = evsignal_new(s->s_base, SIGINT, server_signal_stop, s);
	s->s_ev_hup = evsignal_new(s->s_base, SIGHUP, server_signal_hup, s);
	if (s->s_ev_term == NULL || s->s_ev_int == NULL || s->s_ev_hup == NULL ||
	    evsignal_add(s->s_ev_term, NULL) == -1 || evsignal_add(s->s_ev_int, NULL) == -1 ||
	    evsignal_add(s->s_ev_hup, NULL) == -1) {
		fprintf(stderr, "%s: cannot install signal handlers\n", SRV_PROG);
		goto out;
	}

	log_info(SRV_COMP, "gt-server %s (libevent %s, mbedTLS %s, jansson %s, "
	    "store schema %d)", GT_VERSION, event_get_version(), MBEDTLS_VERSION_STRING,
	    JANSSON_VERSION, gt_store_schema_version());
	log_info(SRV_COMP, "API on %s:%u, auth %s, %zu allowed source ranges",
	    s->s_cfg.api.listen_addr, s->s_cfg.api.listen_port,
	    s->s_cfg.security.api.enable_auth ? "on" : "OFF",
	    s->s_cfg.security.api.n_allowed_ips);
	if (s->s_cfg.tunnel.enabled)
		log_info(SRV_COMP, "tunnel on %s:%u, TLS %s", s->s_cfg.tunnel.listen_addr,
		    s->s_cfg.tunnel.listen_port,
		    s->s_cfg.security.tunnel.enable_tls ? "on" : "OFF (plain TCP)");
	else
		log_info(SRV_COMP, "tunnel disabled: direct mappings only");
	log_info(SRV_COMP, "database %s: %zu mappings, %zu listening; ports %u..%u",
	    s->s_cfg.database.path, total, listening, s->s_cfg.port_range.from,
	    s->s_cfg.port_range.end);
	log_info(SRV_COMP, "traffic history: a record every %d s, kept %d days",
	    s->s_cfg.stats.record_interval, s->s_cfg.stats.retention_days);

	event_base_dispatch(s->s_base);
	log_info(SRV_COMP, "stopped");
	rc = 0;
out:
	server_teardown(s);
	if (key != NULL) {
		explicit_bzero(key, keylen);
		free(key);
	}
	if (s->s_base != NULL) {
		event_base_free(s->s_base);
		s->s_base = NULL;
	}
	libevent_global_shutdown();
	return rc;
}

/* -issue-token: print a token signed with the config's key. */
static int
server_issue_token(const struct gt_config *cfg, const char *sub, long ttl,
    enum gt_role role)
{
	unsigned char	*key;
	size_t		 keylen;
	char		 err[SRV_ERRLEN], *tok;

	if (!gt_api_client_valid(sub)) {
		fprintf(stderr, "%s: -issue-token: subject must be 1..%d printable "
		    "characters without spaces\n", SRV_PROG, GT_CLIENT_MAX);
		return 2;
	}
	if ((key = gt_config_read_jwt_key(cfg->security.api.jwt_secret_file, &keylen,
	    err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", SRV_PROG, err);
		return 1;
	}
	tok = gt_jwt_issue(key, keylen, sub, role, time(NULL), ttl);
	explicit_bzero(key, keylen);
	free(key);
	if (tok == NULL) {
		fprintf(stderr, "%s: cannot issue a token\n", SRV_PROG);
		return 1;
	}
	if (!cfg->security.api.enable_auth)
		fprintf(stderr, "%s: note: security.api.enable_auth is false; the API "
		    "does not ask for tokens\n", SRV_PROG);
	printf("%s\n", tok);
	free(tok);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* -check-config's line for one go-tunnel key (the first after a heading). */
static void
server_gtkey(void *arg, const char *name, size_t line, const char *key,
    int lacks, const char *text)
{
	int *n = arg;

	if ((*n)++ == 0)
		fprintf(stderr, "%s: %s: go-tunnel's keys, and what gt does with "
		    "them (docs/MIGRATING.md):\n", SRV_PROG, name);
	fprintf(stderr, "%s:%zu: %s: %s%s\n", name, line, key,
	    lacks ? "go-tunnel key that gt does not take: " : "note: ", text);
}

/*
 * -check-config: every problem gt can find without starting, and for a
 * go-tunnel config.yaml each of its keys that gt treats differently.
 */
static int
server_check_config(struct server *s, const char *cfgpath)
{
	char	err[SRV_ERRLEN];
	int	n = 0;

	if (gt_config_check(cfgpath, &s->s_cfg, server_gtkey, &n, err,
	    sizeof(err)) == -1 ||
	    gt_config_check_files(&s->s_cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", SRV_PROG, err);
		return 1;
	}
	printf("config OK: %s\n", cfgpath);
	return 0;
}

/* Parse flags, load the config, then do what they ask. */
int
gt_server_main(int argc, char **argv)
{
	static struct server	 srv;
	struct server		*s = &srv;
	const char		*cfgpath = "./config.yaml", *issue = NULL;
	const char		*rolename = "admin", *reg = NULL, *import = NULL;
	enum gt_log_level	 lvl;
	enum gt_role		 role;
	char			 err[SRV_ERRLEN];
	long			 ttl = 3600;
	int			 check = 0, debug = 0, version = 0, idx = 1, rc;
	const struct gt_flag	 flags[] = {
		{ "config", GT_FLAG_STRING, &cfgpath, 0, 0, "FILE",
		    "config file (default ./config.yaml)" },
		{ "check-config", GT_FLAG_BOOL, &check, 0, 0, NULL,
		    "load and validate the config, then exit 0 or 1" },
		{ "issue-token", GT_FLAG_STRING, &issue, 0, 0, "SUBJECT",
		    "print an API token (JWT) for SUBJECT and exit" },
		{ "token-ttl", GT_FLAG_INT, &ttl, 1, SRV_TTL_MAX, "SECONDS",
		    "lifetime of -issue-token's token (default 3600)" },
		{ "token-role", GT_FLAG_STRING, &rolename, 0, 0, "admin|read",
		    "role of -issue-token's token (default admin)" },
		{ "import-gotunnel", GT_FLAG_STRING, &import, 0, 0, "FILE",
		    "copy go-tunnel's mappings.db rows into the store and exit "
		    "(docs/MIGRATING.md)" },
		{ "reg", GT_FLAG_STRING, &reg, 0, 0, "install|uninstall",
		    "install or remove the systemd unit gt-server.service" },
		{ "debug", GT_FLAG_BOOL, &debug, 0, 0, NULL, "debug logging" },
		{ "version", GT_FLAG_BOOL, &version, 0, 0, NULL, "print the version and exit" },
		{ NULL, 0, NULL, 0, 0, NULL, NULL }
	};

	gt_log_init(SRV_PROG);
	rc = gt_flags_parse(SRV_PROG, "[flags]", flags, argc, argv, &idx);
	if (rc == GT_FLAGS_HELP)
		return 0;
	if (rc != GT_FLAGS_OK)
		return 2;
	if (idx < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\" (see -help)\n", SRV_PROG,
		    argv[idx]);
		return 2;
	}
	if (version) {
		printf("%s %s\n", SRV_PROG, GT_VERSION);
		return 0;
	}
	if (strcmp(rolename, "admin") == 0)
		role = GT_ROLE_ADMIN;
	else if (strcmp(rolename, "read") == 0)
		role = GT_ROLE_READ;
	else {
		fprintf(stderr, "%s: invalid value \"%s\" for flag -token-role: "
		    "admin or read\n", SRV_PROG, rolename);
		return 2;
	}
	if (reg != NULL) {
		if (strcmp(reg, "install") != 0 && strcmp(reg, "uninstall") != 0) {
			fprintf(stderr, "%s: invalid value \"%s\" for flag -reg: "
			    "install or uninstall\n", SRV_PROG, reg);
			return 2;
		}
		if (issue != NULL || check || import != NULL) {
			fprintf(stderr, "%s: -reg cannot be combined with -issue-token, "
			    "-check-config or -import-gotunnel\n", SRV_PROG);
			return 2;
		}
		return gt_server_reg(reg, cfgpath, debug);
	}
	if (import != NULL && (issue != NULL || check)) {
		fprintf(stderr, "%s: -import-gotunnel cannot be combined with "
		    "-issue-token or -check-config\n", SRV_PROG);
		return 2;
	}
	if (import != NULL && import[0] == '\0') {
		fprintf(stderr, "%s: invalid value \"\" for flag -import-gotunnel: "
		    "the path of go-tunnel's mappings.db\n", SRV_PROG);
		return 2;
	}
	if (debug)
		gt_log_set_level(GT_LOG_DEBUG);

	memset(s, 0, sizeof(*s));
	s->s_cfgpath = cfgpath;
	if (check && issue == NULL)
		return server_check_config(s, cfgpath);
	if (gt_config_load(cfgpath, &s->s_cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", SRV_PROG, err);
		return 1;
	}
	/* A token needs only the key, not the certificates. */
	if (issue != NULL)
		return server_issue_token(&s->s_cfg, issue, ttl, role);
	/* So does an import: it touches only the store. */
	if (import != NULL)
		return gt_server_import(&s->s_cfg, import);
	if (gt_config_check_files(&s->s_cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", SRV_PROG, err);
		return 1;
	}
	if (!debug && gt_log_level_parse(s->s_cfg.log.level, &lvl) == 0)
		gt_log_set_level(lvl);
	gt_log_set_rate_limit(s->s_cfg.log.rate_limit);
	signal(SIGPIPE, SIG_IGN);
	return server_run(s);
}

/* main.c: gt-client's command line. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "gt/addr.h"
#include "gt/client.h"
#include "gt/flags.h"
#include "gt/log.h"
#include "gt/loop.h"
#include "gt/systemd.h"

#define PROG	"gt-client"

/* SIGINT/SIGTERM: stop the loop; main frees everything. */
static void
client_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("client", "signal %d: shutting down", (int)sig);
	event_base_loopbreak(arg);
}

/* -reg install: gt-client.service running this binary with the flags given. */
static int
client_reg_install(const struct gt_flag *flags, int no_tls)
{
	const struct gt_flag	*f;
	struct gt_unit		 u;
	char			*argv[48], *owned[48], cwd[4096];
	const char		*v;
	size_t			 n = 0, no = 0, i;
	int			 rc = 1, home = 0;

	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		fprintf(stderr, "%s: -reg install: getcwd: %s\n", PROG, strerror(errno));
		return 1;
	}
	if ((argv[n] = owned[no++] = gt_systemd_self_exe()) == NULL)
		goto nomem;
	home |= gt_systemd_in_home(argv[n++]);
	for (f = flags; f->name != NULL && n + 3 < sizeof(argv) / sizeof(argv[0]); f++) {
		int is_file = strcmp(f->name, "cert") == 0 || strcmp(f->name, "key") == 0 ||
		    strcmp(f->name, "ca") == 0;

		if (strcmp(f->name, "reg") == 0 || strcmp(f->name, "version") == 0)
			continue;
		/* Certificate files go in by absolute path, defaults included. */
		if (is_file && no_tls && !gt_flags_given(flags, f->name))
			continue;
		if (!is_file && !gt_flags_given(flags, f->name))
			continue;
		if (f->type == GT_FLAG_BOOL && !*(int *)f->dst)
			continue;
		if ((argv[n] = owned[no++] = malloc(strlen(f->name) + 2)) == NULL)
			goto nomem;
		snprintf(argv[n++], strlen(f->name) + 2, "-%s", f->name);
		if (f->type == GT_FLAG_BOOL)
			continue;
		if (f->type == GT_FLAG_INT) {
			if ((argv[n] = owned[no++] = malloc(24)) == NULL)
				goto nomem;
			snprintf(argv[n++], 24, "%ld", *(long *)f->dst);
			continue;
		}
		v = *(const char **)f->dst;
		if (is_file) {
			if (access(v, R_OK) == -1)
				fprintf(stderr, "%s: -reg install: warning: -%s %s: %s (the "
				    "service will not start until this is fixed)\n", PROG,
				    f->name, v, strerror(errno));
			if ((argv[n] = owned[no++] = gt_systemd_abspath(v)) == NULL)
				goto nomem;
			home |= gt_systemd_in_home(argv[n++]);
		} else
			argv[n++] = (char *)v;
	}
	argv[n] = NULL;
	home |= gt_systemd_in_home(cwd);
	memset(&u, 0, sizeof(u));
	u.u_name = "gt-client";
	u.u_desc = "gt tunnel client (private side: dials the gt server)";
	u.u_argv = argv;
	u.u_workdir = cwd;
	u.u_home = home ? GT_UNIT_HOME_READONLY : GT_UNIT_HOME_YES;
	if (getpwnam("gt") != NULL)
		u.u_user = "gt";
	rc = gt_systemd_install(&u, PROG);
	if (rc == 0 && u.u_user == NULL)
		printf("%s: the unit runs as root with no capabilities; to run it as a "
		    "dedicated user, create the system user \"gt\", let it read the "
		    "certificate files and run -reg install again\n", PROG);
	goto out;
nomem:
	fprintf(stderr, "%s: -reg install: %s\n", PROG, strerror(errno));
out:
	for (i = 0; i < no; i++)
		free(owned[i]);
	return rc;
}

int
main(int argc, char **argv)
{
	const char		*server = NULL, *cert = "certs/client.crt",
				*key = "certs/client.key", *ca = "certs/ca.crt",
				*server_name = NULL, *allow = "127.0.0.1:*",
				*reg = NULL;
	int			 no_tls = 0, debug = 0, version = 0, idx = 1, rc;
	long			 max_sessions = 20000, window = 32768,
				 buffer = 8L << 20, output_max = 4L << 20;
	static char		 host[256];
	char			 err[256];
	struct gt_client_opts	 o;
	struct event_base	*base;
	struct evdns_base	*dns;
	struct gt_client	*c;
	struct event		*sigint, *sigterm;
	const struct gt_flag	 flags[] = {
		{ "server", GT_FLAG_STRING, &server, 0, 0, "HOST:PORT",
		    "the server's tunnel address (required)" },
		{ "cert", GT_FLAG_STRING, &cert, 0, 0, "FILE",
		    "client certificate (default certs/client.crt)" },
		{ "key", GT_FLAG_STRING, &key, 0, 0, "FILE",
		    "client key (default certs/client.key)" },
		{ "ca", GT_FLAG_STRING, &ca, 0, 0, "FILE",
		    "CA that signed the server (default certs/ca.crt)" },
		{ "server-name", GT_FLAG_STRING, &server_name, 0, 0, "NAME",
		    "name to verify in the server certificate (default: HOST)" },
		{ "no-tls", GT_FLAG_BOOL, &no_tls, 0, 0, NULL,
		    "plain TCP tunnel, for a server with enable_tls: false" },
		{ "allow", GT_FLAG_STRING, &allow, 0, 0, "TARGETS",
		    "local targets the server may ask for (default 127.0.0.1:*)" },
		{ "max-sessions", GT_FLAG_INT, &max_sessions, 1, 1000000, "N",
		    "sessions at once through the tunnel (default 20000)" },
		{ "window", GT_FLAG_INT, &window, 16384, 16777216, "BYTES",
		    "initial receive window of a stream (default 32768)" },
		{ "buffer", GT_FLAG_INT, &buffer, 65536, 1073741824, "BYTES",
		    "window growth the tunnel may grant beyond the initial "
		    "windows (default 8388608)" },
		{ "output-max", GT_FLAG_INT, &output_max, 262144, 1073741824,
		    "BYTES", "our unsent frames to a server that does not read: "
		    "past this the tunnel is dropped (default 4194304)" },
		{ "reg", GT_FLAG_STRING, &reg, 0, 0, "install|uninstall",
		    "install or remove the systemd unit gt-client.service" },
		{ "debug", GT_FLAG_BOOL, &debug, 0, 0, NULL, "debug logging" },
		{ "version", GT_FLAG_BOOL, &version, 0, 0, NULL, "print the version" },
		{ NULL, 0, NULL, 0, 0, NULL, NULL },
	};

	gt_log_init(PROG);
	rc = gt_flags_parse(PROG, "-server HOST:PORT [flags]", flags, argc, argv, &idx);
	if (rc == GT_FLAGS_HELP)
		return 0;
	if (rc != GT_FLAGS_OK)
		return 2;
	if (idx < argc) {
		fprintf(stderr, "%s: unexpected argument: %s\n", PROG, argv[idx]);
		return 2;
	}
	if (version) {
		printf("%s %s\n", PROG, GT_VERSION);
		return 0;
	}
	if (debug)
		gt_log_set_level(GT_LOG_DEBUG);
	memset(&o, 0, sizeof(o));
	if (gt_allow_parse(allow, &o.allow, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", PROG, err);
		return 2;
	}
	if (reg != NULL) {
		if (strcmp(reg, "install") != 0 && strcmp(reg, "uninstall") != 0) {
			fprintf(stderr, "%s: -reg: want install or uninstall, not \"%s\"\n",
			    PROG, reg);
			return 2;
		}
		if (strcmp(reg, "uninstall") == 0)
			return gt_systemd_uninstall("gt-client", PROG);
	}
	if (server == NULL) {
		fprintf(stderr, "%s: -server HOST:PORT is required\n", PROG);
		return 2;
	}
	if (gt_addr_split(server, host, sizeof(host), &o.server_port) == -1) {
		fprintf(stderr, "%s: -server: want HOST:PORT, not \"%s\"\n", PROG, server);
		return 2;
	}
	if (reg != NULL)
		return client_reg_install(flags, no_tls);
	o.server_host = host;
	o.server_name = server_name != NULL ? server_name : host;
	o.cert = cert;
	o.key = key;
	o.ca = ca;
	o.no_tls = no_tls;
	o.max_sessions = (unsigned)max_sessions;
	o.window = (uint32_t)window;
	o.buffer = (uint64_t)buffer;
	o.output_max = (size_t)output_max;
	signal(SIGPIPE, SIG_IGN);
	if ((base = gt_loop_new()) == NULL) {
		fprintf(stderr, "%s: cannot create the event loop\n", PROG);
		return 1;
	}
	dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (dns == NULL)
		dns = evdns_base_new(base, 0);	/* no resolv.conf: literals still work */
	if ((c = gt_client_new(base, dns, &o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", PROG, err);
		if (dns != NULL)
			evdns_base_free(dns, 0);
		event_base_free(base);
		return 1;
	}
	sigint = evsignal_new(base, SIGINT, client_signal_cb, base);
	sigterm = evsignal_new(base, SIGTERM, client_signal_cb, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	log_info("client", "%s %s starting: server %s, %s, allow %s", PROG,
	    GT_VERSION, server, no_tls ? "plain TCP (NO TLS)" : "mutual TLS", allow);
	gt_client_start(c);
	event_base_dispatch(base);
	gt_client_free(c);
	/* Lookups cancelled just now report back, and free, on one more pass. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_free(sigint);
	event_free(sigterm);
	if (dns != NULL)
		evdns_base_free(dns, 0);
	event_base_free(base);
	log_info("client", "stopped");
	return 0;
}

/*
 * reg.c: `gt-server -reg install|uninstall`, the systemd unit of the
 * server (SPEC §8). The unit runs the same binary with the same config,
 * both by absolute path, from the directory -reg was run in (relative
 * paths inside the config are relative to it).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gt/config.h"
#include "gt/systemd.h"

#include "server.h"

#define REG_PROG	"gt-server"
#define REG_USER	"gt"

/* mkdir -p path with mode 0700 for the folders it creates. */
static int
reg_mkdirs(const char *path)
{
	char	*p, *s;
	int	 rc = 0, last;

	if ((p = strdup(path)) == NULL)
		return -1;
	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		last = (*s == '\0');
		*s = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST) {
			rc = -1;
			break;
		}
		if (last)
			break;
		*s = '/';
	}
	free(p);
	return rc;
}

/* The folder holding an absolute file path (caller frees). */
static char *
reg_dirname(const char *abs)
{
	char *d, *slash;

	if ((d = strdup(abs)) == NULL)
		return NULL;
	slash = strrchr(d, '/');
	if (slash == d)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	return d;
}

/* Nonzero when path, made absolute, lies under /home, /root or /run/user. */
static int
reg_in_home(const char *path)
{
	char	*a;
	int	 r;

	if (path == NULL || *path == '\0' || (a = gt_systemd_abspath(path)) == NULL)
		return 0;
	r = gt_systemd_in_home(a);
	free(a);
	return r;
}

/* Build and install gt-server.service for the config at cfgpath. */
static int
reg_install(const char *cfgpath, int debug)
{
	static struct gt_config	 cfg;
	struct gt_unit		 u;
	struct passwd		*pw;
	char			 err[512], cwd[4096];
	char			*exe = NULL, *cfgabs = NULL, *dbabs = NULL, *dbdir = NULL;
	char			*argv[5];
	int			 rc = 1, n = 0;

	if (gt_config_load(cfgpath, &cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: -reg install: %s\n", REG_PROG, err);
		return 1;
	}
	if (gt_config_check_files(&cfg, err, sizeof(err)) == -1)
		fprintf(stderr, "%s: -reg install: warning: %s (the service will not start "
		    "until this is fixed)\n", REG_PROG, err);
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		fprintf(stderr, "%s: -reg install: getcwd: %s\n", REG_PROG, strerror(errno));
		return 1;
	}
	if ((exe = gt_systemd_self_exe()) == NULL ||
	    (cfgabs = gt_systemd_abspath(cfgpath)) == NULL ||
	    (dbabs = gt_systemd_abspath(cfg.database.path)) == NULL ||
	    (dbdir = reg_dirname(dbabs)) == NULL) {
		fprintf(stderr, "%s: -reg install: %s\n", REG_PROG, strerror(errno));
		goto out;
	}
	/* ProtectSystem=strict needs the folder to exist when the unit starts. */
	if (reg_mkdirs(dbdir) == -1)
		fprintf(stderr, "%s: -reg install: warning: cannot create %s: %s\n",
		    REG_PROG, dbdir, strerror(errno));

	memset(&u, 0, sizeof(u));
	argv[n++] = exe;
	argv[n++] = (char *)"-config";
	argv[n++] = cfgabs;
	if (debug)
		argv[n++] = (char *)"-debug";
	argv[n] = NULL;
	u.u_name = "gt-server";
	u.u_desc = "gt tunnel server (public side: mappings, API, tunnels)";
	u.u_argv = argv;
	u.u_workdir = cwd;
	u.u_rw[0] = dbdir;
	u.u_bind = 1;
	u.u_lowport = (cfg.tunnel.enabled && cfg.tunnel.listen_port < 1024) ||
	    cfg.api.listen_port < 1024 || cfg.port_range.from < 1024;
	if (gt_systemd_in_home(exe) || gt_systemd_in_home(cfgabs) ||
	    gt_systemd_in_home(cwd) || gt_systemd_in_home(dbdir) ||
	    (cfg.security.api.enable_auth &&
	    reg_in_home(cfg.security.api.jwt_secret_file)) ||
	    (cfg.tunnel.enabled && cfg.security.tunnel.enable_tls &&
	    (reg_in_home(cfg.security.tunnel.cert_file) ||
	    reg_in_home(cfg.security.tunnel.key_file) ||
	    reg_in_home(cfg.security.tunnel.client_ca))))
		u.u_home = GT_UNIT_HOME_READONLY;
	if ((pw = getpwnam(REG_USER)) != NULL) {
		u.u_user = REG_USER;
		if (chown(dbdir, pw->pw_uid, pw->pw_gid) == -1)
			fprintf(stderr, "%s: -reg install: warning: cannot give %s to user "
			    "%s: %s\n", REG_PROG, dbdir, REG_USER, strerror(errno));
	}
	rc = gt_systemd_install(&u, REG_PROG);
	if (rc == 0 && u.u_user == NULL)
		printf("%s: the unit runs as root with only CAP_NET_BIND_SERVICE; to run "
		    "it as a dedicated user, create the system user \"%s\", let it read "
		    "the key files and own %s, and run -reg install again\n", REG_PROG,
		    REG_USER, dbdir);
	else if (rc == 0)
		printf("%s: the unit runs as user %s: it must be able to read the "
		    "config, certificates and JWT key\n", REG_PROG, REG_USER);
out:
	free(exe);
	free(cfgabs);
	free(dbabs);
	free(dbdir);
	return rc;
}

/* -reg install|uninstall for gt-server. */
int
gt_server_reg(const char *action, const char *cfgpath, int debug)
{
	if (strcmp(action, "uninstall") == 0)
		return gt_systemd_uninstall("gt-server", REG_PROG);
	return reg_install(cfgpath, debug);
}

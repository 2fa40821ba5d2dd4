/* test_common_systemd.c: unit quoting, rendering and the atomic install. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "gt/systemd.h"

/* Undo one quoted ExecStart word as systemd reads it: quotes, \x, $$, %%. */
static char *
unquote(const char *q, int exec)
{
	size_t	 n = strlen(q), i, o = 0;
	char	*out;

	assert_true(n >= 2);
	assert_int_equal(q[0], '"');
	assert_int_equal(q[n - 1], '"');
	out = malloc(n);
	assert_non_null(out);
	for (i = 1; i < n - 1; i++) {
		if (q[i] == '\\') {
			i++;
			assert_true(q[i] == '\\' || q[i] == '"');
		} else if (q[i] == '%' || (exec && q[i] == '$')) {
			assert_int_equal(q[i + 1], q[i]);	/* never a lone % or $ */
			i++;
		} else
			assert_true(q[i] != '"');		/* no bare quote inside */
		out[o++] = q[i];
	}
	out[o] = '\0';
	return out;
}

static void
test_quote(void **state)
{
	static const char *const words[] = {
		"plain", "/opt/gt dir/gt-server", "a\"b", "back\\slash", "$HOME",
		"100%", "%h$$%%\\\"", "", "127.0.0.1:8000-8100,10.0.0.5:*", ";",
		"ünïcödé",
	};
	char	*q, *u;
	size_t	 i;

	(void)state;
	q = gt_systemd_quote("a b\"c\\d$e%f");
	assert_string_equal(q, "\"a b\\\"c\\\\d$$e%%f\"");
	free(q);
	q = gt_systemd_quote_path("/x/$y %z");
	assert_string_equal(q, "\"/x/$y %%z\"");
	free(q);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		q = gt_systemd_quote(words[i]);
		assert_non_null(q);
		u = unquote(q, 1);
		assert_string_equal(u, words[i]);
		free(u);
		free(q);
		q = gt_systemd_quote_path(words[i]);
		u = unquote(q, 0);
		assert_string_equal(u, words[i]);
		free(u);
		free(q);
	}
	errno = 0;
	assert_null(gt_systemd_quote("new\nline"));
	assert_int_equal(errno, EINVAL);
	assert_null(gt_systemd_quote("tab\there"));
	assert_null(gt_systemd_quote("del\x7f"));
	assert_null(gt_systemd_quote_path("cr\r"));
	assert_null(gt_systemd_quote(NULL));
}

/* A server-like unit used by several tests. */
static void
unit_fill(struct gt_unit *u, char **argv)
{
	memset(u, 0, sizeof(*u));
	argv[0] = (char *)"/opt/gt/bin/gt-server";
	argv[1] = (char *)"-config";
	argv[2] = (char *)"/etc/gt/config 1.yaml";
	argv[3] = NULL;
	u->u_name = "gt-server";
	u->u_desc = "gt test";
	u->u_argv = argv;
	u->u_workdir = "/var/lib/gt";
	u->u_rw[0] = "/var/lib/gt/data";
	u->u_bind = 1;
}

/* Nonzero when text holds line as a whole line. */
static int
has_line(const char *text, const char *line)
{
	size_t		 n = strlen(line);
	const char	*p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
		p++;
	}
	return 0;
}

static void
test_render(void **state)
{
	static const char *const keys[] = {
		"[Unit]", "Description=gt test", "After=network-online.target",
		"Wants=network-online.target", "StartLimitIntervalSec=60",
		"StartLimitBurst=5", "[Service]",
		"ExecStart=\"/opt/gt/bin/gt-server\" \"-config\" \"/etc/gt/config 1.yaml\"",
		"WorkingDirectory=/var/lib/gt", "Restart=always", "RestartSec=10",
		"LimitNOFILE=65536", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"ReadWritePaths=\"/var/lib/gt/data\"", "ProtectHome=yes", "PrivateTmp=yes",
		"PrivateDevices=yes", "PrivateMounts=yes", "ProtectProc=invisible",
		"ProcSubset=pid", "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
		"ProtectControlGroups=yes", "SystemCallFilter=~@privileged",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "SystemCallArchitectures=native",
		"LockPersonality=yes", "MemoryDenyWriteExecute=yes", "RestrictRealtime=yes",
		"RestrictSUIDSGID=yes", "UMask=0077", "[Install]", "WantedBy=multi-user.target",
	};
	struct gt_unit	 u;
	char		*argv[8], err[256], *t;
	size_t		 i;

	(void)state;
	unit_fill(&u, argv);
	t = gt_systemd_render(&u, err, sizeof(err));
	assert_non_null(t);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!has_line(t, keys[i]))
			fail_msg("missing line \"%s\" in:\n%s", keys[i], t);
	assert_null(strstr(t, "AmbientCapabilities"));
	assert_null(strstr(t, "User="));
	free(t);

	/* A low port, a user, a home path, two writable folders. */
	u.u_lowport = 1;
	u.u_user = "gt";
	u.u_home = GT_UNIT_HOME_READONLY;
	u.u_rw[1] = "/srv/gt 2";
	u.u_workdir = "/srv/50%";
	t = gt_systemd_render(&u, err, sizeof(err));
	assert_non_null(t);
	assert_true(has_line(t, "AmbientCapabilities=CAP_NET_BIND_SERVICE"));
	assert_true(has_line(t, "User=gt"));
	assert_true(has_line(t, "Group=gt"));
	assert_true(has_line(t, "ProtectHome=read-only"));
	assert_true(has_line(t, "ReadWritePaths=\"/var/lib/gt/data\" \"/srv/gt 2\""));
	assert_true(has_line(t, "WorkingDirectory=/srv/50%%"));
	free(t);

	/* The client: binds nothing, writes nothing. */
	unit_fill(&u, argv);
	u.u_bind = 0;
	u.u_lowport = 1;
	u.u_rw[0] = NULL;
	t = gt_systemd_render(&u, err, sizeof(err));
	assert_non_null(t);
	assert_true(has_line(t, "CapabilityBoundingSet="));
	assert_null(strstr(t, "AmbientCapabilities"));
	assert_null(strstr(t, "ReadWritePaths"));
	free(t);
}

static void
test_render_bad(void **state)
{
	struct gt_unit	 u;
	char		*argv[8], err[256];

	(void)state;
	unit_fill(&u, argv);
	argv[0] = (char *)"gt-server";
	assert_null(gt_systemd_render(&u, err, sizeof(err)));
	assert_non_null(strstr(err, "absolute"));
	unit_fill(&u, argv);
	argv[2] = (char *)"evil\n[Service]\nExecStartPre=/bin/sh";
	assert_null(gt_systemd_render(&u, err, sizeof(err)));
	assert_non_null(strstr(err, "control character"));
	unit_fill(&u, argv);
	u.u_workdir = "relative";
	assert_null(gt_systemd_render(&u, err, sizeof(err)));
	unit_fill(&u, argv);
	u.u_workdir = "/a\nb";
	assert_null(gt_systemd_render(&u, err, sizeof(err)));
	unit_fill(&u, argv);
	u.u_rw[0] = "data";
	assert_null(gt_systemd_render(&u, err, sizeof(err)));
	unit_fill(&u, argv);
	u.u_rw[0] = "/data\n";
	assert_null(gt_systemd_render(&u, err, sizeof(err)));
}

static void
test_paths(void **state)
{
	char	 cwd[4096], want[4200], *p;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	p = gt_systemd_abspath("/a//b/./c/../d/");
	assert_string_equal(p, "/a/b/d");
	free(p);
	p = gt_systemd_abspath("/../..");
	assert_string_equal(p, "/");
	free(p);
	p = gt_systemd_abspath("certs/client.crt");
	snprintf(want, sizeof(want), "%s/certs/client.crt", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(p, want);
	free(p);
	p = gt_systemd_abspath("./x");
	snprintf(want, sizeof(want), "%s/x", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(p, want);
	free(p);
	assert_null(gt_systemd_abspath(""));

	assert_true(gt_systemd_in_home("/home"));
	assert_true(gt_systemd_in_home("/home/alice/gt"));
	assert_true(gt_systemd_in_home("/root/gt/config.yaml"));
	assert_true(gt_systemd_in_home("/run/user/1000/x"));
	assert_false(gt_systemd_in_home("/homework/gt"));
	assert_false(gt_systemd_in_home("/rootfs"));
	assert_false(gt_systemd_in_home("/opt/gt"));

	p = gt_systemd_self_exe();
	assert_non_null(p);
	assert_int_equal(p[0], '/');
	assert_non_null(strstr(p, "test_common_systemd"));
	free(p);
}

/* Read a whole file (caller frees). */
static char *
slurp(const char *path)
{
	FILE	*f = fopen(path, "r");
	char	*buf;
	long	 n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void
test_install(void **state)
{
	struct gt_unit	 u;
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		 dir[] = "/tmp/gt-systemd-XXXXXX", path[256], err[256];
	char		*argv[8], *want, *got;
	int		 n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(setenv("GT_SYSTEMD_DIR", dir, 1), 0);
	assert_string_equal(gt_systemd_dir(), dir);
	assert_false(gt_systemd_manages());
	unit_fill(&u, argv);
	umask(077);
	assert_int_equal(gt_systemd_install(&u, "test"), 0);
	snprintf(path, sizeof(path), "%s/gt-server.service", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	want = gt_systemd_render(&u, err, sizeof(err));
	got = slurp(path);
	assert_string_equal(got, want);
	free(got);
	free(want);
	/* Installing again replaces the file; no temporary file is left. */
	assert_int_equal(gt_systemd_install(&u, "test"), 0);
	assert_non_null(d = opendir(dir));
	n = 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' || strncmp(de->d_name, ".gt", 3) == 0)
			n++;
	closedir(d);
	assert_int_equal(n, 1);
	/* A unit that cannot be rendered: exit status 2, file unchanged. */
	argv[1] = (char *)"bad\n";
	assert_int_equal(gt_systemd_install(&u, "test"), 2);
	assert_int_equal(stat(path, &st), 0);

	assert_int_equal(gt_systemd_uninstall("gt-server", "test"), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(gt_systemd_uninstall("gt-server", "test"), 0);
	assert_int_equal(rmdir(dir), 0);

	/* A missing folder is an I/O failure. */
	argv[1] = (char *)"-config";
	assert_int_equal(gt_systemd_install(&u, "test"), 1);
	unsetenv("GT_SYSTEMD_DIR");
	assert_string_equal(gt_systemd_dir(), "/etc/systemd/system");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_bad),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_install),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

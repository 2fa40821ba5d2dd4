/*
 * systemd.c: render and install the systemd units of gt-server and
 * gt-client (SPEC §8). Quoting follows systemd.service(5) and
 * systemd.exec(5); the file is written to a temporary name and renamed so a
 * reader never sees half a unit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gt/systemd.h"

#define SD_DEFAULT_DIR	"/etc/systemd/system"
#define SD_RUN_DIR	"/run/systemd/system"

/* Nonzero when s holds a byte systemd cannot carry inside a quoted word. */
static int
systemd_has_ctl(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 1;
	return 0;
}

/* Quote s in double quotes; escape \ and ", double % and (if dollar) $. */
static char *
systemd_quote_common(const char *s, int dollar)
{
	const char	*p;
	char		*out, *q;
	size_t		 n = 3;

	if (s == NULL || systemd_has_ctl(s)) {
		errno = EINVAL;
		return NULL;
	}
	for (p = s; *p != '\0'; p++)
		n += (*p == '\\' || *p == '"' || *p == '%' || (dollar && *p == '$')) ? 2 : 1;
	if ((out = malloc(n)) == NULL)
		return NULL;
	q = out;
	*q++ = '"';
	for (p = s; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			*q++ = '\\';
		else if (*p == '%' || (dollar && *p == '$'))
			*q++ = *p;
		*q++ = *p;
	}
	*q++ = '"';
	*q = '\0';
	return out;
}

/* An ExecStart word: $ and % doubled. */
char *
gt_systemd_quote(const char *word)
{
	return systemd_quote_common(word, 1);
}

/* A path in a list setting: only % doubled. */
char *
gt_systemd_quote_path(const char *path)
{
	return systemd_quote_common(path, 0);
}

/* Append one quoted word (with a leading space unless first) to f. */
static int
systemd_put_word(FILE *f, const char *w, int exec, int first)
{
	char *q;

	if ((q = exec ? gt_systemd_quote(w) : gt_systemd_quote_path(w)) == NULL)
		return -1;
	fprintf(f, "%s%s", first ? "" : " ", q);
	free(q);
	return 0;
}

/* WorkingDirectory= is taken verbatim but for specifiers: double every %. */
static int
systemd_put_workdir(FILE *f, const char *dir)
{
	const char	*p;
	size_t		 n = strlen(dir);

	if (systemd_has_ctl(dir) || n == 0 || dir[n - 1] == ' ')
		return -1;
	fputs("WorkingDirectory=", f);
	for (p = dir; *p != '\0'; p++) {
		if (*p == '%')
			fputc('%', f);
		fputc(*p, f);
	}
	fputc('\n', f);
	return 0;
}

/* The unit text: [Unit], [Service] with the hardening, [Install]. */
char *
gt_systemd_render(const struct gt_unit *u, char *err, size_t errlen)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 len = 0, i;
	int	 bad = 0;

	if (u->u_argv == NULL || u->u_argv[0] == NULL || u->u_argv[0][0] != '/') {
		snprintf(err, errlen, "the program path must be absolute");
		return NULL;
	}
	if (u->u_workdir == NULL || u->u_workdir[0] != '/') {
		snprintf(err, errlen, "the working directory must be absolute");
		return NULL;
	}
	for (i = 0; i < GT_UNIT_MAX_RW && u->u_rw[i] != NULL; i++)
		if (u->u_rw[i][0] != '/') {
			snprintf(err, errlen, "ReadWritePaths= paths must be absolute");
			return NULL;
		}
	if ((f = open_memstream(&buf, &len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	fprintf(f, "# Written by %s -reg install; remove with %s -reg uninstall.\n",
	    u->u_name, u->u_name);
	fprintf(f, "[Unit]\n"
	    "Description=%s\n"
	    "After=network-online.target\n"
	    "Wants=network-online.target\n"
	    "StartLimitIntervalSec=60\n"
	    "StartLimitBurst=5\n"
	    "\n"
	    "[Service]\n"
	    "Type=simple\n"
	    "ExecStart=", u->u_desc);
	for (i = 0; u->u_argv[i] != NULL && !bad; i++)
		if (systemd_put_word(f, u->u_argv[i], 1, i == 0) == -1)
			bad = 1;
	if (bad) {
		snprintf(err, errlen, "argument %zu of the command line holds a control "
		    "character (newline, tab, ...)", i - 1);
		goto fail;
	}
	fputc('\n', f);
	if (systemd_put_workdir(f, u->u_workdir) == -1) {
		snprintf(err, errlen, "the working directory holds a control character "
		    "or ends in a space");
		goto fail;
	}
	if (u->u_user != NULL)
		fprintf(f, "User=%s\nGroup=%s\n", u->u_user, u->u_user);
	fprintf(f, "Restart=always\n"
	    "RestartSec=10\n"
	    "TimeoutStopSec=10\n"
	    "LimitNOFILE=65536\n"
	    "UMask=0077\n"
	    "NoNewPrivileges=yes\n"
	    "ProtectSystem=strict\n");
	if (u->u_rw[0] != NULL) {
		fputs("ReadWritePaths=", f);
		for (i = 0; i < GT_UNIT_MAX_RW && u->u_rw[i] != NULL; i++)
			if (systemd_put_word(f, u->u_rw[i], 0, i == 0) == -1) {
				snprintf(err, errlen, "a ReadWritePaths= path holds a "
				    "control character");
				goto fail;
			}
		fputc('\n', f);
	}
	fprintf(f, "ProtectHome=%s\n",
	    u->u_home == GT_UNIT_HOME_READONLY ? "read-only" : "yes");
	fprintf(f, "PrivateTmp=yes\n"
	    "PrivateDevices=yes\n"
	    "PrivateMounts=yes\n"
	    "ProtectProc=invisible\n"
	    "ProcSubset=pid\n"
	    "ProtectKernelTunables=yes\n"
	    "ProtectKernelModules=yes\n"
	    "ProtectKernelLogs=yes\n"
	    "ProtectControlGroups=yes\n"
	    "ProtectClock=yes\n"
	    "ProtectHostname=yes\n"
	    "RestrictNamespaces=yes\n"
	    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n");
	fprintf(f, "CapabilityBoundingSet=%s\n", u->u_bind ? "CAP_NET_BIND_SERVICE" : "");
	if (u->u_bind && u->u_lowport)
		fputs("AmbientCapabilities=CAP_NET_BIND_SERVICE\n", f);
	fprintf(f, "SystemCallArchitectures=native\n"
	    "SystemCallFilter=@system-service\n"
	    "SystemCallFilter=~@privileged\n"
	    "SystemCallErrorNumber=EPERM\n"
	    "LockPersonality=yes\n"
	    "MemoryDenyWriteExecute=yes\n"
	    "RestrictRealtime=yes\n"
	    "RestrictSUIDSGID=yes\n"
	    "\n"
	    "[Install]\n"
	    "WantedBy=multi-user.target\n");
	if (ferror(f)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (fclose(f) != 0) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/* $GT_SYSTEMD_DIR or /etc/systemd/system. */
const char *
gt_systemd_dir(void)
{
	const char *d = getenv("GT_SYSTEMD_DIR");

	return (d != NULL && *d != '\0') ? d : SD_DEFAULT_DIR;
}

/* systemd runs here and no test folder was asked for. */
int
gt_systemd_manages(void)
{
	const char	*d = getenv("GT_SYSTEMD_DIR");
	struct stat	 st;

	if (d != NULL && *d != '\0')
		return 0;
	return stat(SD_RUN_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

/* readlink /proc/self/exe with a growing buffer. */
char *
gt_systemd_self_exe(void)
{
	char	*buf = NULL, *nb;
	size_t	 sz = 256;
	ssize_t	 n;

	for (;;) {
		if ((nb = realloc(buf, sz)) == NULL) {
			free(buf);
			return NULL;
		}
		buf = nb;
		if ((n = readlink("/proc/self/exe", buf, sz)) == -1) {
			free(buf);
			return NULL;
		}
		if ((size_t)n < sz) {
			buf[n] = '\0';
			return buf;
		}
		if (sz >= 65536) {
			free(buf);
			errno = ENAMETOOLONG;
			return NULL;
		}
		sz *= 2;
	}
}

/* Absolute and folded, lexically: the file need not exist. */
char *
gt_systemd_abspath(const char *path)
{
	char	*full, *out, *tok, *save = NULL;
	char	 cwd[PATH_MAX];
	size_t	 n, o = 0;

	if (path == NULL || *path == '\0') {
		errno = EINVAL;
		return NULL;
	}
	if (path[0] == '/')
		full = strdup(path);
	else {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return NULL;
		n = strlen(cwd) + strlen(path) + 2;
		if ((full = malloc(n)) != NULL)
			snprintf(full, n, "%s/%s", cwd, path);
	}
	if (full == NULL)
		return NULL;
	if ((out = malloc(strlen(full) + 2)) == NULL) {
		free(full);
		return NULL;
	}
	/* Fold the components into out, which only ever shrinks. */
	for (tok = strtok_r(full, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		out[o++] = '/';
		n = strlen(tok);
		memcpy(out + o, tok, n);
		o += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(full);
	return out;
}

/* Under a folder ProtectHome=yes hides. */
int
gt_systemd_in_home(const char *p)
{
	static const char *const homes[] = { "/home", "/root", "/run/user" };
	size_t i, n;

	for (i = 0; i < sizeof(homes) / sizeof(homes[0]); i++) {
		n = strlen(homes[i]);
		if (strncmp(p, homes[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
			return 1;
	}
	return 0;
}

/* Run systemctl with up to three arguments; 0 when it exits 0. */
static int
systemd_systemctl(const char *prog, const char *a1, const char *a2, const char *a3)
{
	char	*argv[5];
	pid_t	 pid;
	int	 st;

	argv[0] = (char *)"systemctl";
	argv[1] = (char *)a1;
	argv[2] = (char *)a2;
	argv[3] = (char *)a3;
	argv[4] = NULL;
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		fprintf(stderr, "%s: -reg: fork: %s\n", prog, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		execvp("systemctl", argv);
		fprintf(stderr, "%s: -reg: systemctl: %s\n", prog, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "%s: -reg: systemctl %s%s%s%s%s failed\n", prog, a1,
		    a2 ? " " : "", a2 ? a2 : "", a3 ? " " : "", a3 ? a3 : "");
		return -1;
	}
	return 0;
}

/* fsync a folder so a rename or unlink in it survives a power cut. */
static void
systemd_sync_dir(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	(void)fsync(fd);
	close(fd);
}

/* Write text to dir/file through a temporary file and rename; mode 0644. */
static int
systemd_write_atomic(const char *dir, const char *file, const char *text,
    const char *prog)
{
	char	 path[PATH_MAX], tmp[PATH_MAX];
	size_t	 len = strlen(text), off = 0;
	ssize_t	 n;
	int	 fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, file) >= sizeof(tmp)) {
		fprintf(stderr, "%s: -reg: %s: path too long\n", prog, dir);
		return -1;
	}
	if ((fd = mkstemp(tmp)) == -1) {
		fprintf(stderr, "%s: -reg: cannot write in %s: %s\n", prog, dir,
		    strerror(errno));
		return -1;
	}
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, 0644) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	systemd_sync_dir(dir);
	return 0;
fail:
	fprintf(stderr, "%s: -reg: cannot write %s: %s\n", prog, path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

/* Render, write atomically, then daemon-reload and enable where systemd runs. */
int
gt_systemd_install(const struct gt_unit *u, const char *prog)
{
	const char	*dir = gt_systemd_dir();
	char		 file[256], err[512], *text;

	if ((text = gt_systemd_render(u, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: -reg install: %s\n", prog, err);
		return 2;
	}
	snprintf(file, sizeof(file), "%s.service", u->u_name);
	if (systemd_write_atomic(dir, file, text, prog) == -1) {
		free(text);
		return 1;
	}
	free(text);
	printf("%s: wrote %s/%s\n", prog, dir, file);
	if (!gt_systemd_manages()) {
		printf("%s: systemd is not managing this system (or GT_SYSTEMD_DIR is set): "
		    "nothing enabled; where systemd runs, do by hand:\n"
		    "  systemctl daemon-reload && systemctl enable --now %s\n", prog, file);
		return 0;
	}
	if (systemd_systemctl(prog, "daemon-reload", NULL, NULL) == -1 ||
	    systemd_systemctl(prog, "enable", file, NULL) == -1)
		return 1;
	printf("%s: enabled %s; start it with: systemctl start %s\n", prog, file, u->u_name);
	return 0;
}

/* Disable, remove, daemon-reload; a missing unit is not an error. */
int
gt_systemd_uninstall(const char *name, const char *prog)
{
	const char	*dir = gt_systemd_dir();
	char		 file[256], path[PATH_MAX];
	struct stat	 st;
	int		 rc = 0;

	snprintf(file, sizeof(file), "%s.service", name);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
		fprintf(stderr, "%s: -reg: %s: path too long\n", prog, dir);
		return 1;
	}
	if (lstat(path, &st) == -1) {
		if (errno == ENOENT) {
			printf("%s: no unit at %s; nothing to remove\n", prog, path);
			return 0;
		}
		fprintf(stderr, "%s: -reg uninstall: %s: %s\n", prog, path, strerror(errno));
		return 1;
	}
	if (gt_systemd_manages() && systemd_systemctl(prog, "disable", "--now", file) == -1)
		rc = 1;
	if (unlink(path) == -1) {
		fprintf(stderr, "%s: -reg uninstall: cannot remove %s: %s\n", prog, path,
		    strerror(errno));
		return 1;
	}
	systemd_sync_dir(dir);
	printf("%s: removed %s\n", prog, path);
	if (!gt_systemd_manages()) {
		printf("%s: systemd is not managing this system (or GT_SYSTEMD_DIR is set): "
		    "where it was enabled, run by hand:\n"
		    "  systemctl disable --now %s; systemctl daemon-reload\n", prog, file);
		return rc;
	}
	if (systemd_systemctl(prog, "daemon-reload", NULL, NULL) == -1)
		rc = 1;
	return rc;
}

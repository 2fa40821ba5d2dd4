/*
 * systemd.h: the systemd unit writer behind `gt-server -reg` and
 * `gt-client -reg` (SPEC §8). The programs describe their unit in a
 * struct gt_unit; this module quotes, renders, writes it atomically and
 * runs systemctl where systemd runs.
 */
#ifndef GT_SYSTEMD_H
#define GT_SYSTEMD_H

#include <stddef.h>

#define GT_UNIT_MAX_RW		8	/* ReadWritePaths entries */

enum gt_unit_home {
	GT_UNIT_HOME_YES = 0,		/* ProtectHome=yes: /home, /root hidden */
	GT_UNIT_HOME_READONLY,		/* a path it needs lives there */
};

struct gt_unit {
	const char		*u_name;	/* "gt-server": writes gt-server.service */
	const char		*u_desc;	/* Description= */
	char *const		*u_argv;	/* ExecStart words, NULL-terminated; [0] absolute */
	const char		*u_workdir;	/* absolute WorkingDirectory= */
	const char		*u_user;	/* User=/Group=, or NULL: none (root) */
	const char		*u_rw[GT_UNIT_MAX_RW];	/* ReadWritePaths=, NULL-ended */
	int			 u_bind;	/* may bind: CAP_NET_BIND_SERVICE in the bounding set */
	int			 u_lowport;	/* a port < 1024: AmbientCapabilities too */
	enum gt_unit_home	 u_home;
};

/*
 * One ExecStart word quoted per systemd.service(5): inside double quotes,
 * `\` and `"` escaped with `\`, `$` written `$$` and `%` written `%%`.
 * Returns a malloc'ed string (caller frees), or NULL with errno EINVAL for a
 * word holding a control character (newline, tab, ...) or ENOMEM.
 */
char	*gt_systemd_quote(const char *word);
/* The same for a path in a list setting (ReadWritePaths=): `$` stays as is. */
char	*gt_systemd_quote_path(const char *path);
/*
 * The whole unit file text (caller frees), or NULL with one line in err
 * (a word or path systemd cannot carry, a relative path, no memory).
 */
char	*gt_systemd_render(const struct gt_unit *, char *err, size_t errlen);

/* Where units go: $GT_SYSTEMD_DIR when set and not empty, else /etc/systemd/system. */
const char *gt_systemd_dir(void);
/* Nonzero when systemctl should be run: systemd is PID 1 and GT_SYSTEMD_DIR is unset. */
int	gt_systemd_manages(void);
/* Absolute path of the running program (readlink /proc/self/exe); caller frees. */
char	*gt_systemd_self_exe(void);
/*
 * path made absolute against the current directory, "." and ".." and double
 * slashes folded without touching the file system (the file may not exist
 * yet). Caller frees; NULL on ENOMEM or a failing getcwd.
 */
char	*gt_systemd_abspath(const char *path);
/* Nonzero when an absolute path lies under /home, /root or /run/user (ProtectHome). */
int	gt_systemd_in_home(const char *abspath);

/*
 * -reg install: render, write <dir>/<name>.service atomically with mode
 * 0644, then `systemctl daemon-reload` and `systemctl enable` where
 * gt_systemd_manages(), else print what to run by hand. prog names the
 * program in messages. Returns the exit status: 0, 1 on an I/O failure,
 * 2 when the unit cannot carry the arguments.
 */
int	gt_systemd_install(const struct gt_unit *, const char *prog);
/*
 * -reg uninstall: `systemctl disable --now` (same condition), remove the
 * file, daemon-reload. A missing unit is a message and 0. Exit status.
 */
int	gt_systemd_uninstall(const char *name, const char *prog);

#endif

/* files.c: writing certificates and keys atomically, never replacing without -force. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gt/certgen.h"
#include "gt/log.h"

/* Join dir and name into out; -1 if it does not fit. */
static int
certgen_path(char *out, size_t size, const char *dir, const char *name)
{
	size_t	n;

	n = (size_t)snprintf(out, size, "%s/%s", dir, name);
	return n < size ? 0 : -1;
}

/* Look at every target before anything is made or written. */
int
gt_certgen_check_targets(const char *dir, const char *const *names, size_t n,
    int force, char *err, size_t errlen)
{
	char		path[PATH_MAX];
	struct stat	st;
	size_t		i;

	for (i = 0; i < n; i++) {
		if (certgen_path(path, sizeof(path), dir, names[i]) == -1) {
			snprintf(err, errlen, "-out: path too long");
			return -1;
		}
		if (lstat(path, &st) == -1) {
			/* A missing folder is created later; its files are absent. */
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s is a directory", path);
			return -1;
		}
		if (!force) {
			snprintf(err, errlen, "%s exists (use -force to replace it)",
			    path);
			return -1;
		}
	}
	return 0;
}

/* mkdir -p with mode 0700 for every folder created. */
static int
certgen_mkdirs(const char *dir, char *err, size_t errlen)
{
	char		path[PATH_MAX], *p;
	struct stat	st;

	if (strlen(dir) >= sizeof(path)) {
		snprintf(err, errlen, "-out: path too long");
		return -1;
	}
	memcpy(path, dir, strlen(dir) + 1);
	for (p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] != '/') {
			char c = *p;

			*p = '\0';
			if (mkdir(path, 0700) == -1 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create %s: %s", path,
				    strerror(errno));
				return -1;
			}
			*p = c;
		}
		if (*p == '\0')
			break;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "-out: %s is not a directory", dir);
		return -1;
	}
	return 0;
}

/* Write one file's contents into a new temp file next to its target. */
static int
certgen_write_temp(const char *dir, const struct gt_certgen_file *f, char *tmp,
    size_t tmpsize, char *err, size_t errlen)
{
	const unsigned char	*p = f->f_data;
	size_t			 left = f->f_len;
	ssize_t			 w;
	int			 fd;

	if ((size_t)snprintf(tmp, tmpsize, "%s/.%s.XXXXXX", dir, f->f_name) >=
	    tmpsize) {
		snprintf(err, errlen, "-out: path too long");
		return -1;
	}
	/* mkostemp opens O_CREAT|O_EXCL, mode 0600: nothing readable yet. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot create a file in %s: %s", dir,
		    strerror(errno));
		tmp[0] = '\0';
		return -1;
	}
	if (fchmod(fd, f->f_secret ? 0600 : 0644) == -1)
		goto fail;
	while (left > 0) {
		if ((w = write(fd, p, left)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	tmp[0] = '\0';
	return -1;
}

/* Move tmp to path; without force never replace an existing path. */
static int
certgen_install(const char *tmp, const char *path, int force)
{
	if (force)
		return rename(tmp, path);
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without RENAME_NOREPLACE: link fails on EEXIST too. */
	if (link(tmp, path) == -1)
		return -1;
	unlink(tmp);
	return 0;
}

/* fsync a folder so the renames inside it survive a crash. */
static void
certgen_sync_dir(const char *dir)
{
	int	fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	(void)fsync(fd);
	close(fd);
}

/* Temp files first, then renames: a failure leaves no partial file. */
int
gt_certgen_write_files(const char *dir, const struct gt_certgen_file *files,
    size_t n, int force, char *err, size_t errlen)
{
	char		(*tmp)[PATH_MAX] = NULL, path[PATH_MAX];
	const char	**names = NULL;
	size_t		 i, done = 0;
	int		 rv = -1;

	if (n == 0)
		return 0;
	if ((tmp = calloc(n, sizeof(*tmp))) == NULL ||
	    (names = calloc(n, sizeof(*names))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		names[i] = files[i].f_name;
	if (gt_certgen_check_targets(dir, names, n, force, err, errlen) == -1 ||
	    certgen_mkdirs(dir, err, errlen) == -1)
		goto out;
	for (i = 0; i < n; i++)
		if (certgen_write_temp(dir, &files[i], tmp[i], sizeof(tmp[i]),
		    err, errlen) == -1)
			goto out;
	/* Every file is on disk: look once more, then move them all in. */
	if (gt_certgen_check_targets(dir, names, n, force, err, errlen) == -1)
		goto out;
	for (done = 0; done < n; done++) {
		certgen_path(path, sizeof(path), dir, files[done].f_name);
		if (certgen_install(tmp[done], path, force) == -1) {
			snprintf(err, errlen, "cannot write %s: %s", path,
			    errno == EEXIST ? "it exists (use -force to replace it)" :
			    strerror(errno));
			goto out;
		}
		tmp[done][0] = '\0';
		log_info("certgen", "wrote %s (mode %s)", path,
		    files[done].f_secret ? "0600" : "0644");
	}
	rv = 0;
out:
	if (done > 0)
		certgen_sync_dir(dir);
	if (tmp != NULL)
		for (i = 0; i < n; i++)
			if (tmp[i][0] != '\0')
				unlink(tmp[i]);
	free(tmp);
	free(names);
	return rv;
}

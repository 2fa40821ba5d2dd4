/*
 * ui.h: the web console's static files (ui/ in the source tree), compiled
 * into gt-server by cmake/embed_ui.cmake and served by the API under /ui/
 * (docs/CONSOLE.md). Everything here is read-only data in the binary.
 */
#ifndef GT_UI_H
#define GT_UI_H

#include <stddef.h>

struct gt_ui_file {
	const char		*uf_path;	/* "/ui/app.js" */
	const char		*uf_ctype;	/* its Content-Type */
	const unsigned char	*uf_data;
	size_t			 uf_len;
};

/* Every file, ended by a NULL path (generated: build/gen/ui_files.c). */
extern const struct gt_ui_file gt_ui_files[];

/*
 * The file a GET of path (no query) answers, "/ui/" being index.html;
 * NULL when there is none. Only exact names match, so nothing like ".."
 * or "%2e" can reach anything but the table.
 */
const struct gt_ui_file *gt_ui_find(const char *path);

/* The Content-Security-Policy sent with every console file. */
#define GT_UI_CSP \
	"default-src 'self'; script-src 'self'; style-src 'self'; " \
	"connect-src 'self'; img-src 'self' data:; object-src 'none'; " \
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

#endif

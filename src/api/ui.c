/* ui.c: lookup in the console's compiled-in files (gt/ui.h). */
#include <string.h>

#include "gt/ui.h"

/* The file path names, index.html for the folder itself. */
const struct gt_ui_file *
gt_ui_find(const char *path)
{
	const struct gt_ui_file	*f;

	if (path == NULL)
		return NULL;
	if (strcmp(path, "/ui/") == 0)
		path = "/ui/index.html";
	for (f = gt_ui_files; f->uf_path != NULL; f++)
		if (strcmp(f->uf_path, path) == 0)
			return f;
	return NULL;
}

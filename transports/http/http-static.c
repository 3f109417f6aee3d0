/* Optional static file serving (the demo pages of the quick start) on the
 * Janus API listeners. The API paths are matched before this is consulted,
 * so a file can never shadow them.
 *
 * Safety: MHD hands us the percent-decoded path. Any segment starting with
 * '.' ("..", ".", dot files) or holding a backslash is refused, and the
 * resolved real path must still lie inside the folder's real path, so
 * neither traversal nor a symlink can leave the folder.
 * Runs on MHD worker threads; reads only read-only settings.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cardea/module.h"
#include "http-priv.h"

static const struct {
	const char *ext;
	const char *type;
} http_mime_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".htm", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".map", "application/json" },
	{ ".png", "image/png" },
	{ ".svg", "image/svg+xml" },
	{ ".jpg", "image/jpeg" },
	{ ".jpeg", "image/jpeg" },
	{ ".gif", "image/gif" },
	{ ".ico", "image/x-icon" },
	{ ".webp", "image/webp" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".wasm", "application/wasm" },
	{ ".woff2", "font/woff2" },
};

static const char *http_mime_type(const char *path) {
	const char *dot = strrchr(path, '.');
	if (dot != NULL && strchr(dot, '/') == NULL) {
		for (size_t i = 0; i < G_N_ELEMENTS(http_mime_types); i++)
			if (!g_ascii_strcasecmp(dot, http_mime_types[i].ext))
				return http_mime_types[i].type;
	}
	return "application/octet-stream";
}

bool cardea_http_static_matches(const char *url) {
	if (cardea_http.static_root == NULL)
		return false;
	const char *prefix = cardea_http.settings.static_path;
	size_t n = strlen(prefix);
	return strncmp(url, prefix, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

static bool http_static_path_ok(const char *rel) {
	if (strchr(rel, '\\') != NULL)
		return false;
	bool ok = true;
	gchar **parts = g_strsplit(rel, "/", -1);
	for (gchar **p = parts; *p && ok; p++)
		if ((*p)[0] == '.')
			ok = false;
	g_strfreev(parts);
	return ok;
}

static enum MHD_Result http_static_redirect(struct MHD_Connection *conn, const char *url) {
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	char *location = g_strconcat(url, "/", NULL);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
	g_free(location);
	cardea_http_add_cors(conn, resp);
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_MOVED_PERMANENTLY, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result cardea_http_static_serve(struct MHD_Connection *conn, const char *url) {
	const char *root = cardea_http.static_root;
	const char *rel = url + strlen(cardea_http.settings.static_path);
	if (!http_static_path_ok(rel))
		return cardea_http_send_status(conn, MHD_HTTP_NOT_FOUND);
	/* "/demos" for a folder mounted at /demos: relative links need the slash. */
	if (rel[0] == '\0')
		return http_static_redirect(conn, url);
	bool dir_url = g_str_has_suffix(rel, "/");
	char *path = g_strconcat(root, rel, dir_url ? "index.html" : "", NULL);
	char real[PATH_MAX];
	bool found = realpath(path, real) != NULL;
	g_free(path);
	size_t rn = strlen(root);
	if (!found || strncmp(real, root, rn) != 0 || real[rn] != '/')
		return cardea_http_send_status(conn, MHD_HTTP_NOT_FOUND);
	int fd = open(real, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return cardea_http_send_status(conn, MHD_HTTP_NOT_FOUND);
	}
	if (S_ISDIR(st.st_mode) && !dir_url) {
		close(fd);
		return http_static_redirect(conn, url);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cardea_http_send_status(conn, MHD_HTTP_NOT_FOUND);
	}
	/* The response owns the fd from here and closes it when destroyed. */
	struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
	if (resp == NULL) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, http_mime_type(real));
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	cardea_http_add_cors(conn, resp);
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

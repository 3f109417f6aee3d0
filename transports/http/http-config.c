/* Reading cardea.transport.http.jcfg.
 *
 * Option names follow janus.transport.http.jcfg so an admin can carry a
 * Janus config over; the differences (admin listener on by default,
 * max_body_size, long_poll_timeout, the static section) are documented in
 * conf/cardea.transport.http.jcfg.sample. Runs on the main thread during
 * init only.
 */
#include <string.h>
#include <arpa/inet.h>

#include "cardea/module.h"
#include "cardea/config.h"
#include "http-priv.h"

/* `enabled` is read by the core's module loader. */
static const char *const http_general_keys[] = {
	"enabled", "json", "base_path", "http", "port", "ip", "https", "secure_port",
	"threads", "max_body_size", "max_connections", "long_poll_timeout",
	"connection_timeout", "request_timeout", "requests_per_second", "requests_burst", NULL
};
static const char *const http_admin_keys[] = {
	"admin_base_path", "admin_http", "admin_port", "admin_ip", "admin_https",
	"admin_secure_port", NULL
};
static const char *const http_cors_keys[] = { "allow_origin", "enforce_cors", NULL };
static const char *const http_cert_keys[] = { "cert_pem", "cert_key", "cert_pwd", NULL };
static const char *const http_static_keys[] = { "enabled", "folder", "path", NULL };
static const char *const http_sections[] = { "general", "admin", "cors", "certificates", "static", "whip", NULL };
static const char *const http_no_keys[] = { NULL };

const char *cardea_http_listener_name(http_listener_kind kind) {
	switch (kind) {
	case HTTP_LISTENER_HTTP: return "http";
	case HTTP_LISTENER_HTTPS: return "https";
	case HTTP_LISTENER_ADMIN_HTTP: return "admin_http";
	case HTTP_LISTENER_ADMIN_HTTPS: return "admin_https";
	default: return "?";
	}
}

/* URL prefixes: must start with '/', may not hold characters that cannot
 * appear in a decoded request path we match against. Stored without the
 * trailing slash, so "/" becomes "" (everything matches). */
static bool http_read_url_path(const cardea_config *cfg, const char *section, const char *key,
		const char *def, char **out, GError **error) {
	char *p = NULL;
	if (!cardea_config_get_string(cfg, section, key, def, &p, error))
		return false;
	if (p[0] != '/' || strpbrk(p, "?# \t\r\n\\") != NULL || strstr(p, "/../") ||
			g_str_has_suffix(p, "/..") || strstr(p, "//")) {
		cardea_config_set_value_error(error, cfg, section, key,
			"must be a URL path starting with '/' (got \"%s\")", p);
		g_free(p);
		return false;
	}
	size_t n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		p[--n] = '\0';
	*out = p;
	return true;
}

static bool http_read_port(const cardea_config *cfg, const char *section, const char *key,
		int def, int *out, GError **error) {
	gint64 v = 0;
	if (!cardea_config_get_int(cfg, section, key, def, 1, 65535, &v, error))
		return false;
	*out = (int)v;
	return true;
}

/* Bind addresses are literal IPv4/IPv6 addresses (no interface names: an
 * interface can have several addresses and MHD binds one socket). */
static bool http_read_ip(const cardea_config *cfg, const char *section, const char *key,
		const char *def, char **out, GError **error) {
	char *ip = NULL;
	if (!cardea_config_get_string(cfg, section, key, def, &ip, error))
		return false;
	if (ip != NULL && *ip == '\0') {
		g_free(ip);
		ip = NULL;
	}
	if (ip != NULL) {
		unsigned char buf[sizeof(struct in6_addr)];
		if (inet_pton(AF_INET, ip, buf) != 1 && inet_pton(AF_INET6, ip, buf) != 1) {
			cardea_config_set_value_error(error, cfg, section, key,
				"must be an IPv4 or IPv6 address (got \"%s\")", ip);
			g_free(ip);
			return false;
		}
	}
	*out = ip;
	return true;
}

static bool http_read_bool(const cardea_config *cfg, const char *section, const char *key,
		bool def, bool *out, GError **error) {
	gboolean v = FALSE;
	if (!cardea_config_get_bool(cfg, section, key, def, &v, error))
		return false;
	*out = v ? true : false;
	return true;
}

static void http_warn_unknown_sections(const cardea_config *cfg) {
	gchar **sections = cardea_config_list_sections(cfg);
	for (gchar **s = sections; s && *s; s++) {
		if (!g_strv_contains(http_sections, *s))
			CARDEA_LOG(CARDEA_LOG_WARN, "%s:%d: unknown section %s (ignored)",
				cardea_config_path(cfg), cardea_config_line(cfg, *s, NULL), *s);
	}
	g_strfreev(sections);
	cardea_config_warn_unknown(cfg, NULL, http_no_keys);
	cardea_config_warn_unknown(cfg, "general", http_general_keys);
	cardea_config_warn_unknown(cfg, "admin", http_admin_keys);
	cardea_config_warn_unknown(cfg, "cors", http_cors_keys);
	cardea_config_warn_unknown(cfg, "certificates", http_cert_keys);
	cardea_config_warn_unknown(cfg, "static", http_static_keys);
}

static bool http_read_listeners(const cardea_config *cfg, http_settings *s, GError **error) {
	http_listener_conf *l = s->listeners;
	l[HTTP_LISTENER_HTTPS].secure = true;
	l[HTTP_LISTENER_ADMIN_HTTP].admin = true;
	l[HTTP_LISTENER_ADMIN_HTTPS].admin = true;
	l[HTTP_LISTENER_ADMIN_HTTPS].secure = true;
	char *ip = NULL, *admin_ip = NULL;
	bool ok = http_read_bool(cfg, "general", "http", true, &l[HTTP_LISTENER_HTTP].enabled, error) &&
		http_read_port(cfg, "general", "port", HTTP_DEFAULT_PORT, &l[HTTP_LISTENER_HTTP].port, error) &&
		http_read_bool(cfg, "general", "https", false, &l[HTTP_LISTENER_HTTPS].enabled, error) &&
		http_read_port(cfg, "general", "secure_port", HTTP_DEFAULT_SECURE_PORT,
			&l[HTTP_LISTENER_HTTPS].port, error) &&
		http_read_ip(cfg, "general", "ip", NULL, &ip, error) &&
		/* Admin on by default (unlike Janus) but only on loopback. */
		http_read_bool(cfg, "admin", "admin_http", true, &l[HTTP_LISTENER_ADMIN_HTTP].enabled, error) &&
		http_read_port(cfg, "admin", "admin_port", HTTP_DEFAULT_ADMIN_PORT,
			&l[HTTP_LISTENER_ADMIN_HTTP].port, error) &&
		http_read_bool(cfg, "admin", "admin_https", false, &l[HTTP_LISTENER_ADMIN_HTTPS].enabled, error) &&
		http_read_port(cfg, "admin", "admin_secure_port", HTTP_DEFAULT_ADMIN_SECURE_PORT,
			&l[HTTP_LISTENER_ADMIN_HTTPS].port, error) &&
		http_read_ip(cfg, "admin", "admin_ip", "127.0.0.1", &admin_ip, error);
	if (ok) {
		l[HTTP_LISTENER_HTTP].ip = g_strdup(ip);
		l[HTTP_LISTENER_HTTPS].ip = g_strdup(ip);
		l[HTTP_LISTENER_ADMIN_HTTP].ip = g_strdup(admin_ip);
		l[HTTP_LISTENER_ADMIN_HTTPS].ip = g_strdup(admin_ip);
	}
	g_free(ip);
	g_free(admin_ip);
	if (!ok)
		return false;
	/* Two enabled listeners on one port would fail later with a vague bind
	 * error; say which keys collide instead. */
	static const char *const port_keys[HTTP_LISTENER_COUNT][2] = {
		{ "general", "port" }, { "general", "secure_port" },
		{ "admin", "admin_port" }, { "admin", "admin_secure_port" },
	};
	for (int a = 0; a < HTTP_LISTENER_COUNT; a++) {
		for (int b = a + 1; b < HTTP_LISTENER_COUNT; b++) {
			if (l[a].enabled && l[b].enabled && l[a].port == l[b].port &&
					g_strcmp0(l[a].ip, l[b].ip) == 0) {
				cardea_config_set_value_error(error, cfg, port_keys[b][0], port_keys[b][1],
					"is %d, already used by %s.%s", l[b].port, port_keys[a][0], port_keys[a][1]);
				return false;
			}
		}
	}
	return true;
}

static bool http_read_certificates(const cardea_config *cfg, http_settings *s, GError **error) {
	if (!cardea_config_get_string(cfg, "certificates", "cert_pem", NULL, &s->cert_pem, error) ||
			!cardea_config_get_string(cfg, "certificates", "cert_key", NULL, &s->cert_key, error) ||
			!cardea_config_get_string(cfg, "certificates", "cert_pwd", NULL, &s->cert_pwd, error))
		return false;
	bool https = s->listeners[HTTP_LISTENER_HTTPS].enabled;
	if (!https && !s->listeners[HTTP_LISTENER_ADMIN_HTTPS].enabled)
		return true;
	if (s->cert_pem == NULL || *s->cert_pem == '\0' || s->cert_key == NULL || *s->cert_key == '\0') {
		const char *missing = (s->cert_pem == NULL || *s->cert_pem == '\0') ? "cert_pem" : "cert_key";
		/* Point at whatever asked for TLS: the certificates section may not exist. */
		cardea_config_set_value_error(error, cfg, https ? "general" : "admin", https ? "https" : "admin_https",
			"is enabled but certificates.%s is not set", missing);
		return false;
	}
	return true;
}

static bool http_read_static(const cardea_config *cfg, const char *html_folder,
		http_settings *s, GError **error) {
	if (!http_read_bool(cfg, "static", "enabled", false, &s->static_enabled, error) ||
			!cardea_config_get_string(cfg, "static", "folder", html_folder, &s->static_folder, error) ||
			!http_read_url_path(cfg, "static", "path", "/", &s->static_path, error))
		return false;
	if (s->static_enabled && (s->static_folder == NULL || *s->static_folder == '\0')) {
		cardea_config_set_value_error(error, cfg, "static", "folder", "is required when static serving is enabled");
		return false;
	}
	return true;
}

static bool http_read_all(const cardea_config *cfg, const char *html_folder, http_settings *s, GError **error) {
	gint64 threads = 0, max_body = 0, max_conn = 0, lp = 0, ct = 0, rt = 0, rps = 0, burst = 0;
	if (!cardea_transport_read_json_style(cfg, &s->json_flags, error) ||
			!http_read_url_path(cfg, "general", "base_path", "/janus", &s->base_path, error) ||
			!http_read_url_path(cfg, "admin", "admin_base_path", "/admin", &s->admin_base_path, error) ||
			!cardea_config_get_int(cfg, "general", "threads", 0, 0, 64, &threads, error) ||
			!cardea_config_get_int(cfg, "general", "max_body_size", HTTP_DEFAULT_MAX_BODY,
				1024, 256 * 1024 * 1024, &max_body, error) ||
			!cardea_config_get_int(cfg, "general", "max_connections", 0, 0, 1000000, &max_conn, error) ||
			!cardea_config_get_int(cfg, "general", "long_poll_timeout", HTTP_DEFAULT_LONG_POLL,
				1, 3600, &lp, error) ||
			!cardea_config_get_int(cfg, "general", "connection_timeout", HTTP_DEFAULT_CONNECTION_TIMEOUT,
				1, 3600, &ct, error) ||
			!cardea_config_get_int(cfg, "general", "request_timeout", HTTP_DEFAULT_REQUEST_TIMEOUT,
				0, 3600, &rt, error) ||
			!cardea_config_get_int(cfg, "general", "requests_per_second", 0, 0, 1000000, &rps, error) ||
			!cardea_config_get_int(cfg, "general", "requests_burst", 0, 0, 1000000, &burst, error) ||
			!http_read_listeners(cfg, s, error) ||
			!cardea_config_get_string(cfg, "cors", "allow_origin", NULL, &s->allow_origin, error) ||
			!http_read_bool(cfg, "cors", "enforce_cors", false, &s->enforce_cors, error) ||
			!http_read_certificates(cfg, s, error) ||
			!http_read_static(cfg, html_folder, s, error))
		return false;
	s->threads = (int)threads;
	s->max_body_size = (size_t)max_body;
	s->max_connections = (int)max_conn;
	s->long_poll_timeout = (int)lp;
	s->connection_timeout = (int)ct;
	s->request_timeout = (int)rt;
	s->requests_per_second = (unsigned int)rps;
	s->requests_burst = burst > 0 ? (unsigned int)burst : 2 * (unsigned int)rps;
	if (s->allow_origin != NULL && *s->allow_origin == '\0') {
		g_free(s->allow_origin);
		s->allow_origin = NULL;
	}
	if (s->enforce_cors && s->allow_origin == NULL)
		CARDEA_LOG(CARDEA_LOG_WARN, "%s:%d: cors.enforce_cors has no effect without cors.allow_origin",
			cardea_config_path(cfg), cardea_config_line(cfg, "cors", "enforce_cors"));
	return true;
}

static void http_settings_defaults(http_settings *s, const char *html_folder) {
	memset(s, 0, sizeof(*s));
	s->json_flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	s->base_path = g_strdup("/janus");
	s->admin_base_path = g_strdup("/admin");
	s->listeners[HTTP_LISTENER_HTTP] = (http_listener_conf){ true, false, false, HTTP_DEFAULT_PORT, NULL };
	s->listeners[HTTP_LISTENER_HTTPS] = (http_listener_conf){ false, false, true, HTTP_DEFAULT_SECURE_PORT, NULL };
	s->listeners[HTTP_LISTENER_ADMIN_HTTP] =
		(http_listener_conf){ true, true, false, HTTP_DEFAULT_ADMIN_PORT, g_strdup("127.0.0.1") };
	s->listeners[HTTP_LISTENER_ADMIN_HTTPS] =
		(http_listener_conf){ false, true, true, HTTP_DEFAULT_ADMIN_SECURE_PORT, g_strdup("127.0.0.1") };
	s->max_body_size = HTTP_DEFAULT_MAX_BODY;
	s->long_poll_timeout = HTTP_DEFAULT_LONG_POLL;
	s->connection_timeout = HTTP_DEFAULT_CONNECTION_TIMEOUT;
	s->request_timeout = HTTP_DEFAULT_REQUEST_TIMEOUT;
	s->static_folder = g_strdup(html_folder);
	s->static_path = g_strdup("");
}

bool cardea_http_settings_load(const char *path, const char *html_folder, http_settings *out, GError **error) {
	if (path == NULL || !g_file_test(path, G_FILE_TEST_EXISTS)) {
		CARDEA_LOG(CARDEA_LOG_INFO, "[http] no config file %s, using defaults", path ? path : "(none)");
		http_settings_defaults(out, html_folder);
		return true;
	}
	memset(out, 0, sizeof(*out));
	cardea_config *cfg = cardea_config_load(path, error);
	if (cfg == NULL)
		return false;
	http_warn_unknown_sections(cfg);
	bool ok = http_read_all(cfg, html_folder, out, error);
	cardea_config_free(cfg);
	return ok;
}

void cardea_http_settings_clear(http_settings *s) {
	g_free(s->base_path);
	g_free(s->admin_base_path);
	for (int i = 0; i < HTTP_LISTENER_COUNT; i++)
		g_free(s->listeners[i].ip);
	g_free(s->allow_origin);
	g_free(s->cert_pem);
	g_free(s->cert_key);
	g_free(s->cert_pwd);
	g_free(s->static_folder);
	g_free(s->static_path);
	memset(s, 0, sizeof(*s));
}

/* Reading cardea.transport.websockets.jcfg.
 *
 * Option names follow janus.transport.websockets.jcfg so an admin can carry
 * a Janus config over; the few differences (admin listener on by default,
 * max_message_size, max_queued_bytes) are documented in the sample file.
 * Runs on the main thread during init only.
 */
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <glib/gstdio.h>
#include <libwebsockets.h>
#include <jansson.h>

#include "cardea/module.h"
#include "cardea/config.h"
#include "cardea/transport.h"
#include "ws-priv.h"

/* `enabled` is read by the core's module loader. */
static const char *const ws_general_keys[] = {
	"enabled", "json", "ws", "ws_port", "ws_ip", "ws_interface", "ws_acl",
	"wss", "wss_port", "wss_ip", "wss_interface",
	"max_message_size", "max_queued_bytes", "pingpong_trigger", "pingpong_timeout",
	"ws_logging", "requests_per_second", "requests_burst", "max_connections", "event_loop", NULL
};
static const char *const ws_admin_keys[] = {
	"admin_ws", "admin_ws_port", "admin_ws_ip", "admin_ws_interface", "admin_ws_acl",
	"admin_wss", "admin_wss_port", "admin_wss_ip", "admin_wss_interface", NULL
};
static const char *const ws_cert_keys[] = { "cert_pem", "cert_key", "cert_pwd", NULL };

const char *cardea_ws_listener_name(ws_listener_kind kind) {
	switch (kind) {
	case WS_LISTENER_WS: return "ws";
	case WS_LISTENER_WSS: return "wss";
	case WS_LISTENER_ADMIN_WS: return "admin_ws";
	case WS_LISTENER_ADMIN_WSS: return "admin_wss";
	default: return "?";
	}
}

/* ws_logging is either a number (an lws LLL_* bit mask) or, as Janus accepts,
 * a comma-separated list of level names ("err,warn"), "all" or "none". */
static bool ws_read_log_mask(const cardea_config *cfg, int *mask, GError **error) {
	static const struct { const char *name; int bits; } names[] = {
		{ "err", LLL_ERR }, { "warn", LLL_WARN }, { "notice", LLL_NOTICE },
		{ "info", LLL_INFO }, { "debug", LLL_DEBUG }, { "parser", LLL_PARSER },
		{ "header", LLL_HEADER }, { "ext", LLL_EXT }, { "client", LLL_CLIENT },
		{ "latency", LLL_LATENCY }, { "user", LLL_USER }, { "thread", LLL_THREAD },
		{ "all", (1 << LLL_COUNT) - 1 }, { "none", 0 },
	};
	char *text = NULL;
	if (!cardea_config_get_string(cfg, "general", "ws_logging", "0", &text, error))
		return false;
	bool ok = true;
	char *end = NULL;
	gint64 n = g_ascii_strtoll(text, &end, 0);
	if (end != text && *end == '\0') {
		if (n < 0 || n >= (1 << LLL_COUNT)) {
			cardea_config_set_value_error(error, cfg, "general", "ws_logging",
				"must be a mask between 0 and %d (got %s)", (1 << LLL_COUNT) - 1, text);
			ok = false;
		}
		*mask = (int)n;
		g_free(text);
		return ok;
	}
	*mask = 0;
	gchar **items = g_strsplit(text, ",", -1);
	for (gchar **it = items; ok && *it; it++) {
		char *item = g_strstrip(*it);
		if (!*item)
			continue;
		size_t i;
		for (i = 0; i < G_N_ELEMENTS(names); i++) {
			if (!g_ascii_strcasecmp(item, names[i].name)) {
				*mask |= names[i].bits;
				break;
			}
		}
		if (i == G_N_ELEMENTS(names)) {
			cardea_config_set_value_error(error, cfg, "general", "ws_logging",
				"unknown level \"%s\" (use err, warn, notice, info, debug, parser, header, "
				"ext, client, latency, user, thread, all, none or a number)", item);
			ok = false;
		}
	}
	g_strfreev(items);
	g_free(text);
	return ok;
}

static bool ws_is_bindable(const char *name) {
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1 ||
		if_nametoindex(name) != 0;
}

/* One listener: `<prefix>`, `<prefix>_port`, `<prefix>_ip` (or Janus's
 * `<prefix>_interface`) in `section`. */
static bool ws_read_listener(const cardea_config *cfg, const char *section, const char *prefix,
		gboolean def_enabled, int def_port, const char *def_ip, ws_listener_conf *out, GError **error) {
	gboolean enabled = FALSE;
	gint64 port = 0;
	char *ip = NULL, *iface = NULL;
	char key[64];

	if (!cardea_config_get_bool(cfg, section, prefix, def_enabled, &enabled, error))
		return false;
	g_snprintf(key, sizeof(key), "%s_port", prefix);
	if (!cardea_config_get_int(cfg, section, key, def_port, 1, 65535, &port, error))
		return false;
	g_snprintf(key, sizeof(key), "%s_ip", prefix);
	if (!cardea_config_get_string(cfg, section, key, NULL, &ip, error))
		return false;
	g_snprintf(key, sizeof(key), "%s_interface", prefix);
	if (!cardea_config_get_string(cfg, section, key, NULL, &iface, error)) {
		g_free(ip);
		return false;
	}
	out->enabled = enabled;
	out->port = (int)port;
	/* lws binds to every address when it cannot make sense of the name, so
	 * anything that is neither an address nor an interface is an error. */
	const char *given = (ip && *ip) ? ip : iface;
	if (enabled && given && *given && !ws_is_bindable(given)) {
		g_snprintf(key, sizeof(key), (ip && *ip) ? "%s_ip" : "%s_interface", prefix);
		cardea_config_set_value_error(error, cfg, section, key,
			"\"%s\" is neither an IP address nor a network interface", given);
		g_free(ip);
		g_free(iface);
		return false;
	}
	/* An address beats an interface name when both are given, as in Janus;
	 * lws accepts either form for binding. */
	if (ip && *ip) {
		out->ip = ip;
		g_free(iface);
	} else if (iface && *iface) {
		out->ip = iface;
		g_free(ip);
	} else {
		g_free(ip);
		g_free(iface);
		out->ip = def_ip ? g_strdup(def_ip) : NULL;
	}
	return true;
}

static bool ws_read_acl(const cardea_config *cfg, const char *section, const char *key,
		ws_listener_conf *a, ws_listener_conf *b, GError **error) {
	char **acl = NULL;
	if (!cardea_config_get_list(cfg, section, key, &acl, error))
		return false;
	a->acl = acl;
	b->acl = g_strdupv(acl);
	return true;
}

/* Listeners that share a port would make lws share one socket between them
 * and pick the vhost by Host header, which is never what an admin meant. */
static bool ws_check_ports(const cardea_config *cfg, const ws_settings *s, GError **error) {
	static const char *const section[WS_LISTENER_COUNT] = { "general", "general", "admin", "admin" };
	for (int i = 0; i < WS_LISTENER_COUNT; i++) {
		if (!s->listeners[i].enabled)
			continue;
		for (int j = i + 1; j < WS_LISTENER_COUNT; j++) {
			if (!s->listeners[j].enabled || s->listeners[j].port != s->listeners[i].port)
				continue;
			char key[64];
			g_snprintf(key, sizeof(key), "%s_port", cardea_ws_listener_name(j));
			cardea_config_set_value_error(error, cfg, section[j], key, "%d is already used by %s",
				s->listeners[j].port, cardea_ws_listener_name(i));
			return false;
		}
	}
	return true;
}

static bool ws_read_all(const cardea_config *cfg, ws_settings *s, GError **error) {
	gint64 n = 0;

	if (!cardea_transport_read_json_style(cfg, &s->json_flags, error))
		return false;

	ws_listener_conf *l = s->listeners;
	l[WS_LISTENER_ADMIN_WS].admin = l[WS_LISTENER_ADMIN_WSS].admin = true;
	l[WS_LISTENER_WSS].secure = l[WS_LISTENER_ADMIN_WSS].secure = true;
	if (!ws_read_listener(cfg, "general", "ws", TRUE, WS_DEFAULT_PORT, NULL, &l[WS_LISTENER_WS], error) ||
			!ws_read_listener(cfg, "general", "wss", FALSE, WS_DEFAULT_WSS_PORT, NULL,
				&l[WS_LISTENER_WSS], error) ||
			!ws_read_listener(cfg, "admin", "admin_ws", TRUE, WS_DEFAULT_ADMIN_PORT, "127.0.0.1",
				&l[WS_LISTENER_ADMIN_WS], error) ||
			!ws_read_listener(cfg, "admin", "admin_wss", FALSE, WS_DEFAULT_ADMIN_WSS_PORT, "127.0.0.1",
				&l[WS_LISTENER_ADMIN_WSS], error))
		return false;
	if (!ws_read_acl(cfg, "general", "ws_acl", &l[WS_LISTENER_WS], &l[WS_LISTENER_WSS], error) ||
			!ws_read_acl(cfg, "admin", "admin_ws_acl", &l[WS_LISTENER_ADMIN_WS],
				&l[WS_LISTENER_ADMIN_WSS], error))
		return false;
	if (!ws_check_ports(cfg, s, error))
		return false;

	if (!cardea_config_get_int(cfg, "general", "max_message_size", WS_DEFAULT_MAX_MESSAGE_SIZE,
			64, G_MAXINT32, &n, error))
		return false;
	s->max_message_size = (size_t)n;
	if (!cardea_config_get_int(cfg, "general", "max_queued_bytes", WS_DEFAULT_MAX_QUEUED_BYTES,
			1024, G_MAXINT32, &n, error))
		return false;
	s->max_queued_bytes = (size_t)n;
	/* lws keeps both in uint16 and needs trigger + timeout to fit. */
	if (!cardea_config_get_int(cfg, "general", "pingpong_trigger", WS_DEFAULT_PINGPONG_TRIGGER,
			0, 32767, &n, error))
		return false;
	s->pingpong_trigger = (int)n;
	if (!cardea_config_get_int(cfg, "general", "pingpong_timeout", WS_DEFAULT_PINGPONG_TIMEOUT,
			0, 32767, &n, error))
		return false;
	s->pingpong_timeout = (int)n;
	if (!ws_read_log_mask(cfg, &s->lws_log_mask, error))
		return false;
	/* Abuse resistance (docs/security.md): a per-connection token bucket
	 * (burst 0 = twice the rate) and a cap on open connections. */
	if (!cardea_config_get_int(cfg, "general", "requests_per_second", WS_DEFAULT_REQUESTS_PER_SECOND,
			0, 1000000, &n, error))
		return false;
	s->requests_per_second = (unsigned int)n;
	if (!cardea_config_get_int(cfg, "general", "requests_burst", 0, 0, 1000000, &n, error))
		return false;
	s->requests_burst = n > 0 ? (unsigned int)n : 2 * s->requests_per_second;
	if (!cardea_config_get_int(cfg, "general", "max_connections", 0, 0, 1000000, &n, error))
		return false;
	s->max_connections = (int)n;
	/* "epoll": lws runs on a libev epoll loop, so a wake-up costs the same
	 * with 5 connections or 5,000 (issue 8); "poll": lws's own loop, which
	 * poll()s every descriptor on each wake-up. */
	static const char *const loops[] = { "epoll", "poll", NULL };
	int loop = 0;
	if (!cardea_config_get_choice(cfg, "general", "event_loop", "epoll", loops, &loop, error))
		return false;
	s->epoll = loop == 0;

	if (!cardea_config_get_string(cfg, "certificates", "cert_pem", NULL, &s->cert_pem, error) ||
			!cardea_config_get_string(cfg, "certificates", "cert_key", NULL, &s->cert_key, error) ||
			!cardea_config_get_string(cfg, "certificates", "cert_pwd", NULL, &s->cert_pwd, error))
		return false;
	if ((l[WS_LISTENER_WSS].enabled || l[WS_LISTENER_ADMIN_WSS].enabled) &&
			(!s->cert_pem || !*s->cert_pem)) {
		bool pub = l[WS_LISTENER_WSS].enabled;
		cardea_config_set_value_error(error, cfg, pub ? "general" : "admin", pub ? "wss" : "admin_wss",
			"needs certificates.cert_pem (and cert_key)");
		return false;
	}
	if (l[WS_LISTENER_WSS].enabled || l[WS_LISTENER_ADMIN_WSS].enabled) {
		/* lws only says "vhost creation failed"; name the file instead. */
		const char *keys[] = { "cert_pem", "cert_key" };
		const char *files[] = { s->cert_pem, s->cert_key };
		for (int i = 0; i < 2; i++) {
			if (files[i] && *files[i] && g_access(files[i], R_OK) != 0) {
				cardea_config_set_value_error(error, cfg, "certificates", keys[i], "cannot read %s", files[i]);
				return false;
			}
		}
	}
	return true;
}

static void ws_warn_unknown_sections(const cardea_config *cfg) {
	gchar **sections = cardea_config_list_sections(cfg);
	for (gchar **s = sections; s && *s; s++) {
		if (!strcmp(*s, "general"))
			cardea_config_warn_unknown(cfg, *s, ws_general_keys);
		else if (!strcmp(*s, "admin"))
			cardea_config_warn_unknown(cfg, *s, ws_admin_keys);
		else if (!strcmp(*s, "certificates"))
			cardea_config_warn_unknown(cfg, *s, ws_cert_keys);
		else
			CARDEA_LOG(CARDEA_LOG_WARN, "%s:%d: [ws] unknown section %s (ignored)\n",
				cardea_config_path(cfg), cardea_config_line(cfg, *s, NULL), *s);
	}
	g_strfreev(sections);
}

bool cardea_ws_settings_load(const char *path, ws_settings *out, GError **error) {
	memset(out, 0, sizeof(*out));
	cardea_config *cfg;
	if (path && g_file_test(path, G_FILE_TEST_EXISTS)) {
		cfg = cardea_config_load(path, error);
	} else {
		CARDEA_LOG(CARDEA_LOG_INFO, "[ws] %s not found, using defaults\n", path ? path : "config");
		cfg = cardea_config_load_string(path ? path : "websockets", "", error);
	}
	if (!cfg)
		return false;
	ws_warn_unknown_sections(cfg);
	bool ok = ws_read_all(cfg, out, error);
	cardea_config_free(cfg);
	return ok;
}

void cardea_ws_settings_clear(ws_settings *s) {
	for (int i = 0; i < WS_LISTENER_COUNT; i++) {
		g_free(s->listeners[i].ip);
		g_strfreev(s->listeners[i].acl);
	}
	g_free(s->cert_pem);
	g_free(s->cert_key);
	g_free(s->cert_pwd);
	memset(s, 0, sizeof(*s));
}

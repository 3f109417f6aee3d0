/* cardea.jcfg -> cardea_settings (see settings.h).
 *
 * Plain options are described once in `options` below: the table drives
 * reading, range checks and the list of known keys used for the unknown-key
 * warnings, so a new option cannot be read without also being "known".
 * Options with their own syntax (rtp_port_range, turn_type, the disable
 * lists, the certificate pair) are marked OPT_SPECIAL and read by hand.
 *
 * Threads: runs on the main thread at start-up only.
 */
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "cardea/config.h"
#include "cardea/module.h"
#include "settings.h"

typedef enum {
	OPT_STRING,     /* optional; an empty string means unset (NULL) */
	OPT_NONEMPTY,   /* an empty string is an error (folders, secrets, names) */
	OPT_INT,        /* gint within [min, max] */
	OPT_BOOL,
	OPT_SPECIAL,    /* known key, read by its own code below */
} opt_kind;

typedef struct {
	const char *section;
	const char *key;
	opt_kind kind;
	size_t offset;        /* into cardea_settings; unused for OPT_SPECIAL */
	gint64 min, max;      /* OPT_INT only */
} opt_desc;

#define STR(sec, k, f) { sec, k, OPT_STRING, offsetof(cardea_settings, f), 0, 0 }
#define NONEMPTY(sec, k, f) { sec, k, OPT_NONEMPTY, offsetof(cardea_settings, f), 0, 0 }
#define INT(sec, k, f, lo, hi) { sec, k, OPT_INT, offsetof(cardea_settings, f), lo, hi }
#define BOOL(sec, k, f) { sec, k, OPT_BOOL, offsetof(cardea_settings, f), 0, 0 }
#define SPECIAL(sec, k) { sec, k, OPT_SPECIAL, 0, 0, 0 }

static const opt_desc options[] = {
	NONEMPTY("general", "configs_folder", configs_folder),
	NONEMPTY("general", "plugins_folder", plugins_folder),
	NONEMPTY("general", "transports_folder", transports_folder),
	NONEMPTY("general", "auth_folder", auth_folder),
	NONEMPTY("general", "events_folder", events_folder),
	NONEMPTY("general", "html_folder", html_folder),
	NONEMPTY("general", "server_name", server_name),
	/* An empty secret is refused rather than read as "no secret": an admin
	 * who writes admin_secret = "" most likely did not mean an open API. */
	NONEMPTY("general", "api_secret", api_secret),
	NONEMPTY("general", "admin_secret", admin_secret),
	BOOL("general", "token_auth", token_auth),
	NONEMPTY("general", "token_auth_secret", token_auth_secret),
	INT("general", "session_timeout", session_timeout, 0, 86400),
	INT("general", "reclaim_session_timeout", reclaim_session_timeout, 0, 86400),
	INT("general", "candidates_timeout", candidates_timeout, 1, 600),
	INT("general", "debug_level", debug_level, CARDEA_LOG_NONE, CARDEA_LOG_DBG),
	BOOL("general", "opaqueid_in_api", opaqueid_in_api),
	BOOL("general", "hide_dependencies", hide_dependencies),
	INT("general", "request_workers", request_workers, 1, 256),
	INT("general", "max_sessions", max_sessions, 0, 10000000),
	INT("general", "max_handles_per_session", max_handles_per_session, 0, 100000),

	SPECIAL("certificates", "cert_pem"),
	SPECIAL("certificates", "cert_key"),
	STR("certificates", "cert_pwd", cert_pwd),

	BOOL("media", "ipv6", ipv6),
	SPECIAL("media", "rtp_port_range"),
	INT("media", "dtls_mtu", dtls_mtu, 256, 9000),
	INT("media", "no_media_timer", no_media_timer, 0, 3600),
	INT("media", "slowlink_threshold", slowlink_threshold, 0, 100000),
	INT("media", "twcc_period", twcc_period, 1, 10000),
	INT("media", "min_nack_queue", min_nack_queue, 0, 10000),
	INT("media", "event_loops", event_loops, 0, 64),
	INT("media", "max_peerconnections", max_peerconnections, 0, 10000000),
	/* 16 is what a PeerConnection can hold (PC_MAX_MLINES): only lower caps make sense. */
	INT("media", "max_mlines", max_mlines, 1, 16),

	STR("nat", "stun_server", stun_server),
	INT("nat", "stun_port", stun_port, 1, 65535),
	BOOL("nat", "full_trickle", full_trickle),
	BOOL("nat", "ice_lite", ice_lite),
	BOOL("nat", "ice_tcp", ice_tcp),
	STR("nat", "nat_1_1_mapping", nat_1_1_mapping),
	STR("nat", "ice_enforce_list", ice_enforce_list),
	STR("nat", "ice_ignore_list", ice_ignore_list),
	STR("nat", "turn_server", turn_server),
	INT("nat", "turn_port", turn_port, 1, 65535),
	SPECIAL("nat", "turn_type"),
	STR("nat", "turn_user", turn_user),
	STR("nat", "turn_pwd", turn_pwd),

	SPECIAL("plugins", "disable"),
	SPECIAL("transports", "disable"),
	SPECIAL("auth", "disable"),
	SPECIAL("events", "disable"),
};

static const char *const sections[] = {
	"general", "certificates", "media", "nat", "plugins", "transports", "auth", "events", NULL,
};

void cardea_settings_defaults(cardea_settings *s, const char *configs_folder, const char *libdir_cardea,
		const char *html_folder) {
	g_return_if_fail(s != NULL && configs_folder != NULL && libdir_cardea != NULL && html_folder != NULL);
	memset(s, 0, sizeof(*s));
	s->configs_folder = g_strdup(configs_folder);
	s->plugins_folder = g_build_filename(libdir_cardea, "plugins", NULL);
	s->transports_folder = g_build_filename(libdir_cardea, "transports", NULL);
	s->auth_folder = g_build_filename(libdir_cardea, "auth", NULL);
	s->events_folder = g_build_filename(libdir_cardea, "events", NULL);
	s->html_folder = g_strdup(html_folder);
	s->server_name = g_strdup("Cardea");
	s->session_timeout = 60;
	s->reclaim_session_timeout = 0;
	s->candidates_timeout = 45;
	s->debug_level = CARDEA_LOG_INFO;
	s->request_workers = 8;
	s->dtls_mtu = 1200;
	s->no_media_timer = 1;
	s->slowlink_threshold = 0;
	s->twcc_period = 200;
	s->min_nack_queue = 200;
	s->event_loops = 0;
	s->max_peerconnections = 0;
	s->max_mlines = 16;
	s->stun_port = 3478;
	s->turn_port = 3478;
	s->turn_type = g_strdup("udp");
	s->plugins_disable = g_new0(char *, 1);
	s->transports_disable = g_new0(char *, 1);
	s->auth_disable = g_new0(char *, 1);
	s->events_disable = g_new0(char *, 1);
}

void cardea_settings_clear(cardea_settings *s) {
	if (s == NULL)
		return;
	char **strings[] = {
		&s->configs_folder, &s->plugins_folder, &s->transports_folder, &s->auth_folder,
		&s->events_folder, &s->html_folder, &s->server_name, &s->api_secret, &s->admin_secret,
		&s->token_auth_secret, &s->cert_pem, &s->cert_key, &s->cert_pwd, &s->stun_server,
		&s->nat_1_1_mapping, &s->ice_enforce_list, &s->ice_ignore_list, &s->turn_server,
		&s->turn_type, &s->turn_user, &s->turn_pwd,
	};
	for (size_t i = 0; i < G_N_ELEMENTS(strings); i++)
		g_free(*strings[i]);
	g_strfreev(s->plugins_disable);
	g_strfreev(s->transports_disable);
	g_strfreev(s->auth_disable);
	g_strfreev(s->events_disable);
	memset(s, 0, sizeof(*s));
}

/* Replaces the owned string at *field only when the key is present, so the
 * default survives an absent key and nothing leaks on error. (On error the
 * settings hold a mix of defaults and file values, all owned: the caller
 * clears them and refuses to start.) */
static gboolean read_string(const cardea_config *cfg, const opt_desc *o, char **field, GError **error) {
	char *v = NULL;
	if (!cardea_config_get_string(cfg, o->section, o->key, NULL, &v, error))
		return FALSE;
	if (v == NULL)
		return TRUE;
	if (*v == '\0' && o->kind == OPT_NONEMPTY) {
		cardea_config_set_value_error(error, cfg, o->section, o->key,
			"must not be empty (comment the line out to use the default)");
		g_free(v);
		return FALSE;
	}
	if (*v == '\0') {
		g_free(v);
		v = NULL;
	}
	g_free(*field);
	*field = v;
	return TRUE;
}

static gboolean read_option(const cardea_config *cfg, const opt_desc *o, cardea_settings *s, GError **error) {
	void *field = (char *)s + o->offset;
	switch (o->kind) {
	case OPT_STRING:
	case OPT_NONEMPTY:
		return read_string(cfg, o, field, error);
	case OPT_INT: {
		gint64 v = 0;
		if (!cardea_config_get_int(cfg, o->section, o->key, *(gint *)field, o->min, o->max, &v, error))
			return FALSE;
		*(gint *)field = (gint)v;
		return TRUE;
	}
	case OPT_BOOL:
		return cardea_config_get_bool(cfg, o->section, o->key, *(gboolean *)field, field, error);
	case OPT_SPECIAL:
		return TRUE;
	}
	return TRUE;
}

/* Parses one port of "min-max": decimal digits only, 0..65535. */
static gboolean parse_port(const char *text, gint *port) {
	char *t = g_strstrip(g_strdup(text));
	guint64 v = 0;
	gboolean ok = (*t != '\0' && g_ascii_string_to_unsigned(t, 10, 0, 65535, &v, NULL));
	g_free(t);
	*port = (gint)v;
	return ok;
}

/* "min-max", as Janus reads it: reversed bounds are swapped first, then a
 * max of 0 means 65535 ("0-0" = any port). */
static gboolean read_rtp_port_range(const cardea_config *cfg, cardea_settings *s, GError **error) {
	char *v = NULL;
	if (!cardea_config_get_string(cfg, "media", "rtp_port_range", NULL, &v, error))
		return FALSE;
	if (v == NULL)
		return TRUE;
	char **parts = g_strsplit(v, "-", -1);
	gint lo = 0, hi = 0;
	gboolean ok = g_strv_length(parts) == 2 && parse_port(parts[0], &lo) && parse_port(parts[1], &hi);
	if (!ok) {
		char *esc = g_strescape(v, NULL);
		cardea_config_set_value_error(error, cfg, "media", "rtp_port_range",
			"must be \"min-max\" with ports from 0 to 65535 (got \"%.48s\")", esc);
		g_free(esc);
	} else {
		if (lo > hi) {
			gint t = lo;
			lo = hi;
			hi = t;
		}
		if (hi == 0)
			hi = 65535;
		s->rtp_port_min = lo;
		s->rtp_port_max = hi;
	}
	g_strfreev(parts);
	g_free(v);
	return ok;
}

static gboolean read_turn_type(const cardea_config *cfg, cardea_settings *s, GError **error) {
	static const char *const allowed[] = { "udp", "tcp", "tls", NULL };
	int i = 0;
	if (!cardea_config_get_choice(cfg, "nat", "turn_type", "udp", allowed, &i, error))
		return FALSE;
	g_free(s->turn_type);
	s->turn_type = g_strdup(allowed[i]);
	return TRUE;
}

/* libnice takes STUN/TURN servers as numeric addresses only. A host name is
 * resolved once here, at start-up, so a typo or a DNS failure stops the
 * daemon with the file and line instead of a gateway that silently gathers
 * no srflx/relay candidates. IPv4 is preferred (what TURN deployments use). */
static gboolean resolve_server(const cardea_config *cfg, const char *key, char **field, GError **error) {
	if (*field == NULL || g_hostname_is_ip_address(*field))
		return TRUE;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
	int rc = getaddrinfo(*field, NULL, &hints, &res);
	if (rc != 0 || res == NULL) {
		cardea_config_set_value_error(error, cfg, "nat", key, "cannot resolve \"%.64s\": %s",
			*field, rc ? gai_strerror(rc) : "no address");
		return FALSE;
	}
	const struct addrinfo *pick = res;
	for (const struct addrinfo *a = res; a; a = a->ai_next) {
		if (a->ai_family == AF_INET) {
			pick = a;
			break;
		}
	}
	char host[NI_MAXHOST];
	rc = getnameinfo(pick->ai_addr, pick->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (rc != 0) {
		cardea_config_set_value_error(error, cfg, "nat", key, "cannot resolve \"%.64s\": %s", *field, gai_strerror(rc));
		return FALSE;
	}
	g_free(*field);
	*field = g_strdup(host);
	return TRUE;
}

/* A certificate without its key (or the reverse) cannot work; refusing it
 * beats silently falling back to a generated certificate. */
static gboolean read_certificates(const cardea_config *cfg, cardea_settings *s, GError **error) {
	static const opt_desc pem = STR("certificates", "cert_pem", cert_pem);
	static const opt_desc key = STR("certificates", "cert_key", cert_key);
	if (!read_string(cfg, &pem, &s->cert_pem, error) || !read_string(cfg, &key, &s->cert_key, error))
		return FALSE;
	if (s->cert_pem && !s->cert_key) {
		cardea_config_set_value_error(error, cfg, "certificates", "cert_pem", "is set but certificates.cert_key is not");
		return FALSE;
	}
	if (s->cert_key && !s->cert_pem) {
		cardea_config_set_value_error(error, cfg, "certificates", "cert_key", "is set but certificates.cert_pem is not");
		return FALSE;
	}
	return TRUE;
}

static gboolean read_disable(const cardea_config *cfg, const char *section, char ***field, GError **error) {
	char **list = NULL;
	if (!cardea_config_get_list(cfg, section, "disable", &list, error))
		return FALSE;
	g_strfreev(*field);
	*field = list;
	return TRUE;
}

/* Logs every unknown section and key; never fatal. */
static void warn_unknown(const cardea_config *cfg) {
	/* A top-level scalar named like a section is not "unknown": reading
	 * that section reports it as an error. */
	cardea_config_warn_unknown(cfg, NULL, sections);
	gchar **found = cardea_config_list_sections(cfg);
	for (gchar **sec = found; *sec; sec++) {
		if (!g_strv_contains(sections, *sec)) {
			CARDEA_LOG(CARDEA_LOG_WARN, "[config] %s:%d: unknown section %s (ignored)",
				cardea_config_path(cfg), cardea_config_line(cfg, *sec, NULL), *sec);
			continue;
		}
		GPtrArray *known = g_ptr_array_new();
		for (size_t i = 0; i < G_N_ELEMENTS(options); i++) {
			if (strcmp(options[i].section, *sec) == 0)
				g_ptr_array_add(known, (gpointer)options[i].key);
		}
		g_ptr_array_add(known, NULL);
		cardea_config_warn_unknown(cfg, *sec, (const char *const *)known->pdata);
		g_ptr_array_free(known, TRUE);
	}
	g_strfreev(found);
}

gboolean cardea_settings_load(cardea_settings *s, const char *path, gboolean must_exist, GError **error) {
	g_return_val_if_fail(s != NULL && path != NULL, FALSE);
	struct stat st;
	if (!must_exist && stat(path, &st) < 0 && errno == ENOENT)
		return TRUE;
	cardea_config *cfg = cardea_config_load(path, error);
	if (cfg == NULL)
		return FALSE;
	/* Warnings first: a typo'd key is often the cause of the error below. */
	warn_unknown(cfg);
	gboolean ok = TRUE;
	for (size_t i = 0; ok && i < G_N_ELEMENTS(options); i++)
		ok = read_option(cfg, &options[i], s, error);
	ok = ok && read_certificates(cfg, s, error);
	ok = ok && read_rtp_port_range(cfg, s, error);
	ok = ok && read_turn_type(cfg, s, error);
	ok = ok && resolve_server(cfg, "stun_server", &s->stun_server, error);
	ok = ok && resolve_server(cfg, "turn_server", &s->turn_server, error);
	ok = ok && read_disable(cfg, "plugins", &s->plugins_disable, error);
	ok = ok && read_disable(cfg, "transports", &s->transports_disable, error);
	ok = ok && read_disable(cfg, "auth", &s->auth_disable, error);
	ok = ok && read_disable(cfg, "events", &s->events_disable, error);
	cardea_config_free(cfg);
	return ok;
}

/* The daemon's own settings, read from cardea.jcfg (plus CLI overrides).
 *
 * cardea_settings_load() validates every known option and fails with a
 * single "FILE:LINE: what is wrong" message; unknown keys are warned about
 * (never silently ignored). The struct is filled once on the main thread at
 * start-up and is read-only afterwards, except the few fields the Admin API
 * may change at run time (marked "admin-mutable"), which are read and
 * written with g_atomic_*.
 */
#ifndef CARDEA_SETTINGS_H
#define CARDEA_SETTINGS_H

#include <glib.h>

typedef struct cardea_settings {
	/* general */
	char *configs_folder;        /* owned */
	char *plugins_folder;        /* owned */
	char *transports_folder;     /* owned */
	char *auth_folder;           /* owned */
	char *events_folder;         /* owned */
	char *html_folder;           /* owned; demo pages for the HTTP transport's static serving */
	char *server_name;           /* owned; default "Cardea" */
	char *api_secret;            /* owned, NULL = none */
	char *admin_secret;          /* owned, NULL = none */
	gboolean token_auth;
	char *token_auth_secret;     /* owned, NULL = stored tokens (Admin add_token) */
	gint session_timeout;        /* admin-mutable; seconds, default 60, 0 = never */
	gint reclaim_session_timeout;/* seconds, default 0 = destroy at transport loss */
	gint candidates_timeout;     /* seconds, default 45 */
	gint debug_level;            /* admin-mutable; 0..7, default 4 */
	gboolean opaqueid_in_api;    /* default FALSE */
	gboolean hide_dependencies;  /* default FALSE */
	gint request_workers;        /* threads running plugin requests, default 8 (1..256) */
	gint max_sessions;           /* 0 = unlimited (default) */
	gint max_handles_per_session;/* 0 = unlimited (default) */
	/* certificates */
	char *cert_pem;              /* owned, NULL = generate at start-up */
	char *cert_key;              /* owned */
	char *cert_pwd;              /* owned */
	/* media */
	gboolean ipv6;
	gint rtp_port_min;           /* 0 = any */
	gint rtp_port_max;           /* 0 = any; "min-max" string, swapped if reversed, max 0 => 65535 */
	gint dtls_mtu;               /* default 1200 */
	gint no_media_timer;         /* default 1 */
	gint slowlink_threshold;     /* default 0 */
	gint twcc_period;            /* default 200 ms */
	gint min_nack_queue;         /* default 200 ms */
	gint event_loops;            /* media.event_loops; 0 = one per CPU we may run on */
	gint max_peerconnections;    /* media.max_peerconnections: live PCs core-wide, 0 = unlimited (default) */
	gint max_mlines;             /* media.max_mlines: m-lines in a client SDP, 1..16, default 16 */
	/* nat */
	char *stun_server;           /* owned */
	gint stun_port;              /* default 3478 */
	gboolean full_trickle;
	gboolean ice_lite;
	gboolean ice_tcp;
	char *nat_1_1_mapping;       /* owned */
	char *ice_enforce_list;      /* owned */
	char *ice_ignore_list;       /* owned */
	char *turn_server;           /* owned */
	gint turn_port;              /* default 3478 */
	char *turn_type;             /* owned; udp|tcp|tls */
	char *turn_user;             /* owned */
	char *turn_pwd;              /* owned */
	/* plugins / transports / auth / events: .so file names to skip */
	char **plugins_disable;      /* owned, NULL-terminated (never NULL) */
	char **transports_disable;
	char **auth_disable;
	char **events_disable;
} cardea_settings;

/* Fills `s` with built-in defaults. Folder defaults are the installed paths
 * given by the caller (compile-time constants in main.c). */
void cardea_settings_defaults(cardea_settings *s, const char *configs_folder, const char *libdir_cardea,
	const char *html_folder);
/* Reads `path` over the defaults. FALSE + *error ("FILE:LINE: ...") when bad.
 * A missing file is an error only when `must_exist`. */
gboolean cardea_settings_load(cardea_settings *s, const char *path, gboolean must_exist, GError **error);
void cardea_settings_clear(cardea_settings *s);

#endif

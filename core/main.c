/* The cardea daemon: command line, configuration, module start-up in
 * dependency order, and a clean shutdown on SIGINT/SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/resource.h>
#include <glib-unix.h>
#include "config.h"
#include "gateway.h"
#include "api.h"
#include "session.h"
#include "tokens.h"
#include "log.h"
#include "webrtc/loop.h"
#include "webrtc/dtls.h"
#include "webrtc/srtp.h"
#include "webrtc/sctp.h"

static gchar *opt_config;
static gchar *opt_configs_folder;
static gchar *opt_plugins_folder;
static gchar *opt_transports_folder;
static gchar *opt_auth_folder;
static gchar *opt_events_folder;
static gint opt_debug_level = -1;
static gboolean opt_version;

static GOptionEntry options[] = {
	{ "config", 'C', 0, G_OPTION_ARG_FILENAME, &opt_config, "Configuration file (default: <configs-folder>/cardea.jcfg)", "FILE" },
	{ "configs-folder", 'F', 0, G_OPTION_ARG_FILENAME, &opt_configs_folder, "Folder of the module configuration files (default: " CARDEA_DEFAULT_CONFDIR ")", "DIR" },
	{ "plugins-folder", 'P', 0, G_OPTION_ARG_FILENAME, &opt_plugins_folder, "Plugins folder (default: " CARDEA_DEFAULT_LIBDIR "/plugins)", "DIR" },
	{ "transports-folder", 'T', 0, G_OPTION_ARG_FILENAME, &opt_transports_folder, "Transports folder (default: " CARDEA_DEFAULT_LIBDIR "/transports)", "DIR" },
	{ "auth-folder", 0, 0, G_OPTION_ARG_FILENAME, &opt_auth_folder, "Auth modules folder (default: " CARDEA_DEFAULT_LIBDIR "/auth)", "DIR" },
	{ "events-folder", 0, 0, G_OPTION_ARG_FILENAME, &opt_events_folder, "Events modules folder (default: " CARDEA_DEFAULT_LIBDIR "/events)", "DIR" },
	{ "debug-level", 'd', 0, G_OPTION_ARG_INT, &opt_debug_level, "Log level, 0 (nothing) to 7 (everything); default 4", "N" },
	{ "version", 'V', 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
	{ NULL }
};

static gboolean on_signal(gpointer loop) {
	CARDEA_LOG(CARDEA_LOG_INFO, "[main] stopping (signal received)");
	g_main_loop_quit(loop);
	return G_SOURCE_CONTINUE;
}

static void replace(char **field, const char *value) {
	if (value) {
		g_free(*field);
		*field = g_strdup(value);
	}
}

/* Every WebSocket and HTTP connection and every PeerConnection socket is a
 * file descriptor, and libwebsockets sizes its tables from the limit when
 * its context is created: raise the soft limit to the hard one (the
 * ceiling the admin set) before any module loads, and say what we got. */
static void raise_fd_limit(void) {
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[main] cannot read the file descriptor limit");
		return;
	}
	rlim_t was = rl.rlim_cur;
	/* Linux refuses an infinite descriptor limit; 2^20 is its default ceiling (fs.nr_open). */
	rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			CARDEA_LOG(CARDEA_LOG_WARN, "[main] cannot raise the file descriptor limit from %llu to %llu",
				(unsigned long long)was, (unsigned long long)want);
			return;
		}
	}
	CARDEA_LOG(CARDEA_LOG_INFO, "[main] file descriptor limit %llu (soft limit was %llu)",
		(unsigned long long)rl.rlim_cur, (unsigned long long)was);
}

/* Loads settings: defaults, then the config file, then the command line. */
static gboolean load_settings(cardea_settings *s, GError **error) {
	const char *configs = opt_configs_folder ? opt_configs_folder : CARDEA_DEFAULT_CONFDIR;
	cardea_settings_defaults(s, configs, CARDEA_DEFAULT_LIBDIR, CARDEA_DEFAULT_HTMLDIR);
	char *path = opt_config ? g_strdup(opt_config) : g_build_filename(configs, "cardea.jcfg", NULL);
	gboolean ok = cardea_settings_load(s, path, opt_config != NULL, error);
	if (ok && !g_file_test(path, G_FILE_TEST_EXISTS))
		CARDEA_LOG(CARDEA_LOG_WARN, "[main] %s not found, using built-in defaults", path);
	g_free(path);
	if (!ok)
		return FALSE;
	replace(&s->configs_folder, opt_configs_folder);
	replace(&s->plugins_folder, opt_plugins_folder);
	replace(&s->transports_folder, opt_transports_folder);
	replace(&s->auth_folder, opt_auth_folder);
	replace(&s->events_folder, opt_events_folder);
	if (opt_debug_level >= 0)
		s->debug_level = opt_debug_level;
	return TRUE;
}

/* Events and auth first (others may emit to them), then plugins, and
 * transports last so no request arrives before the plugins are ready. */
static gboolean load_modules(cardea_gateway *gw, GError **error) {
	cardea_settings *s = &gw->settings;
	return cardea_modules_load(CARDEA_MODULE_EVENTS, s->events_folder, s->events_disable, &gw->events_core,
			s->configs_folder, gw->events, error) &&
		cardea_modules_load(CARDEA_MODULE_AUTH, s->auth_folder, s->auth_disable, &gw->auth_core,
			s->configs_folder, gw->auth, error) &&
		cardea_modules_load(CARDEA_MODULE_PLUGIN, s->plugins_folder, s->plugins_disable, &gw->plugin_core,
			s->configs_folder, gw->plugins, error) &&
		cardea_modules_load(CARDEA_MODULE_TRANSPORT, s->transports_folder, s->transports_disable, &gw->transport_core,
			s->configs_folder, gw->transports, error);
}

static void shutdown_gateway(cardea_gateway *gw) {
	/* Sessions first, while transports can still tell clients. */
	cardea_api_stop();
	GPtrArray *const modules[] = { gw->transports, gw->plugins, gw->auth, gw->events };
	for (guint i = 0; i < G_N_ELEMENTS(modules); i++)
		cardea_modules_destroy(modules[i]);
	cardea_sessions_deinit();
	/* Media after every PeerConnection is gone (sessions destroyed above). */
	cardea_loops_stop();
	/* Module code is unmapped only now: a plugin's queue thread may drop the
	 * last ref of a session, whose transport connection is freed by the
	 * transport's code (a SIGSEGV at exit when transports were closed first). */
	for (guint i = 0; i < G_N_ELEMENTS(modules); i++)
		cardea_modules_unload(modules[i]);
	cardea_sctp_global_deinit();
	cardea_dtls_context_deinit();
	cardea_srtp_global_deinit();
	cardea_tokens_deinit();
	g_ptr_array_free(gw->transports, TRUE);
	g_ptr_array_free(gw->plugins, TRUE);
	g_ptr_array_free(gw->auth, TRUE);
	g_ptr_array_free(gw->events, TRUE);
	cardea_settings_clear(&gw->settings);
}

int main(int argc, char *argv[]) {
	GError *error = NULL;
	GOptionContext *ctx = g_option_context_new("- Cardea WebRTC gateway");
	g_option_context_add_main_entries(ctx, options, NULL);
	g_option_context_set_summary(ctx, "Speaks the Janus API v1; modules are loaded from the plugins, transports, auth and events folders.");
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		fprintf(stderr, "cardea: %s (see --help)\n", error->message);
		g_error_free(error);
		g_option_context_free(ctx);
		return 1;
	}
	g_option_context_free(ctx);
	if (opt_version) {
		printf("cardea %s (Cardea API %d, %s)\n", CARDEA_VERSION_STRING, CARDEA_API_VERSION, CARDEA_BUILD_SIGNATURE);
		return 0;
	}
	if (opt_debug_level > CARDEA_LOG_DBG) {
		fprintf(stderr, "cardea: --debug-level must be between 0 and 7\n");
		return 1;
	}
	/* A peer closing a socket must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);

	cardea_gateway gw = { 0 };
	cardea_gw = &gw;
	if (!load_settings(&gw.settings, &error)) {
		fprintf(stderr, "%s\n", error->message);
		g_error_free(error);
		cardea_settings_clear(&gw.settings);
		return 1;
	}
	cardea_log_set_level(gw.settings.debug_level);
	CARDEA_LOG(CARDEA_LOG_INFO, "[main] Cardea %s starting (configs in %s)", CARDEA_VERSION_STRING, gw.settings.configs_folder);
	if (gw.settings.admin_secret == NULL)
		CARDEA_LOG(CARDEA_LOG_WARN, "[main] no admin_secret set: the Admin API is open to whoever reaches its listeners");
	raise_fd_limit();

	/* Signals are caught from here on, before any thread or module starts: a
	 * SIGTERM that arrives while modules load is kept and handled as soon as
	 * the main loop runs (a clean stop), instead of killing a half-started
	 * daemon with the default action. */
	GMainLoop *loop = g_main_loop_new(NULL, FALSE);
	guint sigint = g_unix_signal_add(SIGINT, on_signal, loop);
	guint sigterm = g_unix_signal_add(SIGTERM, on_signal, loop);

	cardea_gateway_init(&gw);
	/* The media stack exists before any plugin can negotiate. */
	cardea_loops_start(gw.settings.event_loops);
	if (!cardea_srtp_global_init(&error) || !cardea_dtls_context_init(gw.settings.cert_pem,
			gw.settings.cert_key, gw.settings.cert_pwd, &error) || !cardea_sctp_global_init(&error)) {
		CARDEA_LOG(CARDEA_LOG_FATAL, "[main] not starting: DTLS/SRTP/SCTP: %s", error->message);
		g_error_free(error);
		shutdown_gateway(&gw);
		g_source_remove(sigint);
		g_source_remove(sigterm);
		g_main_loop_unref(loop);
		return 1;
	}
	cardea_api_start();

	if (!load_modules(&gw, &error)) {
		CARDEA_LOG(CARDEA_LOG_INFO, "[main] not starting: %s", error->message);
		g_error_free(error);
		shutdown_gateway(&gw);
		g_source_remove(sigint);
		g_source_remove(sigterm);
		g_main_loop_unref(loop);
		return 1;
	}
	if (gw.transports->len == 0)
		CARDEA_LOG(CARDEA_LOG_WARN, "[main] no transport loaded: nobody can reach this gateway");

	CARDEA_LOG(CARDEA_LOG_INFO, "[main] ready: %u plugin(s), %u transport(s), %u auth, %u events module(s)",
		gw.plugins->len, gw.transports->len, gw.auth->len, gw.events->len);
	g_main_loop_run(loop);

	g_source_remove(sigint);
	g_source_remove(sigterm);
	g_main_loop_unref(loop);
	shutdown_gateway(&gw);
	CARDEA_LOG(CARDEA_LOG_INFO, "[main] bye");
	cardea_gw = NULL;
	return 0;
}

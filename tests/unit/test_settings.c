/* Unit tests for core/settings.c: defaults, a full file, every validation
 * error (with its FILE:LINE), the shipped sample, missing files. */
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "cardea/config.h"
#include "cardea/module.h"
#include "settings.h"

static char *tmpdir;

static void defaults(cardea_settings *s) {
	cardea_settings_defaults(s, "/etc/cardea", "/usr/lib/cardea", "/usr/share/cardea/html");
}

/* Writes `text` to a fresh file in the test folder and returns its path. */
static char *write_config(const char *text) {
	static int n;
	char *name = g_strdup_printf("t%d.jcfg", ++n);
	char *path = g_build_filename(tmpdir, name, NULL);
	g_free(name);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

static void assert_strv(char **list, const char *const *expect) {
	g_assert_nonnull(list);
	g_assert_cmpuint(g_strv_length(list), ==, g_strv_length((char **)expect));
	for (guint i = 0; expect[i]; i++)
		g_assert_cmpstr(list[i], ==, expect[i]);
}

/* Runs fn(data) with stdout (the WARN log) captured. */
static char *capture_stdout(void (*fn)(gpointer), gpointer data) {
	char *path = NULL;
	int fd = g_file_open_tmp("cardea-test-log-XXXXXX", &path, NULL);
	g_assert_cmpint(fd, >=, 0);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	fn(data);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_remove(path);
	g_free(path);
	return text;
}

static void assert_defaults(const cardea_settings *s) {
	g_assert_cmpstr(s->configs_folder, ==, "/etc/cardea");
	g_assert_cmpstr(s->plugins_folder, ==, "/usr/lib/cardea/plugins");
	g_assert_cmpstr(s->transports_folder, ==, "/usr/lib/cardea/transports");
	g_assert_cmpstr(s->auth_folder, ==, "/usr/lib/cardea/auth");
	g_assert_cmpstr(s->events_folder, ==, "/usr/lib/cardea/events");
	g_assert_cmpstr(s->html_folder, ==, "/usr/share/cardea/html");
	g_assert_cmpstr(s->server_name, ==, "Cardea");
	g_assert_null(s->api_secret);
	g_assert_null(s->admin_secret);
	g_assert_false(s->token_auth);
	g_assert_null(s->token_auth_secret);
	g_assert_cmpint(s->session_timeout, ==, 60);
	g_assert_cmpint(s->reclaim_session_timeout, ==, 0);
	g_assert_cmpint(s->candidates_timeout, ==, 45);
	g_assert_cmpint(s->debug_level, ==, 4);
	g_assert_false(s->opaqueid_in_api);
	g_assert_false(s->hide_dependencies);
	g_assert_cmpint(s->request_workers, ==, 8);
	g_assert_cmpint(s->max_sessions, ==, 0);
	g_assert_cmpint(s->max_handles_per_session, ==, 0);
	g_assert_null(s->cert_pem);
	g_assert_null(s->cert_key);
	g_assert_null(s->cert_pwd);
	g_assert_false(s->ipv6);
	g_assert_cmpint(s->rtp_port_min, ==, 0);
	g_assert_cmpint(s->rtp_port_max, ==, 0);
	g_assert_cmpint(s->dtls_mtu, ==, 1200);
	g_assert_cmpint(s->no_media_timer, ==, 1);
	g_assert_cmpint(s->slowlink_threshold, ==, 0);
	g_assert_cmpint(s->twcc_period, ==, 200);
	g_assert_cmpint(s->min_nack_queue, ==, 200);
	g_assert_cmpint(s->event_loops, ==, 0);
	g_assert_null(s->stun_server);
	g_assert_cmpint(s->stun_port, ==, 3478);
	g_assert_false(s->full_trickle);
	g_assert_false(s->ice_lite);
	g_assert_false(s->ice_tcp);
	g_assert_null(s->nat_1_1_mapping);
	g_assert_null(s->ice_enforce_list);
	g_assert_null(s->ice_ignore_list);
	g_assert_null(s->turn_server);
	g_assert_cmpint(s->turn_port, ==, 3478);
	g_assert_cmpstr(s->turn_type, ==, "udp");
	g_assert_null(s->turn_user);
	g_assert_null(s->turn_pwd);
	assert_strv(s->plugins_disable, (const char *const[]){ NULL });
	assert_strv(s->transports_disable, (const char *const[]){ NULL });
	assert_strv(s->auth_disable, (const char *const[]){ NULL });
	assert_strv(s->events_disable, (const char *const[]){ NULL });
}

static void test_defaults(void) {
	cardea_settings s;
	defaults(&s);
	assert_defaults(&s);
	cardea_settings_clear(&s);
	g_assert_null(s.server_name);
	cardea_settings_clear(&s);   /* twice is harmless */
}

static void test_full_file(void) {
	cardea_settings s;
	defaults(&s);
	GError *error = NULL;
	char *path = g_test_build_filename(G_TEST_DIST, "config", "full.jcfg", NULL);
	g_assert_true(cardea_settings_load(&s, path, TRUE, &error));
	g_assert_no_error(error);
	g_free(path);
	g_assert_cmpstr(s.configs_folder, ==, "/srv/cardea/etc");
	g_assert_cmpstr(s.plugins_folder, ==, "/srv/cardea/plugins");
	g_assert_cmpstr(s.transports_folder, ==, "/srv/cardea/transports");
	g_assert_cmpstr(s.auth_folder, ==, "/srv/cardea/auth");
	g_assert_cmpstr(s.events_folder, ==, "/srv/cardea/events");
	g_assert_cmpstr(s.html_folder, ==, "/srv/cardea/html");
	g_assert_cmpstr(s.server_name, ==, "gw-1");
	g_assert_cmpstr(s.api_secret, ==, "apisecret");
	g_assert_cmpstr(s.admin_secret, ==, "adminsecret");
	g_assert_true(s.token_auth);
	g_assert_cmpstr(s.token_auth_secret, ==, "hmacsecret");
	g_assert_cmpint(s.session_timeout, ==, 120);
	g_assert_cmpint(s.reclaim_session_timeout, ==, 30);
	g_assert_cmpint(s.candidates_timeout, ==, 20);
	g_assert_cmpint(s.debug_level, ==, 7);
	g_assert_true(s.opaqueid_in_api);
	g_assert_true(s.hide_dependencies);
	g_assert_cmpint(s.request_workers, ==, 16);
	g_assert_cmpint(s.max_sessions, ==, 5000);
	g_assert_cmpint(s.max_handles_per_session, ==, 20);
	g_assert_cmpstr(s.cert_pem, ==, "/srv/cardea/cert.pem");
	g_assert_cmpstr(s.cert_key, ==, "/srv/cardea/cert.key");
	g_assert_cmpstr(s.cert_pwd, ==, "certpwd");
	g_assert_true(s.ipv6);
	g_assert_cmpint(s.rtp_port_min, ==, 20000);
	g_assert_cmpint(s.rtp_port_max, ==, 40000);
	g_assert_cmpint(s.dtls_mtu, ==, 1400);
	g_assert_cmpint(s.no_media_timer, ==, 5);
	g_assert_cmpint(s.slowlink_threshold, ==, 4);
	g_assert_cmpint(s.twcc_period, ==, 100);
	g_assert_cmpint(s.min_nack_queue, ==, 500);
	g_assert_cmpint(s.event_loops, ==, 2);
	g_assert_cmpstr(s.stun_server, ==, "198.51.100.7");
	g_assert_cmpint(s.stun_port, ==, 19302);
	g_assert_true(s.full_trickle);
	g_assert_true(s.ice_lite);
	g_assert_true(s.ice_tcp);
	g_assert_cmpstr(s.nat_1_1_mapping, ==, "203.0.113.5");
	g_assert_cmpstr(s.ice_enforce_list, ==, "eth0");
	g_assert_cmpstr(s.ice_ignore_list, ==, "vmnet,10.0.3.");
	g_assert_cmpstr(s.turn_server, ==, "198.51.100.8");
	g_assert_cmpint(s.turn_port, ==, 443);
	g_assert_cmpstr(s.turn_type, ==, "tls");
	g_assert_cmpstr(s.turn_user, ==, "turnuser");
	g_assert_cmpstr(s.turn_pwd, ==, "turnpwd");
	assert_strv(s.plugins_disable,
		(const char *const[]){ "cardea_plugin_videocall.so", "cardea_plugin_broadcast.so", NULL });
	assert_strv(s.transports_disable, (const char *const[]){ "cardea_transport_websockets.so", NULL });
	assert_strv(s.auth_disable, (const char *const[]){ "cardea_auth_http.so", NULL });
	assert_strv(s.events_disable,
		(const char *const[]){ "cardea_events_webhook.so", "cardea_events_other.so", NULL });
	cardea_settings_clear(&s);
}

typedef struct {
	const char *text;
	int line;
	int code;
	const char *what;   /* the message after "FILE:LINE: " */
} bad_case;

static const bad_case bad_cases[] = {
	{ "general: {\n\tsession_timeout = \"abc\"\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "general.session_timeout must be an integer between 0 and 86400 (got \"abc\")" },
	{ "general: {\n\tsession_timeout = 86401\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.session_timeout must be an integer between 0 and 86400 (got 86401)" },
	{ "general: {\n\tsession_timeout = 1.5\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "general.session_timeout must be an integer between 0 and 86400 (got 1.5)" },
	{ "general: {\n\tsession_timeout = -1\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.session_timeout must be an integer between 0 and 86400 (got -1)" },
	{ "general: {\n\treclaim_session_timeout = 86401\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.reclaim_session_timeout must be an integer between 0 and 86400 (got 86401)" },
	{ "general: {\n\n\tcandidates_timeout = 0\n}\n", 3, CARDEA_CONFIG_ERROR_VALUE,
	  "general.candidates_timeout must be an integer between 1 and 600 (got 0)" },
	{ "general: {\n\tdebug_level = 8\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.debug_level must be an integer between 0 and 7 (got 8)" },
	{ "general: {\n\tdebug_level = \"-1\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.debug_level must be an integer between 0 and 7 (got \"-1\")" },
	{ "general: {\n\tdebug_level = [ 4 ]\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "general.debug_level must be an integer between 0 and 7, not a list" },
	{ "general: {\n\trequest_workers = 0\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.request_workers must be an integer between 1 and 256 (got 0)" },
	{ "general: {\n\trequest_workers = 257\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.request_workers must be an integer between 1 and 256 (got 257)" },
	{ "general: {\n\tmax_sessions = 10000001\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.max_sessions must be an integer between 0 and 10000000 (got 10000001)" },
	{ "general: {\n\tmax_sessions = 5000000000\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.max_sessions must be an integer between 0 and 10000000 (got 5000000000)" },
	{ "general: {\n\tmax_handles_per_session = 100001\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.max_handles_per_session must be an integer between 0 and 100000 (got 100001)" },
	{ "general: {\n\ttoken_auth = \"maybe\"\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "general.token_auth must be a boolean (true/false, yes/no, 1/0) (got \"maybe\")" },
	{ "general: {\n\topaqueid_in_api = 2\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "general.opaqueid_in_api must be a boolean (true/false, yes/no, 1/0) (got 2)" },
	{ "general: {\n\thide_dependencies: { }\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "general.hide_dependencies must be a boolean (true/false, yes/no, 1/0), not a group" },
	{ "general: {\n\tapi_secret = \"\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.api_secret must not be empty (comment the line out to use the default)" },
	{ "general: {\n\tadmin_secret: { }\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "general.admin_secret must be a string, not a group" },
	{ "general: {\n\ttoken_auth_secret = \"\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.token_auth_secret must not be empty (comment the line out to use the default)" },
	{ "general: {\n\tplugins_folder = \"\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "general.plugins_folder must not be empty (comment the line out to use the default)" },
	{ "general: {\n\tserver_name = [ \"a\" ]\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "general.server_name must be a string, not a list" },
	{ "general = 5\n", 1, CARDEA_CONFIG_ERROR_TYPE, "general must be a group (general: { ... })" },
	{ "certificates = \"x\"\n", 1, CARDEA_CONFIG_ERROR_TYPE,
	  "certificates must be a group (certificates: { ... })" },
	{ "certificates: {\n\tcert_pem = \"/a.pem\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "certificates.cert_pem is set but certificates.cert_key is not" },
	{ "certificates: {\n\tcert_pwd = \"x\"\n\tcert_key = \"/a.key\"\n}\n", 3, CARDEA_CONFIG_ERROR_VALUE,
	  "certificates.cert_key is set but certificates.cert_pem is not" },
	{ "certificates: {\n\tcert_pem = \"/a.pem\"\n\tcert_key = \"\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "certificates.cert_pem is set but certificates.cert_key is not" },
	{ "media: {\n\tdtls_mtu = 255\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.dtls_mtu must be an integer between 256 and 9000 (got 255)" },
	{ "media: {\n\tdtls_mtu = 9001\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.dtls_mtu must be an integer between 256 and 9000 (got 9001)" },
	{ "media: {\n\tevent_loops = 65\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.event_loops must be an integer between 0 and 64 (got 65)" },
	{ "media: {\n\tno_media_timer = \"x\"\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "media.no_media_timer must be an integer between 0 and 3600 (got \"x\")" },
	{ "media: {\n\tslowlink_threshold = -1\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.slowlink_threshold must be an integer between 0 and 100000 (got -1)" },
	{ "media: {\n\ttwcc_period = 0\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.twcc_period must be an integer between 1 and 10000 (got 0)" },
	{ "media: {\n\tmin_nack_queue = 10001\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.min_nack_queue must be an integer between 0 and 10000 (got 10001)" },
	{ "media: {\n\tipv6 = \"on\"\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "media.ipv6 must be a boolean (true/false, yes/no, 1/0) (got \"on\")" },
	{ "media: {\n\trtp_port_range = \"abc\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.rtp_port_range must be \"min-max\" with ports from 0 to 65535 (got \"abc\")" },
	{ "media: {\n\trtp_port_range = 20000\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.rtp_port_range must be \"min-max\" with ports from 0 to 65535 (got \"20000\")" },
	{ "media: {\n\trtp_port_range = \"1-2-3\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.rtp_port_range must be \"min-max\" with ports from 0 to 65535 (got \"1-2-3\")" },
	{ "media: {\n\trtp_port_range = \"20000-70000\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.rtp_port_range must be \"min-max\" with ports from 0 to 65535 (got \"20000-70000\")" },
	{ "media: {\n\trtp_port_range = \"-5\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.rtp_port_range must be \"min-max\" with ports from 0 to 65535 (got \"-5\")" },
	{ "media: {\n\trtp_port_range = \"10-\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.rtp_port_range must be \"min-max\" with ports from 0 to 65535 (got \"10-\")" },
	{ "media: {\n\trtp_port_range = \"+10-20\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.rtp_port_range must be \"min-max\" with ports from 0 to 65535 (got \"+10-20\")" },
	{ "media: {\n\trtp_port_range = \"\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "media.rtp_port_range must be \"min-max\" with ports from 0 to 65535 (got \"\")" },
	{ "media: {\n\trtp_port_range = [ 1, 2 ]\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "media.rtp_port_range must be a string, not a list" },
	{ "nat: {\n\tstun_port = 0\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "nat.stun_port must be an integer between 1 and 65535 (got 0)" },
	{ "nat: {\n\tturn_port = 65536\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "nat.turn_port must be an integer between 1 and 65535 (got 65536)" },
	{ "nat: {\n\tfull_trickle = \"sometimes\"\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "nat.full_trickle must be a boolean (true/false, yes/no, 1/0) (got \"sometimes\")" },
	{ "nat: {\n\tturn_type = \"sctp\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "nat.turn_type must be one of udp, tcp, tls (got \"sctp\")" },
	{ "nat: {\n\tturn_type = \"\"\n}\n", 2, CARDEA_CONFIG_ERROR_VALUE,
	  "nat.turn_type must be one of udp, tcp, tls (got \"\")" },
	{ "nat: {\n\tturn_type: { }\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "nat.turn_type must be a string, not a group" },
	{ "plugins: {\n\tdisable: { }\n}\n", 2, CARDEA_CONFIG_ERROR_TYPE,
	  "plugins.disable must be a list (\"a, b\" or [ \"a\", \"b\" ]), not a group" },
	{ "transports: {\n\tdisable = ( \"a.so\",\n\t\t[ \"b.so\" ] )\n}\n", 3, CARDEA_CONFIG_ERROR_TYPE,
	  "transports.disable item 2 must be a string, not a list" },
	{ "events = [ \"x\" ]\n", 1, CARDEA_CONFIG_ERROR_TYPE, "events must be a group (events: { ... })" },
	{ "general: {\n\tdebug_level = 4\n\tsession_timeout = \n}\n", 4, CARDEA_CONFIG_ERROR_SYNTAX, "syntax error" },
	{ "general: {\n\tdebug_level = yes\n}\n", 2, CARDEA_CONFIG_ERROR_SYNTAX, "syntax error" },
};

static void test_validation_errors(void) {
	for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
		const bad_case *c = &bad_cases[i];
		char *path = write_config(c->text);
		cardea_settings s;
		defaults(&s);
		GError *error = NULL;
		g_test_message("case %zu: %s", i, c->what);
		g_assert_false(cardea_settings_load(&s, path, TRUE, &error));
		g_assert_nonnull(error);
		char *expect = g_strdup_printf("%s:%d: %s", path, c->line, c->what);
		g_assert_cmpstr(error->message, ==, expect);
		g_assert_error(error, CARDEA_CONFIG_ERROR, c->code);
		g_free(expect);
		g_clear_error(&error);
		cardea_settings_clear(&s);   /* everything still owned: no leak */
		g_remove(path);
		g_free(path);
	}
}

typedef struct {
	const char *value;
	int min, max;
} range_case;

static void test_rtp_port_range(void) {
	static const range_case cases[] = {
		{ "\"20000-40000\"", 20000, 40000 },
		{ "\"40000-20000\"", 20000, 40000 },   /* swapped */
		{ "\"0-0\"", 0, 65535 },               /* max 0 => 65535 */
		{ "\"20000-0\"", 0, 20000 },           /* swapped first, as Janus does */
		{ "\" 10 - 20 \"", 10, 20 },
		{ "\"0-65535\"", 0, 65535 },
		{ "\"5000-5000\"", 5000, 5000 },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *text = g_strdup_printf("media: {\n\trtp_port_range = %s\n}\n", cases[i].value);
		char *path = write_config(text);
		cardea_settings s;
		defaults(&s);
		GError *error = NULL;
		g_assert_true(cardea_settings_load(&s, path, TRUE, &error));
		g_assert_no_error(error);
		g_assert_cmpint(s.rtp_port_min, ==, cases[i].min);
		g_assert_cmpint(s.rtp_port_max, ==, cases[i].max);
		cardea_settings_clear(&s);
		g_remove(path);
		g_free(path);
		g_free(text);
	}
}

static void test_cert_pair(void) {
	char *path = write_config("certificates: {\n\tcert_pem = \"/a.pem\"\n\tcert_key = \"/a.key\"\n}\n");
	cardea_settings s;
	defaults(&s);
	GError *error = NULL;
	g_assert_true(cardea_settings_load(&s, path, TRUE, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(s.cert_pem, ==, "/a.pem");
	g_assert_cmpstr(s.cert_key, ==, "/a.key");
	g_assert_null(s.cert_pwd);
	cardea_settings_clear(&s);
	g_remove(path);
	g_free(path);

	/* Neither, with empty strings standing for "unset". */
	path = write_config("certificates: {\n\tcert_pem = \"\"\n\tcert_key = \"\"\n\tcert_pwd = \"\"\n}\n");
	defaults(&s);
	g_assert_true(cardea_settings_load(&s, path, TRUE, &error));
	g_assert_no_error(error);
	g_assert_null(s.cert_pem);
	g_assert_null(s.cert_key);
	g_assert_null(s.cert_pwd);
	cardea_settings_clear(&s);
	g_remove(path);
	g_free(path);
}

static void test_turn_type(void) {
	static const struct { const char *value, *expect; } cases[] = {
		{ "\"udp\"", "udp" }, { "\"TCP\"", "tcp" }, { "\" tls \"", "tls" },
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *text = g_strdup_printf("nat: {\n\tturn_type = %s\n}\n", cases[i].value);
		char *path = write_config(text);
		cardea_settings s;
		defaults(&s);
		GError *error = NULL;
		g_assert_true(cardea_settings_load(&s, path, TRUE, &error));
		g_assert_no_error(error);
		g_assert_cmpstr(s.turn_type, ==, cases[i].expect);
		cardea_settings_clear(&s);
		g_remove(path);
		g_free(path);
		g_free(text);
	}
}

/* STUN/TURN host names are resolved at load (libnice takes numbers only). */
static void test_server_names(void) {
	char *path = write_config("nat: {\n\tstun_server = \"localhost\"\n\tturn_server = \"127.0.0.9\"\n}\n");
	cardea_settings s;
	defaults(&s);
	GError *error = NULL;
	g_assert_true(cardea_settings_load(&s, path, TRUE, &error));
	g_assert_no_error(error);
	/* localhost may resolve to ::1 only on an IPv6-only host; IPv4 is preferred. */
	g_assert_true(g_strcmp0(s.stun_server, "127.0.0.1") == 0 || g_strcmp0(s.stun_server, "::1") == 0);
	g_assert_cmpstr(s.turn_server, ==, "127.0.0.9");
	cardea_settings_clear(&s);
	g_remove(path);
	g_free(path);

	path = write_config("nat: {\n\tturn_server = \"no-such-host.invalid\"\n}\n");
	defaults(&s);
	g_assert_false(cardea_settings_load(&s, path, TRUE, &error));
	g_assert_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_VALUE);
	char *expect = g_strdup_printf("%s:2: nat.turn_server cannot resolve \"no-such-host.invalid\": ", path);
	g_assert_true(g_str_has_prefix(error->message, expect));
	g_free(expect);
	g_clear_error(&error);
	cardea_settings_clear(&s);
	g_remove(path);
	g_free(path);
}

static void test_disable_lists(void) {
	char *path = write_config(
		"plugins: {\n\tdisable = \"a.so, b.so,,\"\n}\n"
		"transports: {\n\tdisable = [ \" c.so \", \"\" ]\n}\n"
		"auth: {\n\tdisable = \"\"\n}\n"
		"events: {\n}\n");
	cardea_settings s;
	defaults(&s);
	GError *error = NULL;
	g_assert_true(cardea_settings_load(&s, path, TRUE, &error));
	g_assert_no_error(error);
	assert_strv(s.plugins_disable, (const char *const[]){ "a.so", "b.so", NULL });
	assert_strv(s.transports_disable, (const char *const[]){ "c.so", NULL });
	assert_strv(s.auth_disable, (const char *const[]){ NULL });
	assert_strv(s.events_disable, (const char *const[]){ NULL });
	cardea_settings_clear(&s);
	g_remove(path);
	g_free(path);
}

static void test_missing_file(void) {
	char *path = g_build_filename(tmpdir, "absent.jcfg", NULL);
	cardea_settings s;
	defaults(&s);
	GError *error = NULL;
	g_assert_true(cardea_settings_load(&s, path, FALSE, &error));
	g_assert_no_error(error);
	assert_defaults(&s);

	g_assert_false(cardea_settings_load(&s, path, TRUE, &error));
	char *expect = g_strdup_printf("%s: cannot read: No such file or directory", path);
	g_assert_cmpstr(error->message, ==, expect);
	g_assert_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_IO);
	g_free(expect);
	g_clear_error(&error);

	/* Present but unreadable (a folder): an error even when optional. */
	g_assert_false(cardea_settings_load(&s, tmpdir, FALSE, &error));
	g_assert_error(error, CARDEA_CONFIG_ERROR, CARDEA_CONFIG_ERROR_IO);
	g_clear_error(&error);
	assert_defaults(&s);
	cardea_settings_clear(&s);
	g_free(path);
}

typedef struct {
	cardea_settings *s;
	const char *path;
	gboolean ok;
	GError *error;
} load_call;

static void call_load(gpointer data) {
	load_call *c = data;
	c->ok = cardea_settings_load(c->s, c->path, TRUE, &c->error);
}

static void test_unknown_warned(void) {
	char *path = write_config(
		"stray = 1\n"                                  /* 1 */
		"general: {\n"                                 /* 2 */
		"\tsession_timout = 30\n"                      /* 3: typo */
		"\tdebug_level = 5\n"                          /* 4 */
		"}\n"                                          /* 5 */
		"loggers: {\n\tdisable = \"x.so\"\n}\n"        /* 6-8: a Janus section */
		"nat: {\n\tice_ignore_list = \"vmnet\"\n\tnice_debug = false\n}\n");  /* 9-12 */
	cardea_settings s;
	defaults(&s);
	int saved = cardea_log_level;
	cardea_log_level = CARDEA_LOG_WARN;
	load_call c = { &s, path, FALSE, NULL };
	char *out = capture_stdout(call_load, &c);
	cardea_log_level = saved;
	g_assert_no_error(c.error);
	g_assert_true(c.ok);
	g_assert_cmpint(s.session_timeout, ==, 60);
	g_assert_cmpint(s.debug_level, ==, 5);
	g_assert_cmpstr(s.ice_ignore_list, ==, "vmnet");
	char *line = g_strdup_printf("%s:1: unknown key stray (ignored)", path);
	g_assert_nonnull(strstr(out, line));
	g_free(line);
	line = g_strdup_printf("%s:3: unknown key general.session_timout (ignored)", path);
	g_assert_nonnull(strstr(out, line));
	g_free(line);
	line = g_strdup_printf("%s:6: unknown section loggers (ignored)", path);
	g_assert_nonnull(strstr(out, line));
	g_free(line);
	line = g_strdup_printf("%s:11: unknown key nat.nice_debug (ignored)", path);
	g_assert_nonnull(strstr(out, line));
	g_free(line);
	g_assert_null(strstr(out, "debug_level"));
	g_free(out);
	cardea_settings_clear(&s);
	g_remove(path);
	g_free(path);
}

/* The shipped sample must run as-is, with the documented values and no
 * warning (every option it mentions is known). */
static void test_sample(void) {
	char *path = g_test_build_filename(G_TEST_DIST, "..", "..", "conf", "cardea.jcfg.sample", NULL);
	cardea_settings s;
	defaults(&s);
	int saved = cardea_log_level;
	cardea_log_level = CARDEA_LOG_WARN;
	load_call c = { &s, path, FALSE, NULL };
	char *out = capture_stdout(call_load, &c);
	cardea_log_level = saved;
	g_assert_no_error(c.error);
	g_assert_true(c.ok);
	g_assert_cmpstr(out, ==, "");
	g_free(out);
	g_assert_cmpint(s.session_timeout, ==, 60);
	g_assert_cmpstr(s.admin_secret, ==, "cardeaoverlord");
	g_assert_null(s.api_secret);
	g_assert_false(s.token_auth);
	g_assert_cmpint(s.debug_level, ==, 4);
	g_assert_cmpstr(s.plugins_folder, ==, "/usr/lib/cardea/plugins");
	assert_strv(s.plugins_disable, (const char *const[]){ NULL });
	assert_strv(s.transports_disable, (const char *const[]){ NULL });
	cardea_settings_clear(&s);

	/* With every commented option uncommented, it must still be valid
	 * and produce no warning: the comments document real options. */
	char *text = NULL;
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	GString *all = g_string_new(NULL);
	char **lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++) {
		const char *p = *l;
		while (*p == '\t' || *p == ' ')
			p++;
		/* "#key = value" is an option; "# text" is prose. */
		if (p[0] == '#' && g_ascii_isalpha(p[1]) && strchr(p, '='))
			g_string_append_printf(all, "%s\n", p + 1);
		else
			g_string_append_printf(all, "%s\n", *l);
	}
	g_strfreev(lines);
	g_free(text);
	char *upath = write_config(all->str);
	g_string_free(all, TRUE);
	defaults(&s);
	cardea_log_level = CARDEA_LOG_WARN;
	load_call c2 = { &s, upath, FALSE, NULL };
	out = capture_stdout(call_load, &c2);
	cardea_log_level = saved;
	g_assert_no_error(c2.error);
	g_assert_true(c2.ok);
	g_assert_cmpstr(out, ==, "");
	g_free(out);
	g_assert_cmpstr(s.cert_pem, ==, "/path/to/certificate.pem");
	g_assert_cmpint(s.rtp_port_min, ==, 20000);
	g_assert_cmpstr(s.turn_type, ==, "udp");
	g_assert_cmpuint(g_strv_length(s.transports_disable), ==, 1);
	cardea_settings_clear(&s);
	g_remove(upath);
	g_free(upath);
	g_free(path);
}

int main(int argc, char **argv) {
	g_test_init(&argc, &argv, NULL);
	GError *error = NULL;
	tmpdir = g_dir_make_tmp("cardea-test-settings-XXXXXX", &error);
	g_assert_no_error(error);
	g_test_add_func("/settings/defaults", test_defaults);
	g_test_add_func("/settings/full-file", test_full_file);
	g_test_add_func("/settings/validation-errors", test_validation_errors);
	g_test_add_func("/settings/rtp-port-range", test_rtp_port_range);
	g_test_add_func("/settings/cert-pair", test_cert_pair);
	g_test_add_func("/settings/turn-type", test_turn_type);
	g_test_add_func("/settings/server-names", test_server_names);
	g_test_add_func("/settings/disable-lists", test_disable_lists);
	g_test_add_func("/settings/missing-file", test_missing_file);
	g_test_add_func("/settings/unknown-warned", test_unknown_warned);
	g_test_add_func("/settings/sample", test_sample);
	int rc = g_test_run();
	g_rmdir(tmpdir);
	g_free(tmpdir);
	return rc;
}

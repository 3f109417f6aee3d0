/* A third-party plugin, built out of tree against the installed SDK only:
 *
 *   cc -shared -fPIC -o cardea_plugin_hello.so hello_plugin.c \
 *       $(pkg-config --cflags --libs cardea-plugin)
 *
 * Package "cardea.plugin.hello". `{"request":"hello","name":X}` is answered
 * synchronously with `{"hello":<greeting>,"name":X}`; the greeting is "world"
 * unless cardea.plugin.hello.jcfg sets general.greeting. Anything else gets
 * Janus error 462. tests/sdk/run.sh builds and drives it; docs/building-modules.md
 * walks through it.
 */
#include <string.h>
#include <cardea/plugin.h>

/* One per attached handle; owned by the plugin, freed in destroy_session. */
typedef struct hello_handle {
	volatile gint greetings;    /* handle_message may run concurrently for one handle */
} hello_handle;

/* Set in init, read-only afterwards (so any thread may read it). */
static char *greeting;

static int hello_init(const cardea_plugin_core *core, const char *config_path) {
	GError *error = NULL;
	char *value = NULL;
	if (g_file_test(config_path, G_FILE_TEST_EXISTS)) {
		static const char *const known[] = { "greeting", "enabled", NULL };
		cardea_config *cfg = cardea_config_load(config_path, &error);
		if (cfg == NULL) {
			CARDEA_LOG(CARDEA_LOG_ERR, "[hello] %s", error->message);
			g_error_free(error);
			return -1;
		}
		cardea_config_warn_unknown(cfg, "general", known);
		gboolean ok = cardea_config_get_string(cfg, "general", "greeting", "world", &value, &error);
		cardea_config_free(cfg);
		if (!ok) {
			/* The message already reads "FILE:LINE: general.greeting ..." */
			CARDEA_LOG(CARDEA_LOG_ERR, "[hello] %s", error->message);
			g_error_free(error);
			return -1;
		}
	}
	greeting = value ? value : g_strdup("world");
	CARDEA_LOG(CARDEA_LOG_INFO, "[hello] ready, greeting \"%s\"", greeting);
	return 0;
}

static void hello_destroy(void) {
	g_free(greeting);
	greeting = NULL;
}

static void hello_create_session(cardea_plugin_session *session, int *error) {
	session->plugin_handle = g_new0(hello_handle, 1);
	*error = 0;
}

static void hello_destroy_session(cardea_plugin_session *session, int *error) {
	g_free(session->plugin_handle);
	session->plugin_handle = NULL;
	*error = 0;
}

/* Validates the body at the boundary: every client-sent field is checked
 * before use. `message` and `jsep` are ours (transfer full). */
static cardea_plugin_result hello_handle_message(cardea_plugin_session *session, const char *transaction,
		json_t *message, json_t *jsep) {
	hello_handle *h = session->plugin_handle;
	const char *request = json_string_value(json_object_get(message, "request"));
	json_t *name = json_object_get(message, "name");
	cardea_plugin_result result;

	if (request == NULL || strcmp(request, "hello") != 0)
		result = cardea_plugin_error("unknown request (expected \"hello\")");
	else if (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) > 256)
		result = cardea_plugin_error("name must be a string of 1 to 256 characters");
	else {
		g_atomic_int_inc(&h->greetings);
		result = cardea_plugin_ok(json_pack("{s:s, s:O}", "hello", greeting, "name", name));
	}
	json_decref(message);
	json_decref(jsep);
	return result;
}

static json_t *hello_query_session(cardea_plugin_session *session) {
	hello_handle *h = session->plugin_handle;
	return h ? json_pack("{s:i}", "greetings", g_atomic_int_get(&h->greetings)) : NULL;
}

static cardea_plugin hello_plugin = {
	.info = {
		CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_PLUGIN, cardea_plugin),
		.package = "cardea.plugin.hello",
		.name = "hello",
		.description = "Says hello: the smallest out-of-tree Cardea plugin",
		.author = "Cardea SDK test",
		.version_string = "1.0.0",
		.version = 1,
	},
	.init = hello_init,
	.destroy = hello_destroy,
	.create_session = hello_create_session,
	.handle_message = hello_handle_message,
	.destroy_session = hello_destroy_session,
	.query_session = hello_query_session,
};

CARDEA_MODULE_DEFINE(hello_plugin)

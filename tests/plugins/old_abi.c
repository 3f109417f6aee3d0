/* A plugin claiming an API version this core does not know: the loader must
 * refuse it with a clear log line (and not call any of its callbacks). */
#include <cardea/plugin.h>

static int never(const cardea_plugin_core *core, const char *config_path) { return *(volatile int *)0; }
static void nothing(void) {}
static void session_nothing(cardea_plugin_session *s, int *e) {}
static cardea_plugin_result no_message(cardea_plugin_session *s, const char *t, json_t *m, json_t *j) {
	return cardea_plugin_error("unreachable");
}

static cardea_plugin old_abi_plugin = {
	.info = {
		.api_version = CARDEA_API_VERSION + 98,
		.struct_size = sizeof(cardea_plugin),
		.signature = CARDEA_BUILD_SIGNATURE,
		.kind = CARDEA_MODULE_PLUGIN,
		.package = "cardea.plugin.oldabi",
		.name = "oldabi",
	},
	.init = never,
	.destroy = nothing,
	.create_session = session_nothing,
	.handle_message = no_message,
	.destroy_session = session_nothing,
};

CARDEA_MODULE_DEFINE(old_abi_plugin)

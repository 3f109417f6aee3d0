#include <dlfcn.h>
#include <string.h>
#include "modules.h"
#include "cardea/config.h"

const char *cardea_module_kind_name(cardea_module_kind kind) {
	switch (kind) {
	case CARDEA_MODULE_PLUGIN: return "plugin";
	case CARDEA_MODULE_TRANSPORT: return "transport";
	case CARDEA_MODULE_AUTH: return "auth";
	case CARDEA_MODULE_EVENTS: return "events";
	}
	return "unknown";
}

/* ---- no-op defaults for optional callbacks ---- */
static json_t *default_admin_message(json_t *message) { return NULL; }
static void default_hangup_media(cardea_plugin_session *session) {}
static json_t *default_query_session(cardea_plugin_session *session) { return NULL; }
static bool default_true(void) { return true; }
static bool default_false(void) { return false; }
static json_t *default_query(json_t *request) { return NULL; }

/* Smallest struct a module of each kind may declare: everything up to the
 * reserved slots of API version 1. */
static size_t min_struct_size(cardea_module_kind kind) {
	switch (kind) {
	case CARDEA_MODULE_PLUGIN: return offsetof(cardea_plugin, _reserved);
	case CARDEA_MODULE_TRANSPORT: return offsetof(cardea_transport, _reserved);
	case CARDEA_MODULE_AUTH: return offsetof(cardea_auth, _reserved);
	case CARDEA_MODULE_EVENTS: return offsetof(cardea_events, _reserved);
	}
	return SIZE_MAX;
}

static size_t core_struct_size(cardea_module_kind kind) {
	switch (kind) {
	case CARDEA_MODULE_PLUGIN: return sizeof(cardea_plugin);
	case CARDEA_MODULE_TRANSPORT: return sizeof(cardea_transport);
	case CARDEA_MODULE_AUTH: return sizeof(cardea_auth);
	case CARDEA_MODULE_EVENTS: return sizeof(cardea_events);
	}
	return 0;
}

const char *cardea_module_check(const cardea_module_info *info, cardea_module_kind expected) {
	if (info == NULL)
		return "entry point returned NULL";
	if (info->api_version != CARDEA_API_VERSION)
		return "built for another Cardea API version";
	if (info->signature == NULL || strcmp(info->signature, CARDEA_BUILD_SIGNATURE) != 0)
		return "build signature mismatch (built for another ABI)";
	if (info->kind != expected)
		return "module of another kind in this folder";
	if (info->struct_size < min_struct_size(expected))
		return "module struct too small for this API version";
	if (info->package == NULL || info->package[0] == '\0' || info->name == NULL || info->name[0] == '\0')
		return "module has no package or name";
	for (const char *p = info->name; *p; p++)
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
			return "module name may only hold letters, digits, '_' and '-'";
	switch (expected) {
	case CARDEA_MODULE_PLUGIN: {
		const cardea_plugin *p = (const cardea_plugin *)info;
		if (!p->init || !p->destroy || !p->create_session || !p->handle_message || !p->destroy_session)
			return "plugin lacks a mandatory callback (init, destroy, create_session, handle_message, destroy_session)";
		break;
	}
	case CARDEA_MODULE_TRANSPORT: {
		const cardea_transport *t = (const cardea_transport *)info;
		if (!t->init || !t->destroy || !t->send_message || !t->session_created || !t->session_over)
			return "transport lacks a mandatory callback (init, destroy, send_message, session_created, session_over)";
		break;
	}
	case CARDEA_MODULE_AUTH: {
		const cardea_auth *a = (const cardea_auth *)info;
		if (!a->init || !a->destroy || !a->authorize)
			return "auth module lacks a mandatory callback (init, destroy, authorize)";
		break;
	}
	case CARDEA_MODULE_EVENTS: {
		const cardea_events *e = (const cardea_events *)info;
		if (!e->init || !e->destroy || !e->incoming_event)
			return "events module lacks a mandatory callback (init, destroy, incoming_event)";
		break;
	}
	}
	return NULL;
}

static void fill_defaults(cardea_loaded_module *m) {
	switch (m->kind) {
	case CARDEA_MODULE_PLUGIN:
		if (!m->ops.plugin.handle_admin_message) m->ops.plugin.handle_admin_message = default_admin_message;
		if (!m->ops.plugin.hangup_media) m->ops.plugin.hangup_media = default_hangup_media;
		if (!m->ops.plugin.query_session) m->ops.plugin.query_session = default_query_session;
		break;
	case CARDEA_MODULE_TRANSPORT:
		if (!m->ops.transport.is_janus_api_enabled) m->ops.transport.is_janus_api_enabled = default_true;
		if (!m->ops.transport.is_admin_api_enabled) m->ops.transport.is_admin_api_enabled = default_false;
		if (!m->ops.transport.query_transport) m->ops.transport.query_transport = default_query;
		break;
	case CARDEA_MODULE_EVENTS:
		if (!m->ops.events.handle_request) m->ops.events.handle_request = default_query;
		break;
	case CARDEA_MODULE_AUTH:
		break;
	}
}

static void loaded_module_free(cardea_loaded_module *m) {
	if (m->dl)
		dlclose(m->dl);
	g_free(m->filename);
	g_free(m->path);
	g_free(m->config_path);
	g_free(m);
}

static gint compare_names(gconstpointer a, gconstpointer b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `enabled = false` in the module's own general section skips it. A config
 * file that exists but does not parse is fatal. */
static gboolean module_enabled(const char *config_path, gboolean *enabled, GError **error) {
	*enabled = TRUE;
	if (!g_file_test(config_path, G_FILE_TEST_EXISTS))
		return TRUE;
	cardea_config *cfg = cardea_config_load(config_path, error);
	if (cfg == NULL)
		return FALSE;
	gboolean ok = cardea_config_get_bool(cfg, "general", "enabled", TRUE, enabled, error);
	cardea_config_free(cfg);
	return ok;
}

static gboolean package_taken(GPtrArray *out, const char *package) {
	for (guint i = 0; i < out->len; i++) {
		cardea_loaded_module *m = g_ptr_array_index(out, i);
		if (strcmp(m->info->package, package) == 0)
			return TRUE;
	}
	return FALSE;
}

static int call_init(cardea_loaded_module *m, const void *core) {
	switch (m->kind) {
	case CARDEA_MODULE_PLUGIN: return m->ops.plugin.init(core, m->config_path);
	case CARDEA_MODULE_TRANSPORT: return m->ops.transport.init(core, m->config_path);
	case CARDEA_MODULE_AUTH: return m->ops.auth.init(core, m->config_path);
	case CARDEA_MODULE_EVENTS: return m->ops.events.init(core, m->config_path);
	}
	return -1;
}

/* Opens one file. Returns NULL (logged) when it is not a usable module. */
static cardea_loaded_module *open_module(cardea_module_kind kind, const char *folder, const char *name,
		const char *configs_folder) {
	const char *kind_name = cardea_module_kind_name(kind);
	char *path = g_build_filename(folder, name, NULL);
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[modules] %s: cannot load %s: %s", path, kind_name, dlerror());
		g_free(path);
		return NULL;
	}
	cardea_module_entry_fn entry = (cardea_module_entry_fn)dlsym(dl, CARDEA_MODULE_ENTRY_SYMBOL);
	if (entry == NULL) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[modules] %s: not a Cardea module (no %s symbol), skipped",
			path, CARDEA_MODULE_ENTRY_SYMBOL);
		dlclose(dl);
		g_free(path);
		return NULL;
	}
	const cardea_module_info *info = entry();
	const char *why = cardea_module_check(info, kind);
	if (why != NULL) {
		CARDEA_LOG(CARDEA_LOG_ERR, "[modules] %s: refused: %s (module api %u, core api %d; module signature %s, core %s)",
			path, why, info ? info->api_version : 0, CARDEA_API_VERSION,
			(info && info->signature) ? info->signature : "none", CARDEA_BUILD_SIGNATURE);
		dlclose(dl);
		g_free(path);
		return NULL;
	}
	cardea_loaded_module *m = g_new0(cardea_loaded_module, 1);
	m->kind = kind;
	m->filename = g_strdup(name);
	m->path = path;
	m->dl = dl;
	m->info = info;
	memcpy(&m->ops, info, MIN((size_t)info->struct_size, core_struct_size(kind)));
	fill_defaults(m);
	char *cfg_name = g_strdup_printf("cardea.%s.%s.jcfg", kind_name, info->name);
	m->config_path = g_build_filename(configs_folder, cfg_name, NULL);
	g_free(cfg_name);
	return m;
}

gboolean cardea_modules_load(cardea_module_kind kind, const char *folder, char **disable,
		const void *core, const char *configs_folder, GPtrArray *out, GError **error) {
	const char *kind_name = cardea_module_kind_name(kind);
	GError *dir_error = NULL;
	GDir *dir = g_dir_open(folder, 0, &dir_error);
	if (dir == NULL) {
		CARDEA_LOG(CARDEA_LOG_WARN, "[modules] no %s folder %s: %s", kind_name, folder, dir_error->message);
		g_error_free(dir_error);
		return TRUE;
	}
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	const char *name;
	while ((name = g_dir_read_name(dir)) != NULL)
		if (g_str_has_suffix(name, ".so"))
			g_ptr_array_add(names, g_strdup(name));
	g_dir_close(dir);
	g_ptr_array_sort(names, compare_names);

	gboolean ok = TRUE;
	for (guint i = 0; i < names->len && ok; i++) {
		name = g_ptr_array_index(names, i);
		if (disable && g_strv_contains((const gchar *const *)disable, name)) {
			CARDEA_LOG(CARDEA_LOG_INFO, "[modules] %s %s disabled in cardea.jcfg", kind_name, name);
			continue;
		}
		cardea_loaded_module *m = open_module(kind, folder, name, configs_folder);
		if (m == NULL)
			continue;
		if (package_taken(out, m->info->package)) {
			CARDEA_LOG(CARDEA_LOG_ERR, "[modules] %s: refused: package %s is already provided by another module",
				m->path, m->info->package);
			loaded_module_free(m);
			continue;
		}
		gboolean enabled = TRUE;
		if (!module_enabled(m->config_path, &enabled, error)) {
			loaded_module_free(m);
			ok = FALSE;
			break;
		}
		if (!enabled) {
			CARDEA_LOG(CARDEA_LOG_INFO, "[modules] %s %s disabled (enabled = false in %s)",
				kind_name, m->info->package, m->config_path);
			loaded_module_free(m);
			continue;
		}
		int rc = call_init(m, core);
		if (rc != 0) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s %s (%s) failed to start (init returned %d); see the log above",
				kind_name, m->info->package, m->path, rc);
			loaded_module_free(m);
			ok = FALSE;
			break;
		}
		m->initialized = TRUE;
		CARDEA_LOG(CARDEA_LOG_INFO, "[modules] loaded %s %s %s (%s)", kind_name, m->info->package,
			m->info->version_string ? m->info->version_string : "", m->filename);
		g_ptr_array_add(out, m);
	}
	g_ptr_array_free(names, TRUE);
	return ok;
}

static void call_destroy(cardea_loaded_module *m) {
	switch (m->kind) {
	case CARDEA_MODULE_PLUGIN: m->ops.plugin.destroy(); break;
	case CARDEA_MODULE_TRANSPORT: m->ops.transport.destroy(); break;
	case CARDEA_MODULE_AUTH: m->ops.auth.destroy(); break;
	case CARDEA_MODULE_EVENTS: m->ops.events.destroy(); break;
	}
}

void cardea_modules_destroy(GPtrArray *mods) {
	if (mods == NULL)
		return;
	for (guint i = mods->len; i > 0; i--) {
		cardea_loaded_module *m = g_ptr_array_index(mods, i - 1);
		if (m->initialized)
			call_destroy(m);
		m->initialized = FALSE;
	}
}

void cardea_modules_unload(GPtrArray *mods) {
	if (mods == NULL)
		return;
	cardea_modules_destroy(mods);
	for (guint i = mods->len; i > 0; i--) {
		cardea_loaded_module *m = g_ptr_array_index(mods, i - 1);
		/* Under valgrind, unloaded modules' frames become "???"; CARDEA_NO_DLCLOSE keeps them mapped. */
		if (g_getenv("CARDEA_NO_DLCLOSE") != NULL)
			m->dl = NULL;
		loaded_module_free(m);
	}
	g_ptr_array_set_size(mods, 0);
}

/* The module loader: struct checks, and loading real shared objects from a
 * folder (a good plugin, a foreign .so, an old-ABI plugin, a disabled one, a
 * duplicate package, `enabled = false`, and a broken module config). */
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "modules.h"
#include "cardea/config.h"

static int ok_init(const cardea_plugin_core *c, const char *p) { return 0; }
static void ok_destroy(void) {}
static void ok_session(cardea_plugin_session *s, int *e) {}
static cardea_plugin_result ok_message(cardea_plugin_session *s, const char *t, json_t *m, json_t *j) {
	return cardea_plugin_error("x");
}

static cardea_plugin good_plugin(void) {
	cardea_plugin p = {
		.info = {
			CARDEA_MODULE_INFO_INIT(CARDEA_MODULE_PLUGIN, cardea_plugin),
			.package = "cardea.plugin.unit", .name = "unit",
		},
		.init = ok_init, .destroy = ok_destroy, .create_session = ok_session,
		.handle_message = ok_message, .destroy_session = ok_session,
	};
	return p;
}

static void test_check(void) {
	cardea_plugin p = good_plugin();
	g_assert_null(cardea_module_check(&p.info, CARDEA_MODULE_PLUGIN));
	g_assert_nonnull(cardea_module_check(&p.info, CARDEA_MODULE_TRANSPORT));
	g_assert_nonnull(cardea_module_check(NULL, CARDEA_MODULE_PLUGIN));

	p = good_plugin(); p.info.api_version = 0;
	g_assert_nonnull(cardea_module_check(&p.info, CARDEA_MODULE_PLUGIN));
	p = good_plugin(); p.info.signature = "cardea-abi:1:p4:l4:i4:s4";
	g_assert_nonnull(strstr(cardea_module_check(&p.info, CARDEA_MODULE_PLUGIN), "signature"));
	p = good_plugin(); p.info.signature = NULL;
	g_assert_nonnull(cardea_module_check(&p.info, CARDEA_MODULE_PLUGIN));
	p = good_plugin(); p.info.struct_size = 16;
	g_assert_nonnull(strstr(cardea_module_check(&p.info, CARDEA_MODULE_PLUGIN), "too small"));
	/* A module built against a newer minor (bigger struct) is fine. */
	p = good_plugin(); p.info.struct_size = sizeof(cardea_plugin) + 64;
	g_assert_null(cardea_module_check(&p.info, CARDEA_MODULE_PLUGIN));
	p = good_plugin(); p.handle_message = NULL;
	g_assert_nonnull(strstr(cardea_module_check(&p.info, CARDEA_MODULE_PLUGIN), "mandatory"));
	p = good_plugin(); p.info.package = "";
	g_assert_nonnull(cardea_module_check(&p.info, CARDEA_MODULE_PLUGIN));
	p = good_plugin(); p.info.name = "../etc";
	g_assert_nonnull(cardea_module_check(&p.info, CARDEA_MODULE_PLUGIN));
}

static char *plugin_so(const char *name) {
	return g_build_filename(g_getenv("G_TEST_BUILDDIR") ? g_getenv("G_TEST_BUILDDIR") : ".",
		"..", "plugins", ".libs", name, NULL);
}

static void copy_file(const char *from, const char *to) {
	gchar *data = NULL;
	gsize len = 0;
	g_assert_true(g_file_get_contents(from, &data, &len, NULL));
	g_assert_true(g_file_set_contents(to, data, (gssize)len, NULL));
	g_free(data);
}

typedef struct folder {
	char *dir;
	char *plugins;
	char *configs;
} folder;

static void folder_init(folder *f) {
	f->dir = g_dir_make_tmp("cardea-modules-XXXXXX", NULL);
	g_assert_nonnull(f->dir);
	f->plugins = g_build_filename(f->dir, "plugins", NULL);
	f->configs = g_build_filename(f->dir, "conf", NULL);
	g_mkdir(f->plugins, 0700);
	g_mkdir(f->configs, 0700);
}

static void folder_add(folder *f, const char *built, const char *as) {
	char *src = plugin_so(built);
	char *dst = g_build_filename(f->plugins, as, NULL);
	copy_file(src, dst);
	g_free(src);
	g_free(dst);
}

static void folder_config(folder *f, const char *name, const char *text) {
	char *path = g_build_filename(f->configs, name, NULL);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	g_free(path);
}

static void folder_clear(folder *f) {
	GDir *d;
	const char *n;
	char *dirs[] = { f->plugins, f->configs };
	for (int i = 0; i < 2; i++) {
		d = g_dir_open(dirs[i], 0, NULL);
		while ((n = g_dir_read_name(d)) != NULL) {
			char *p = g_build_filename(dirs[i], n, NULL);
			g_unlink(p);
			g_free(p);
		}
		g_dir_close(d);
		g_rmdir(dirs[i]);
	}
	g_rmdir(f->dir);
	g_free(f->dir);
	g_free(f->plugins);
	g_free(f->configs);
}

static cardea_plugin_core dummy_core;

static void test_load_folder(void) {
	folder f;
	folder_init(&f);
	folder_add(&f, "cardea_plugin_test.so", "a_test.so");
	folder_add(&f, "cardea_plugin_test.so", "b_duplicate.so");   /* same package again: refused */
	folder_add(&f, "not_module.so", "c_foreign.so");             /* no entry symbol: skipped */
	folder_add(&f, "old_abi.so", "d_old_abi.so");                /* wrong api_version: refused, init never called */
	folder_add(&f, "cardea_plugin_test.so", "e_disabled.so");    /* in the disable list */
	char *junk = g_build_filename(f.plugins, "f_junk.so", NULL);
	g_assert_true(g_file_set_contents(junk, "not an ELF file", -1, NULL));
	g_free(junk);
	GPtrArray *out = g_ptr_array_new();
	char *disable[] = { "e_disabled.so", NULL };
	GError *error = NULL;
	g_assert_true(cardea_modules_load(CARDEA_MODULE_PLUGIN, f.plugins, disable, &dummy_core, f.configs, out, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(out->len, ==, 1);
	cardea_loaded_module *m = g_ptr_array_index(out, 0);
	g_assert_cmpstr(m->filename, ==, "a_test.so");
	g_assert_cmpstr(m->info->package, ==, "cardea.plugin.test");
	g_assert_true(g_str_has_suffix(m->config_path, "cardea.plugin.test.jcfg"));
	/* Optional callbacks are never NULL in ops. */
	g_assert_nonnull(m->ops.plugin.hangup_media);
	g_assert_nonnull(m->ops.plugin.query_session);
	cardea_modules_unload(out);
	g_assert_cmpuint(out->len, ==, 0);

	/* enabled = false in the module's own file skips it. */
	folder_config(&f, "cardea.plugin.test.jcfg", "general: {\n\tenabled = false\n}\n");
	g_assert_true(cardea_modules_load(CARDEA_MODULE_PLUGIN, f.plugins, disable, &dummy_core, f.configs, out, &error));
	g_assert_cmpuint(out->len, ==, 0);

	/* A module config that does not parse stops start-up with FILE:LINE. */
	folder_config(&f, "cardea.plugin.test.jcfg", "general: {\n\tenabled = \n}\n");
	g_assert_false(cardea_modules_load(CARDEA_MODULE_PLUGIN, f.plugins, disable, &dummy_core, f.configs, out, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "cardea.plugin.test.jcfg:3"));
	g_clear_error(&error);
	g_assert_cmpuint(out->len, ==, 0);

	/* A missing folder is not fatal. */
	g_assert_true(cardea_modules_load(CARDEA_MODULE_PLUGIN, "/nonexistent/folder", NULL, &dummy_core, f.configs, out, &error));
	g_ptr_array_free(out, TRUE);
	folder_clear(&f);
}

int main(int argc, char *argv[]) {
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/modules/check", test_check);
	g_test_add_func("/modules/load-folder", test_load_folder);
	return g_test_run();
}

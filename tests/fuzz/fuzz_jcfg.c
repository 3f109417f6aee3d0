/* .jcfg loading: the input is written to a temp file and loaded the way the
 * daemon and modules do (cardea_config_load), every section and key is read
 * with each typed getter, and the same file goes through the daemon's own
 * settings loader (core/settings.c). cardea_config_load_string runs on the
 * same bytes and must agree with the file loader. */
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include "cardea/config.h"
#include "settings.h"
#include "log.h"
#include "fuzz-util.h"

static char *dir, *path;

/* The settings loader resolves nat.stun_server / turn_server host names at
 * load time. A fuzzer must not wait on DNS (seconds per input, and network
 * traffic): this program's getaddrinfo takes numeric addresses only, so a
 * host name fails to resolve at once, as it would offline. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
	static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	if (real == NULL)
		real = (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(RTLD_NEXT,
			"getaddrinfo");
	struct addrinfo h = { 0 };
	if (hints)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

static void cleanup(void) {
	g_unlink(path);
	g_rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
	/* The input file is rewritten for every input. On a disk file system
	 * (ext4 here: /tmp is on the root disk) truncating and rewriting it
	 * starts a writeback at close (auto_da_alloc) and a discard, which took
	 * more than half the time of an input: /dev/shm (tmpfs) when there is
	 * one. */
	char *in_memory = g_build_filename("/dev/shm", "cardea-fuzz-jcfg-XXXXXX", NULL);
	dir = g_mkdtemp(in_memory);
	if (dir == NULL) {
		g_free(in_memory);
		dir = g_dir_make_tmp("cardea-fuzz-jcfg-XXXXXX", NULL);
	}
	FUZZ_CHECK(dir != NULL);
	path = g_build_filename(dir, "cardea.jcfg", NULL);
	atexit(cleanup);
	/* Unknown keys are warned about: keep the fuzzer's output readable. */
	cardea_log_set_level(0);
	return 0;
}

static void read_all(const cardea_config *cfg) {
	static const char *const choices[] = { "udp", "tcp", "tls", NULL };
	gchar **sections = cardea_config_list_sections(cfg);
	for (int pass = 0; pass < 2; pass++) {
		/* Pass 0: top-level keys (section NULL); pass 1: each section. */
		for (guint s = 0; pass == 0 ? s < 1 : sections && sections[s]; s++) {
			const char *section = pass == 0 ? NULL : sections[s];
			cardea_config_line(cfg, section, NULL);
			gchar **keys = cardea_config_list_keys(cfg, section);
			for (guint k = 0; keys && keys[k]; k++) {
				GError *e = NULL;
				char *str = NULL, **list = NULL;
				gint64 n;
				gboolean b;
				int idx;
				FUZZ_CHECK(cardea_config_has(cfg, section, keys[k]));
				cardea_config_line(cfg, section, keys[k]);
				if (cardea_config_get_string(cfg, section, keys[k], NULL, &str, &e))
					g_free(str);
				g_clear_error(&e);
				cardea_config_get_int(cfg, section, keys[k], 0, G_MININT64, G_MAXINT64, &n, &e);
				g_clear_error(&e);
				cardea_config_get_int(cfg, section, keys[k], 0, 1, 65535, &n, &e);
				g_clear_error(&e);
				cardea_config_get_bool(cfg, section, keys[k], FALSE, &b, &e);
				g_clear_error(&e);
				if (cardea_config_get_list(cfg, section, keys[k], &list, &e))
					g_strfreev(list);
				g_clear_error(&e);
				cardea_config_get_choice(cfg, section, keys[k], NULL, choices, &idx, &e);
				g_clear_error(&e);
			}
			static const char *const known[] = { "enabled", "events", NULL };
			cardea_config_warn_unknown(cfg, section, known);
			g_strfreev(keys);
		}
	}
	g_strfreev(sections);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	GError *error = NULL;
	/* A plain write: g_file_set_contents() fsyncs, which would dominate. */
	FILE *f = fopen(path, "wb");
	FUZZ_CHECK(f != NULL && fwrite(data, 1, size, f) == size && fclose(f) == 0);

	cardea_config *cfg = cardea_config_load(path, &error);
	/* The text loader sees the same bytes (up to a NUL, as a C string). */
	gboolean has_nul = memchr(data, 0, size) != NULL;
	char *text = g_strndup((const char *)data, size);
	GError *error2 = NULL;
	cardea_config *cfg2 = cardea_config_load_string("fuzz.jcfg", text, &error2);
	g_free(text);
	if (!has_nul)
		FUZZ_CHECK((cfg == NULL) == (cfg2 == NULL));
	if (cfg == NULL) {
		FUZZ_CHECK(error != NULL && error->message != NULL);
		g_clear_error(&error);
	} else {
		read_all(cfg);
		cardea_config_free(cfg);
	}
	g_clear_error(&error2);
	if (cfg2)
		cardea_config_free(cfg2);

	cardea_settings s;
	cardea_settings_defaults(&s, dir, dir, dir);
	if (!cardea_settings_load(&s, path, TRUE, &error)) {
		FUZZ_CHECK(error != NULL);
		g_clear_error(&error);
	}
	cardea_settings_clear(&s);
	return 0;
}

/* The .mjr recorder of the SDK (cardea/record.h): the format, the threading
 * contract and why writes are buffered stdio on the media thread are in the
 * header comment. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>

#include "cardea/record.h"

#ifndef CARDEA_DEFAULT_RECDIR
#define CARDEA_DEFAULT_RECDIR "/var/lib/cardea/recordings"
#endif

#define MJR_MAGIC "MJR00002"
#define MJR_FRAME "MEET"
#define WRITE_BUFFER (64 * 1024)

struct cardea_recorder {
	FILE *file;                     /* owned; NULL once failed or closed */
	char *path;                     /* owned */
	char *codec, *fmtp;             /* owned; fmtp may be NULL */
	cardea_recorder_type type;
	gint64 created;                 /* wall clock µs: the info's "s" */
	gint64 first_mono;              /* monotonic µs of the first packet, 0: none yet */
	uint64_t packets;
	bool failed;
	char buffer[WRITE_BUFFER];      /* the FILE's buffer (setvbuf): no allocation per write */
};

const char *cardea_recorder_default_dir(void) {
	return CARDEA_DEFAULT_RECDIR;
}

bool cardea_recorder_name_valid(const char *name) {
	if (name == NULL || *name == '\0' || strlen(name) > 255 || name[0] == '/')
		return false;
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
			return false;
	gchar **parts = g_strsplit(name, "/", -1);
	bool ok = true;
	for (int i = 0; ok && parts[i]; i++)
		ok = strcmp(parts[i], ".") != 0 && strcmp(parts[i], "..") != 0 && parts[i][0] != '\0';
	g_strfreev(parts);
	return ok;
}

static void fail(cardea_recorder *rec, int err) {
	if (rec->failed)
		return;
	rec->failed = true;
	CARDEA_LOG(CARDEA_LOG_ERR, "[recorder] writing %s failed after %" G_GUINT64_FORMAT " packets: %s; recording stopped",
		rec->path, rec->packets, g_strerror(err));
	if (rec->file) {
		fclose(rec->file);          /* may fail again (same error): already logged */
		rec->file = NULL;
	}
}

cardea_recorder *cardea_recorder_open(const char *dir, const char *name, cardea_recorder_type type,
		const char *codec, const char *fmtp, GError **error) {
	if (name == NULL || *name == '\0' || codec == NULL || *codec == '\0' || type > CARDEA_RECORDER_DATA) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "recorder: missing name or codec");
		return NULL;
	}
	if (dir == NULL || *dir == '\0')
		dir = cardea_recorder_default_dir();
	const char *ext = g_str_has_suffix(name, ".mjr") ? "" : ".mjr";
	char *base = g_strconcat(name, ext, NULL);
	char *path = g_path_is_absolute(base) ? g_strdup(base) : g_build_filename(dir, base, NULL);
	g_free(base);
	char *folder = g_path_get_dirname(path);
	if (g_mkdir_with_parents(folder, 0755) != 0) {
		int err = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "can't create folder %s: %s",
			folder, g_strerror(err));
		g_free(folder);
		g_free(path);
		return NULL;
	}
	g_free(folder);
	FILE *f = g_fopen(path, "wb");
	if (f == NULL) {
		int err = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "can't open %s: %s", path, g_strerror(err));
		g_free(path);
		return NULL;
	}
	cardea_recorder *rec = g_new0(cardea_recorder, 1);
	rec->file = f;
	rec->path = path;
	rec->type = type;
	rec->codec = g_ascii_strdown(codec, -1);
	rec->fmtp = fmtp && *fmtp ? g_strdup(fmtp) : NULL;
	rec->created = g_get_real_time();
	setvbuf(f, rec->buffer, _IOFBF, sizeof(rec->buffer));
	/* The magic goes out now (a file without packets is just that, as with
	 * Janus); the info line waits for the first packet's time. */
	if (fwrite(MJR_MAGIC, 1, 8, f) != 8)
		fail(rec, errno);
	return rec;
}

/* The JSON info line with its length prefix: once, at the first packet. */
static bool write_info(cardea_recorder *rec, gint64 now_real) {
	static const char *const types[] = { "a", "v", "d" };
	json_t *info = json_pack("{s:s, s:s}", "t", types[rec->type], "c", rec->codec);
	if (rec->fmtp)
		json_object_set_new(info, "f", json_string(rec->fmtp));
	json_object_set_new(info, "s", json_integer(rec->created));
	json_object_set_new(info, "u", json_integer(now_real));
	char *text = json_dumps(info, JSON_PRESERVE_ORDER);
	json_decref(info);
	size_t n = text ? strlen(text) : 0;
	bool ok = false;
	if (n > 0 && n <= G_MAXUINT16) {
		uint8_t len[2] = { (uint8_t)(n >> 8), (uint8_t)n };
		ok = fwrite(len, 1, 2, rec->file) == 2 && fwrite(text, 1, n, rec->file) == n;
		if (!ok)
			fail(rec, errno);
	} else {
		fail(rec, EINVAL);
	}
	free(text);
	return ok;
}

/* One frame: "MEET", ms since the first packet, length, then `pre` (the
 * data recorders' time) and the bytes. */
static int save(cardea_recorder *rec, const uint8_t *pre, size_t pre_len, const uint8_t *data, size_t len) {
	if (rec == NULL || rec->file == NULL)
		return -1;
	gint64 mono = g_get_monotonic_time();
	if (rec->first_mono == 0) {
		if (!write_info(rec, g_get_real_time()))
			return -1;
		rec->first_mono = mono;
	}
	uint32_t ms = (uint32_t)((mono - rec->first_mono) / 1000);
	size_t total = pre_len + len;
	errno = 0;
	uint8_t head[10] = { 'M', 'E', 'E', 'T', (uint8_t)(ms >> 24), (uint8_t)(ms >> 16), (uint8_t)(ms >> 8),
		(uint8_t)ms, (uint8_t)(total >> 8), (uint8_t)total };
	if (fwrite(head, 1, sizeof(head), rec->file) != sizeof(head) ||
			(pre_len && fwrite(pre, 1, pre_len, rec->file) != pre_len) ||
			fwrite(data, 1, len, rec->file) != len) {
		fail(rec, errno ? errno : EIO);
		return -1;
	}
	rec->packets++;
	return 0;
}

int cardea_recorder_save_rtp(cardea_recorder *rec, const uint8_t *packet, size_t len) {
	if (rec == NULL || rec->type == CARDEA_RECORDER_DATA || packet == NULL || len < 12 || len > G_MAXUINT16 ||
			(packet[0] >> 6) != 2)
		return -1;
	return save(rec, NULL, 0, packet, len);
}

int cardea_recorder_save_data(cardea_recorder *rec, const uint8_t *data, size_t len) {
	if (rec == NULL || rec->type != CARDEA_RECORDER_DATA || data == NULL || len == 0 || len > G_MAXUINT16 - 8)
		return -1;
	uint64_t now = (uint64_t)g_get_real_time();
	uint8_t when[8];
	for (int i = 0; i < 8; i++)
		when[i] = (uint8_t)(now >> (56 - 8 * i));
	return save(rec, when, sizeof(when), data, len);
}

void cardea_recorder_close(cardea_recorder *rec) {
	if (rec == NULL)
		return;
	if (rec->file) {
		/* The last buffered bytes hit the disk here: a full disk shows now. */
		if (fclose(rec->file) != 0) {
			rec->file = NULL;
			fail(rec, errno);
		}
		rec->file = NULL;
	}
	CARDEA_LOG(CARDEA_LOG_VERB, "[recorder] closed %s (%" G_GUINT64_FORMAT " packets)", rec->path, rec->packets);
	g_free(rec->path);
	g_free(rec->codec);
	g_free(rec->fmtp);
	g_free(rec);
}

const char *cardea_recorder_path(const cardea_recorder *rec) {
	return rec ? rec->path : NULL;
}

uint64_t cardea_recorder_packets(const cardea_recorder *rec) {
	return rec ? rec->packets : 0;
}

bool cardea_recorder_failed(const cardea_recorder *rec) {
	return rec ? rec->failed : true;
}

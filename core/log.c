/* One line per call, written with a single fwrite so lines from different
 * threads never interleave. Timestamps are wall-clock for humans. */
#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include "log.h"

volatile int cardea_log_level = CARDEA_LOG_INFO;

static const char *const level_tags[] = {
	"", "[FATAL] ", "[ERR] ", "[WARN] ", "", "", "", "[DBG] ",
};

void cardea_log_set_level(int level) {
	if (level < CARDEA_LOG_NONE)
		level = CARDEA_LOG_NONE;
	if (level > CARDEA_LOG_DBG)
		level = CARDEA_LOG_DBG;
	g_atomic_int_set(&cardea_log_level, level);
}

int cardea_log_get_level(void) {
	return g_atomic_int_get(&cardea_log_level);
}

void cardea_log_write(int level, const char *format, ...) {
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	int off = (int)strftime(line, sizeof(line), "[%H:%M:%S", &tm);
	off += snprintf(line + off, sizeof(line) - off, ".%03ld] %s", ts.tv_nsec / 1000000,
		(level >= 0 && level <= CARDEA_LOG_DBG) ? level_tags[level] : "");
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(line + off, sizeof(line) - off - 1, format, ap);
	va_end(ap);
	size_t len = (n < 0) ? (size_t)off : MIN((size_t)off + (size_t)n, sizeof(line) - 2);
	/* Callers may or may not end with a newline: normalise to exactly one. */
	while (len > 0 && line[len - 1] == '\n')
		len--;
	line[len++] = '\n';
	FILE *out = level <= CARDEA_LOG_ERR ? stderr : stdout;
	fwrite(line, 1, len, out);
	fflush(out);
}

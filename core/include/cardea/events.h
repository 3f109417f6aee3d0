/* Cardea SDK: events modules (webhooks, metrics exporters).
 *
 * The core hands every loaded events module a stream of typed events:
 * {"type": "session.created", "timestamp": <µs since epoch>, "session_id": N,
 *  "handle_id": N?, "data": {...}}. incoming_event() is called from whichever
 * core/plugin thread produced the event and must not block: queue it and
 * return.
 */
#ifndef CARDEA_EVENTS_H
#define CARDEA_EVENTS_H

#include <stdbool.h>
#include <jansson.h>
#include "cardea/module.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cardea_events_core {
	const char *configs_folder;
	void *_reserved[8];
} cardea_events_core;

typedef struct cardea_events {
	cardea_module_info info;
	int (*init)(const cardea_events_core *core, const char *config_path);
	void (*destroy)(void);
	/* `event` is borrowed: json_incref it to keep it. */
	void (*incoming_event)(json_t *event);
	/* Optional: admin query_eventhandler. Returns a new reference or NULL. */
	json_t *(*handle_request)(json_t *request);
	/* Optional: false when the module is installed but not configured (no
	 * config file): the core then neither counts it nor feeds it events.
	 * Read once after init. NULL = always active. */
	bool (*is_active)(void);
	void *_reserved[7];
} cardea_events;

#ifdef __cplusplus
}
#endif
#endif

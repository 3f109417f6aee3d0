/* The Admin/Monitor API (janus-api.md §6). Runs on the API thread. */
#ifndef CARDEA_ADMIN_H
#define CARDEA_ADMIN_H

#include "api.h"

/* Handles one admin request whose envelope is already valid. */
void cardea_admin_handle(const cardea_api_ctx *ctx, json_t *root, const cardea_api_envelope *env);

#endif

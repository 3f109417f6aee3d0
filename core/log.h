/* Daemon-side logging set-up. Modules use CARDEA_LOG from cardea/module.h. */
#ifndef CARDEA_LOG_PRIV_H
#define CARDEA_LOG_PRIV_H

#include "cardea/module.h"

void cardea_log_set_level(int level);
int cardea_log_get_level(void);

#endif

/* The SDP model is part of the plugin SDK (plugins build their answers and
 * offers with it); core files keep including it by this path. */
#include "cardea/sdp.h"

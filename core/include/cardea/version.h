/* Cardea SDK: version numbers and the module ABI signature.
 *
 * A module is accepted only when all three axes match (STYLE.md rule 5):
 *   - CARDEA_API_VERSION: the ABI major; bumped only when an existing struct
 *     member changes meaning or moves. Adding a callback uses a reserved slot
 *     and does not bump it.
 *   - struct_size: each module struct records the size it was built with, so
 *     the core knows which trailing slots a module filled in.
 *   - CARDEA_BUILD_SIGNATURE: basic type sizes, so a module built for another
 *     data model is refused instead of crashing.
 */
#ifndef CARDEA_VERSION_H
#define CARDEA_VERSION_H

#define CARDEA_VERSION_MAJOR 0
#define CARDEA_VERSION_MINOR 1
#define CARDEA_VERSION_PATCH 0
#define CARDEA_VERSION_STRING "0.1.0"
/* Same encoding as Janus's "version" in server_info (1.1.2 -> 1102). */
#define CARDEA_VERSION_NUMBER (CARDEA_VERSION_MAJOR * 1000 + CARDEA_VERSION_MINOR * 100 + CARDEA_VERSION_PATCH)

#define CARDEA_API_VERSION 1

#define CARDEA_STR_(x) #x
#define CARDEA_STR(x) CARDEA_STR_(x)
#define CARDEA_BUILD_SIGNATURE \
	"cardea-abi:" CARDEA_STR(CARDEA_API_VERSION) \
	":p" CARDEA_STR(__SIZEOF_POINTER__) \
	":l" CARDEA_STR(__SIZEOF_LONG__) \
	":i" CARDEA_STR(__SIZEOF_INT__) \
	":s" CARDEA_STR(__SIZEOF_SIZE_T__)

#endif

/* See http-post.h. */
#include <string.h>
#include <curl/curl.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include "http-post.h"

#define MAX_RESPONSE (1024 * 1024)

struct cardea_http_poster {
	CURL *curl;
};

void cardea_http_post_global_init(void) {
	/* Idempotent in libcurl >= 7.84 and refcounted before: safe to call per module. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

cardea_http_poster *cardea_http_poster_new(void) {
	cardea_http_poster *p = g_new0(cardea_http_poster, 1);
	p->curl = curl_easy_init();
	return p;
}

void cardea_http_poster_free(cardea_http_poster *p) {
	if (p == NULL)
		return;
	if (p->curl)
		curl_easy_cleanup(p->curl);
	g_free(p);
}

char *cardea_hmac_sha256_hex(const char *key, const char *data, size_t len) {
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)data, len, mac, &mac_len) == NULL)
		return NULL;
	GString *hex = g_string_sized_new(mac_len * 2);
	for (unsigned int i = 0; i < mac_len; i++)
		g_string_append_printf(hex, "%02x", mac[i]);
	return g_string_free(hex, FALSE);
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *data) {
	GString *buf = data;
	size_t n = size * nmemb;
	if (buf->len + n > MAX_RESPONSE)
		return 0;     /* aborts the transfer: an answer that big is garbage */
	g_string_append_len(buf, ptr, (gssize)n);
	return n;
}

cardea_post_result cardea_http_post(cardea_http_poster *p, const char *url, const char *body,
		const char *secret, long timeout_ms, char **response, long *status, char **error) {
	*response = NULL;
	*status = 0;
	*error = NULL;
	if (p == NULL || p->curl == NULL) {
		*error = g_strdup("no HTTP client");
		return CARDEA_POST_UNREACHABLE;
	}
	CURL *c = p->curl;
	/* Reset options but keep the connection cache of the handle. */
	curl_easy_reset(c);
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");
	if (secret && *secret) {
		char *mac = cardea_hmac_sha256_hex(secret, body, strlen(body));
		char *h = g_strdup_printf("X-Cardea-Signature: sha256=%s", mac ? mac : "");
		headers = curl_slist_append(headers, h);
		g_free(h);
		g_free(mac);
	}
	GString *buf = g_string_new(NULL);
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);   /* we run on worker threads */
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cardea");
	CURLcode rc = curl_easy_perform(c);
	curl_slist_free_all(headers);
	cardea_post_result result;
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		result = CARDEA_POST_TIMEOUT;
		*error = g_strdup_printf("timeout after %ld ms", timeout_ms);
	} else if (rc != CURLE_OK) {
		result = CARDEA_POST_UNREACHABLE;
		*error = g_strdup(errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		result = (*status >= 200 && *status < 300) ? CARDEA_POST_OK : CARDEA_POST_HTTP_ERROR;
		if (result != CARDEA_POST_OK)
			*error = g_strdup_printf("HTTP status %ld", *status);
	}
	*response = g_string_free(buf, FALSE);
	return result;
}

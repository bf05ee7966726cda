// File: curl_api.h (private to libmcp)
//
// libcurl, loaded when the first HTTP client transport is made rather than at program start:
// libcurl and the thirty-odd libraries Debian's build of it depends on (TLS, Kerberos, LDAP,
// SSH, RTMP, …) cost a gateway that serves only local servers ~4 MiB of resident memory and
// a third of its start-up time. The declarations come from <curl/curl.h>; the code from
// libcurl.so.4, through dlopen.
//
//   MCPGW_RETURN_IF_ERROR(LoadCurl());   // before the first use; the error says what to install
//   CURL* easy = Curl().easy_init();
#pragma once

#include <curl/curl.h>

#include "absl/status/status.h"

namespace mcpgw::mcp::http_client_internal {

struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_free) free;
  decltype(&::curl_multi_init) multi_init;
  decltype(&::curl_multi_cleanup) multi_cleanup;
  decltype(&::curl_multi_add_handle) multi_add_handle;
  decltype(&::curl_multi_remove_handle) multi_remove_handle;
  decltype(&::curl_multi_perform) multi_perform;
  decltype(&::curl_multi_poll) multi_poll;
  decltype(&::curl_multi_wakeup) multi_wakeup;
  decltype(&::curl_multi_timeout) multi_timeout;
  decltype(&::curl_multi_info_read) multi_info_read;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::curl_url) url;
  decltype(&::curl_url_cleanup) url_cleanup;
  decltype(&::curl_url_get) url_get;
  decltype(&::curl_url_set) url_set;
  decltype(&::curl_version_info) version_info;
};

// LoadCurl loads libcurl.so.4 and runs curl_global_init, once; later calls return the first
// outcome. Thread-safe.
absl::Status LoadCurl();

// Curl is the loaded API. Only after LoadCurl succeeded.
const CurlApi& Curl();

}  // namespace mcpgw::mcp::http_client_internal

#include "curl_api.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"

namespace mcpgw::mcp::http_client_internal {
namespace {

// The library's soname (libcurl's ABI has been 4 since 2006).
constexpr char kLibrary[] = "libcurl.so.4";
constexpr char kMinimumVersion[] = "7.80";

CurlApi g_api;

template <typename Fn>
bool Bind(void* library, const char* name, Fn& fn, std::string& missing) {
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) {
    absl::StrAppend(&missing, missing.empty() ? "" : ", ", name);
    return false;
  }
  fn = reinterpret_cast<Fn>(symbol);
  return true;
}

absl::Status Load() {
  void* library = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    return absl::FailedPreconditionError(absl::StrCat(
        "HTTP transports need libcurl, which could not be loaded (", why != nullptr ? why : kLibrary,
        "): install it (Debian: apt-get install libcurl4)"));
  }
  std::string missing;
  bool all = true;
  all &= Bind(library, "curl_global_init", g_api.global_init, missing);
  all &= Bind(library, "curl_easy_init", g_api.easy_init, missing);
  all &= Bind(library, "curl_easy_cleanup", g_api.easy_cleanup, missing);
  all &= Bind(library, "curl_easy_setopt", g_api.easy_setopt, missing);
  all &= Bind(library, "curl_easy_getinfo", g_api.easy_getinfo, missing);
  all &= Bind(library, "curl_easy_strerror", g_api.easy_strerror, missing);
  all &= Bind(library, "curl_free", g_api.free, missing);
  all &= Bind(library, "curl_multi_init", g_api.multi_init, missing);
  all &= Bind(library, "curl_multi_cleanup", g_api.multi_cleanup, missing);
  all &= Bind(library, "curl_multi_add_handle", g_api.multi_add_handle, missing);
  all &= Bind(library, "curl_multi_remove_handle", g_api.multi_remove_handle, missing);
  all &= Bind(library, "curl_multi_perform", g_api.multi_perform, missing);
  all &= Bind(library, "curl_multi_poll", g_api.multi_poll, missing);
  all &= Bind(library, "curl_multi_wakeup", g_api.multi_wakeup, missing);
  all &= Bind(library, "curl_multi_timeout", g_api.multi_timeout, missing);
  all &= Bind(library, "curl_multi_info_read", g_api.multi_info_read, missing);
  all &= Bind(library, "curl_slist_append", g_api.slist_append, missing);
  all &= Bind(library, "curl_slist_free_all", g_api.slist_free_all, missing);
  all &= Bind(library, "curl_url", g_api.url, missing);
  all &= Bind(library, "curl_url_cleanup", g_api.url_cleanup, missing);
  all &= Bind(library, "curl_url_get", g_api.url_get, missing);
  all &= Bind(library, "curl_url_set", g_api.url_set, missing);
  all &= Bind(library, "curl_version_info", g_api.version_info, missing);
  if (!all) {
    // The library stays loaded: a handle closed while another thread resolves is not worth it.
    return absl::FailedPreconditionError(absl::StrCat(
        kLibrary, " lacks ", missing, ": HTTP transports need libcurl ", kMinimumVersion,
        " or newer"));
  }
  // CURLOPT_PREREQFUNCTION (the response timeout starts when a request is sent) is 7.80's.
  const curl_version_info_data* info = g_api.version_info(CURLVERSION_NOW);
  if (info == nullptr || info->version_num < 0x075000) {
    return absl::FailedPreconditionError(absl::StrCat(
        "HTTP transports need libcurl ", kMinimumVersion, " or newer; this one is ",
        info != nullptr && info->version != nullptr ? info->version : "unknown"));
  }
  CURLcode init = g_api.global_init(CURL_GLOBAL_DEFAULT);
  if (init != CURLE_OK) {
    return absl::InternalError(
        absl::StrCat("curl_global_init failed: ", g_api.easy_strerror(init)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadCurl() {
  static std::once_flag once;
  static absl::Status* loaded = nullptr;  // never freed: read at any time, exit included
  std::call_once(once, [] { loaded = new absl::Status(Load()); });
  return *loaded;
}

const CurlApi& Curl() { return g_api; }

}  // namespace mcpgw::mcp::http_client_internal

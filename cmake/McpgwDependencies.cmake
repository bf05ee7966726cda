# Every dependency comes from a Debian package through find_package; nothing is fetched.
find_package(absl REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(RapidJSON REQUIRED)
find_package(Threads REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(cxxopts REQUIRED)
find_package(Boost 1.74 REQUIRED)

# RapidJSON's package config only sets RAPIDJSON_INCLUDE_DIRS; give it a target that also turns
# on std::string support, so every user compiles it the same way.
if(NOT TARGET mcpgw_rapidjson)
  add_library(mcpgw_rapidjson INTERFACE)
  set_target_properties(mcpgw_rapidjson PROPERTIES EXPORT_NAME rapidjson)
  target_compile_definitions(mcpgw_rapidjson INTERFACE RAPIDJSON_HAS_STDSTRING=1)
  if(RAPIDJSON_INCLUDE_DIRS)
    target_include_directories(mcpgw_rapidjson SYSTEM INTERFACE
      $<BUILD_INTERFACE:${RAPIDJSON_INCLUDE_DIRS}>)
  endif()
  add_library(mcpgw::rapidjson ALIAS mcpgw_rapidjson)
  install(TARGETS mcpgw_rapidjson EXPORT mcpgwTargets)
endif()

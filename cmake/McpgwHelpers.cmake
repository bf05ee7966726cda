# Build settings shared by every mcpgw target, and the helpers that create them.

# Warnings apply to our own targets only (never to consumers): linked through BUILD_INTERFACE.
add_library(mcpgw_warnings INTERFACE)
target_compile_options(mcpgw_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(MCPGW_WERROR)
  target_compile_options(mcpgw_warnings INTERFACE -Werror)
endif()

if(MCPGW_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()


# mcpgw_add_library(NAME SRCS ... PUBLIC_DEPS ... PRIVATE_DEPS ...)
# Creates the static library mcpgw_<NAME>, exported as mcpgw::<NAME>, with public headers in
# <dir>/include/mcpgw/<NAME>/.
function(mcpgw_add_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(target mcpgw_${name})
  add_library(${target} STATIC ${ARG_SRCS})
  add_library(mcpgw::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME mcpgw_${name}
    POSITION_INDEPENDENT_CODE ON)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(${target}
    PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${target}
    PUBLIC ${ARG_PUBLIC_DEPS}
    PRIVATE ${ARG_PRIVATE_DEPS} $<BUILD_INTERFACE:mcpgw_warnings>)
  install(TARGETS ${target} EXPORT mcpgwTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/include/*.h)
  foreach(h ${headers})
    set_property(GLOBAL APPEND PROPERTY MCPGW_PUBLIC_HEADERS "${target}|${h}")
  endforeach()
endfunction()

# mcpgw_add_test(NAME SRCS ... DEPS ...): one gtest binary, its cases discovered by ctest.
function(mcpgw_add_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main
    $<BUILD_INTERFACE:mcpgw_warnings>)
  set(labels unit)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${labels}" TIMEOUT 120)
endfunction()

# A library of one generated .cc per public header: each header must compile on its own.
function(mcpgw_check_headers)
  set(srcs "")
  set(libs "")
  get_property(entries GLOBAL PROPERTY MCPGW_PUBLIC_HEADERS)
  foreach(entry ${entries})
    string(REPLACE "|" ";" parts "${entry}")
    list(GET parts 0 target)
    list(GET parts 1 header)
    string(MAKE_C_IDENTIFIER "${header}" id)
    set(src ${CMAKE_BINARY_DIR}/check_headers/${id}.cc)
    file(CONFIGURE OUTPUT ${src} CONTENT "#include \"${header}\"\n")
    list(APPEND srcs ${src})
    list(APPEND libs ${target})
  endforeach()
  list(REMOVE_DUPLICATES libs)
  add_library(mcpgw_check_headers OBJECT EXCLUDE_FROM_ALL ${srcs})
  target_link_libraries(mcpgw_check_headers PRIVATE ${libs} mcpgw_warnings)
endfunction()

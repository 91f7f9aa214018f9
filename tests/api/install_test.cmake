# cmake -P script (see CMakeLists.txt here): installs the built project into a fresh
# prefix, checks what was installed, builds examples/ against the installed package with
# find_package(tandem) and with pkg-config, and runs both builds on stories260K, whose
# greedy continuation must be llama.cpp's (shared/golden/stories260K.json).
cmake_minimum_required(VERSION 3.19)  # string(JSON)

foreach(v BUILD_DIR SOURCE_DIR WORK_DIR DATA_DIR LIBDIR INCLUDEDIR GENERATOR C_COMPILER PKG_CONFIG NM)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "install_test.cmake: -D${v}=... is missing")
  endif()
endforeach()

# run(<out-var> <step name> COMMAND...): runs a command; fails the test with its output
# when it exits nonzero; stores its stdout in <out-var>.
function(run out_var step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "${step} failed (exit ${rc}):\n  ${cmd}\n--- stdout\n${out}\n--- stderr\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
set(libdir "${prefix}/${LIBDIR}")

# ---- install: the two components of libtandem (nothing else of the project is needed)
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
foreach(component tandem_runtime tandem_development)
  run(_ "install (${component})" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}"
      --component ${component} ${config_args})
endforeach()

foreach(f "${INCLUDEDIR}/tandem/tandem.h" "${LIBDIR}/libtandem.so" "${LIBDIR}/cmake/tandem/tandemConfig.cmake"
          "${LIBDIR}/cmake/tandem/tandemConfigVersion.cmake" "${LIBDIR}/cmake/tandem/tandemTargets.cmake"
          "${LIBDIR}/pkgconfig/tandem.pc")
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "not installed: ${prefix}/${f}")
  endif()
endforeach()
# One library, no internal static libraries, no engine headers.
file(GLOB_RECURSE archives "${prefix}/*.a")
if(archives)
  message(FATAL_ERROR "static libraries were installed: ${archives}")
endif()
file(GLOB_RECURSE headers RELATIVE "${prefix}/${INCLUDEDIR}" "${prefix}/${INCLUDEDIR}/*")
list(FILTER headers EXCLUDE REGEX "^tandem/tandem\\.hp?p?$")
if(headers)
  message(FATAL_ERROR "unexpected headers installed: ${headers}")
endif()
# libtandem exports the C API and nothing else.
run(symbols "nm -D" "${NM}" -D --defined-only "${libdir}/libtandem.so")
string(REGEX MATCHALL "[^\n]+" symbol_lines "${symbols}")
set(n_api 0)
foreach(line IN LISTS symbol_lines)
  if(line MATCHES " tandem_[A-Za-z0-9_]+$")
    math(EXPR n_api "${n_api} + 1")
  else()
    message(FATAL_ERROR "libtandem.so exports a symbol outside the C API: ${line}")
  endif()
endforeach()
if(n_api LESS 10)
  message(FATAL_ERROR "libtandem.so exports only ${n_api} tandem_* symbols:\n${symbols}")
endif()

# ---- examples/ with find_package(tandem): only the fresh prefix may provide it
set(strict_c_flags "-Wall -Wextra -pedantic -Werror")
run(_ "configure examples/" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/examples" -B "${WORK_DIR}/cmake-build"
    -G "${GENERATOR}" "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_C_FLAGS=${strict_c_flags}"
    "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=Release)
file(STRINGS "${WORK_DIR}/cmake-build/CMakeCache.txt" tandem_dir REGEX "^tandem_DIR:")
string(FIND "${tandem_dir}" "${prefix}/" at)
if(at EQUAL -1)
  message(FATAL_ERROR "find_package(tandem) did not use the installed package: ${tandem_dir}")
endif()
run(_ "build examples/" "${CMAKE_COMMAND}" --build "${WORK_DIR}/cmake-build")

# ---- the same example with pkg-config and the C compiler alone
set(ENV{PKG_CONFIG_PATH} "${libdir}/pkgconfig")
run(pc_flags "pkg-config" "${PKG_CONFIG}" --cflags --libs tandem)
string(STRIP "${pc_flags}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
separate_arguments(strict_c_flags UNIX_COMMAND "${strict_c_flags}")
run(_ "cc with pkg-config" "${C_COMPILER}" -std=c99 ${strict_c_flags} "${SOURCE_DIR}/examples/generate.c"
    ${pc_flags} -o "${WORK_DIR}/generate_pc")

# ---- run both on stories260K
if(DEFINED ENV{TANDEM_TEST_DATA})
  set(DATA_DIR "$ENV{TANDEM_TEST_DATA}")
endif()
set(model "${DATA_DIR}/models/stories260K.gguf")
set(golden "${DATA_DIR}/golden/stories260K.json")
if(NOT EXISTS "${model}" OR NOT EXISTS "${golden}")
  message("TANDEM_TEST_SKIPPED: ${model} or ${golden} is missing; installed and built the example, did not run it")
  return()
endif()
file(READ "${golden}" golden_json)
string(JSON prompt GET "${golden_json}" prompts 0 text)
string(JSON n_greedy GET "${golden_json}" prompts 0 greedy n)
string(JSON expected GET "${golden_json}" prompts 0 greedy text)

run(out_cmake "run the find_package build" "${WORK_DIR}/cmake-build/tandem_generate" "${model}" "${prompt}" ${n_greedy})
run(out_pc "run the pkg-config build" "${CMAKE_COMMAND}" -E env "LD_LIBRARY_PATH=${libdir}"
    "${WORK_DIR}/generate_pc" "${model}" "${prompt}" ${n_greedy})
foreach(out IN ITEMS out_cmake out_pc)
  if(NOT "${${out}}" STREQUAL "${expected}\n")
    message(FATAL_ERROR "${out}: the example printed\n[${${out}}]\nbut the golden greedy text is\n[${expected}]")
  endif()
endforeach()
message("installed to ${prefix}; both example builds print the golden continuation of \"${prompt}\"")

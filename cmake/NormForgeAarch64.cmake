# The AArch64 build, driven from the host build: the same source tree configured with the
# cross toolchain, importing the host-built generators (Halide's two-build pattern). Its test
# suite runs under qemu-aarch64 as the ctest entry `aarch64_suite` (label arm), and
# `cmake --install` of the host build also installs its library.
include(ExternalProject)

find_program(NF_AARCH64_CXX aarch64-linux-gnu-g++)
find_program(NF_QEMU_AARCH64 qemu-aarch64)
if (NOT NF_AARCH64_CXX OR NOT NF_QEMU_AARCH64)
  message(FATAL_ERROR "The AArch64 build needs aarch64-linux-gnu-g++ and qemu-aarch64 "
                      "(Debian: g++-aarch64-linux-gnu qemu-user; `make` installs them), "
                      "or configure with -DNF_BUILD_AARCH64=OFF.")
endif ()

set(NF_AARCH64_DIR "${CMAKE_BINARY_DIR}/aarch64")
if (NOT HalideHelpers_DIR)
  get_filename_component(HalideHelpers_DIR "${Halide_DIR}/../HalideHelpers" ABSOLUTE)
endif ()
ExternalProject_Add(normforge_aarch64
  SOURCE_DIR "${CMAKE_SOURCE_DIR}"
  BINARY_DIR "${NF_AARCH64_DIR}"
  CMAKE_ARGS
    -DCMAKE_TOOLCHAIN_FILE=${CMAKE_SOURCE_DIR}/cmake/toolchain-aarch64-linux-gnu.cmake
    -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}
    -DHalideHelpers_DIR=${HalideHelpers_DIR}
    -DNormForgeGenerators_DIR=${CMAKE_BINARY_DIR}/cmake
    -DNF_BUILD_TESTS=${NF_BUILD_TESTS}
  INSTALL_COMMAND ""
  BUILD_ALWAYS ON
  DEPENDS nf_generators
)

if (NF_BUILD_TESTS)
  add_test(NAME aarch64_suite
    COMMAND "${CMAKE_CTEST_COMMAND}" --test-dir "${NF_AARCH64_DIR}" --output-on-failure --timeout 1200 --parallel 2)
  set_tests_properties(aarch64_suite PROPERTIES LABELS "arm" TIMEOUT 3000)
endif ()

install(CODE "execute_process(COMMAND \"${CMAKE_COMMAND}\" --install \"${NF_AARCH64_DIR}\" --prefix \"\${CMAKE_INSTALL_PREFIX}\" COMMAND_ERROR_IS_FATAL ANY)")

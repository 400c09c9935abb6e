# cmake --install <build> --prefix P:
#   P/include/normforge/*.h, P/lib/libnormforge.a (self-contained; the AArch64 build installs
#   P/lib/normforge/aarch64-linux-gnu/libnormforge.a), P/lib/cmake/NormForge/.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY "${CMAKE_SOURCE_DIR}/runtime/include/normforge"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(FILES "${CMAKE_BINARY_DIR}/libnormforge.a" DESTINATION "${CMAKE_INSTALL_LIBDIR}/${NF_LIB_SUBDIR}")
if (TARGET normforge_cli)
  install(TARGETS normforge_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
endif ()

set(NF_CONFIG_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/NormForge")
configure_package_config_file("${CMAKE_SOURCE_DIR}/cmake/NormForgeConfig.cmake.in"
  "${CMAKE_BINARY_DIR}/NormForgeConfig.cmake"
  INSTALL_DESTINATION "${NF_CONFIG_DIR}"
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file("${CMAKE_BINARY_DIR}/NormForgeConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_BINARY_DIR}/NormForgeConfig.cmake"
              "${CMAKE_BINARY_DIR}/NormForgeConfigVersion.cmake"
        DESTINATION "${NF_CONFIG_DIR}")

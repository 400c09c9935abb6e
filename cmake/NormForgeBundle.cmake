# nf_bundle_static(<target> <output.a> <static libs...>): merges static libraries into one
# archive with an `ar -M` script, so consumers link a single self-contained library.
function(nf_bundle_static target output)
  set(script "${CMAKE_CURRENT_BINARY_DIR}/${target}.mri")
  set(content "CREATE ${output}\n")
  foreach (lib IN LISTS ARGN)
    string(APPEND content "ADDLIB $<TARGET_FILE:${lib}>\n")
  endforeach ()
  string(APPEND content "SAVE\nEND\n")
  file(GENERATE OUTPUT "${script}" CONTENT "${content}")
  set(deps "")
  foreach (lib IN LISTS ARGN)
    list(APPEND deps "$<TARGET_FILE:${lib}>")
  endforeach ()
  add_custom_command(OUTPUT "${output}"
    COMMAND "${CMAKE_COMMAND}" -E rm -f "${output}"
    COMMAND "${CMAKE_AR}" -M < "${script}"
    COMMAND "${CMAKE_RANLIB}" "${output}"
    DEPENDS ${ARGN} ${deps} "${script}"
    COMMENT "Bundling ${output}"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS "${output}")
endfunction()

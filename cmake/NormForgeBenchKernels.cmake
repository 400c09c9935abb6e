# Baselines for `normforge bench` (not part of libnormforge.a): the same rms_norm and layer_norm
# generators scheduled by Halide's autoschedulers instead of schedules/, for the same x86
# feature levels. Adams2019 is not here: with Halide 21 it stops with an internal error on both
# pipelines ("4128 4095"), which the bench reports.
set(NF_AUTOSCHEDULERS Mullapudi2016 Li2018)

function(nf_add_autoscheduled_kernels out_libs)
  set(targets "")
  list(JOIN NF_TARGET_FEATURES "-" feats)
  foreach (t IN LISTS NF_X86_TARGETS)
    list(APPEND targets "${t}-${feats}")
  endforeach ()
  set(libs "")
  set(includes "")
  set(rows "")
  foreach (sched IN LISTS NF_AUTOSCHEDULERS)
    foreach (op IN ITEMS rms_norm layer_norm)
      foreach (dtype IN ITEMS f32 bf16)
        set(name "nf_as_${sched}_${op}_${dtype}")
        if (op STREQUAL "rms_norm")
          set(params weight_mode=scale rounding=once)
        else ()
          set(params has_weight=true has_bias=true)
        endif ()
        add_halide_library(${name} FROM NormForge::nf_generators
          GENERATOR ${op}
          FUNCTION_NAME ${name}
          TARGETS ${targets}
          USE_RUNTIME nf_halide_runtime
          AUTOSCHEDULER Halide::${sched}
          PARAMS dtype=${NF_HALIDE_TYPE_${dtype}} ${params})
        list(APPEND libs ${name})
        string(APPEND includes "#include \"${name}.h\"\n")
        string(APPEND rows "    {\"${sched}\", \"${op}\", \"${dtype}\", reinterpret_cast<AnyFn>(&${name})},\n")
      endforeach ()
    endforeach ()
  endforeach ()
  set(NF_AS_INCLUDES "${includes}")
  set(NF_AS_ROWS "${rows}")
  configure_file("${CMAKE_SOURCE_DIR}/tools/bench/autoscheduled.cpp.in"
                 "${CMAKE_BINARY_DIR}/generated/autoscheduled.cpp" @ONLY)
  set(${out_libs} ${libs} PARENT_SCOPE)
endfunction()

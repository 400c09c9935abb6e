# The full list of compiled kernels lives in nf_add_kernels() below: one add_halide_library per
# (op, dtype, weight mode, rounding, shape class), each compiled for every target of the family
# being built (on x86-64, Halide's multi-target wrapper picks a feature level at run time).

# x86-64 feature levels, most specific first; the last one runs on every x86-64 with SSE4.1.
set(NF_X86_TARGETS
    x86-64-linux-avx512_sapphirerapids
    x86-64-linux-avx512_zen4
    x86-64-linux-avx512_skylake
    x86-64-linux-avx2-fma-f16c
    x86-64-linux-sse41)
# AArch64, most specific first: with arm_fp16 (ARMv8.2 FP16: Graviton2+, Neoverse, Apple, Ampere)
# Halide converts fp16 with fcvtl/fcvtn instead of emulating it with integer operations, and
# LLVM may turn an fp32 op on two fp16 values into the (equal, correctly rounded) half op;
# plain ARMv8.0 NEON (Cortex-A72, Graviton1) gets neither. tests/check_neon_disassembly.sh
# checks both: fcvtl/fcvtn in the first, no half-precision arithmetic in the second.
set(NF_ARM_TARGETS arm-64-linux-arm_fp16 arm-64-linux)
# large_buffers: 64-bit addressing for tensors past 2^31 elements.
# user_context: the runtime passes a per-call context so errors are captured, never printed.
set(NF_TARGET_FEATURES large_buffers user_context)
# CUDA (x86-64 host builds): each kernel's PTX for compute capability 8.6 (Halide 21's newest
# flag; newer GPUs such as H100/H200 JIT it) and 7.0 (V100, T4, A100 and other GPUs below 8.6,
# which cannot load 8.6 PTX; the instructions are the same, only the header differs), embedded
# in the kernels' objects; the runtime picks by the device's capability. Launched through the
# Halide runtime's CUDA module, which loads the driver (libcuda.so.1) at run time. No
# large_buffers: Halide 21's warp-shuffle lowering cannot handle 64-bit indices, so the runtime
# splits calls into pieces below 2^31 elements.
set(NF_CUDA_CAPABILITIES 86 70)
# The backward pass on CUDA: dx (rms_norm_backward), then dweight as per-block sums
# (rms_norm_dweight_blocks) added by a pairwise tree (rms_norm_dweight_pairs, fp32 only).
set(NF_CUDA_OPS rms_norm rms_norm_residual layer_norm rms_norm_backward rms_norm_dweight_blocks
    rms_norm_dweight_pairs)
set(NF_CUDA_CLASSES gpu gpu_staged gpu_unaligned)
# The backward pass takes rows on 8-byte boundaries only (runtime/src/cuda_backward.cpp).
set(NF_CUDA_CLASSES_rms_norm_backward gpu gpu_staged)
set(NF_CUDA_CLASSES_rms_norm_dweight_blocks gpu)
set(NF_CUDA_CLASSES_rms_norm_dweight_pairs gpu)
set(NF_DB_DIR "${CMAKE_CURRENT_SOURCE_DIR}/schedules/db")

# The ops, the generator each is built from, and its shape classes (each class has its own db
# knobs and kernel). The backward pass is two serial kernels the runtime runs per block of rows
# (dx, and the weight gradient dw), in the one class "block". rms_norm_pipelined is what
# nf_rms_norm runs on medium calls: a serial one-row kernel that the runtime chains over the
# rows (runtime/src/pipelined_rows.cpp).
set(NF_OPS rms_norm rms_norm_pipelined rms_norm_residual layer_norm rms_norm_backward rms_norm_dweight)
set(NF_GENERATOR_rms_norm rms_norm)
set(NF_GENERATOR_rms_norm_pipelined rms_norm_pipelined)
set(NF_GENERATOR_rms_norm_residual rms_norm)
set(NF_GENERATOR_layer_norm layer_norm)
set(NF_GENERATOR_rms_norm_backward rms_norm_backward)
set(NF_GENERATOR_rms_norm_dweight rms_norm_dweight)
set(NF_GENERATOR_rms_norm_dweight_blocks rms_norm_dweight_blocks)
set(NF_GENERATOR_rms_norm_dweight_pairs rms_norm_dweight_pairs)
set(NF_CLASSES_rms_norm small medium large)
set(NF_CLASSES_rms_norm_pipelined medium)
set(NF_CLASSES_rms_norm_residual small medium large)
set(NF_CLASSES_layer_norm small medium large)
set(NF_CLASSES_rms_norm_backward block)
set(NF_CLASSES_rms_norm_dweight block)
set(NF_DTYPES f32 f16 bf16)
set(NF_HALIDE_TYPE_f32 float32)
set(NF_HALIDE_TYPE_f16 float16)
set(NF_HALIDE_TYPE_bf16 bfloat16)
# bf16p: bf16 kernels that read and write two values at a time as 32-bit words
# (generators/bf16_pairs.h; generator param pairs=true): Halide's bf16 casts cost more than the
# memory traffic on every x86 level. x86-64 only, for the ops below, compiled for every x86
# target like the other kernels (until 2026-12-07 one AVX-512 target served all three AVX-512
# flavours, as the pair kernels use no newer instruction; each flavour has its own code since,
# so that the db may set their knobs apart: schedules/knobs.h, the "avx512_zen4" members); the
# runtime uses them for rows of even length and stride on 4-byte boundaries. Knobs: the db's
# bf16p entry, else bf16's.
set(NF_HALIDE_TYPE_bf16p bfloat16)
set(NF_PAIR_OPS rms_norm rms_norm_pipelined rms_norm_residual)

# Knobs the runtime applies itself (not generator params): stream_rows = rows per tile that a
# large call normalizes into a cache-resident buffer and streams to y (0 = direct stores).
set(NF_RUNTIME_KNOBS stream_rows)
# Members of a db entry that hold knobs for one x86 feature level, or one AVX-512 flavour, only
# (schedules/knobs.h: kKnobLevels).
set(NF_KNOB_LEVELS avx512 avx2 sse41 avx512_skylake avx512_zen4 avx512_sapphirerapids)

# Knobs for (family, op, dtype, class): the tuned db entry if any, else the hand-written default.
# Sets <out>_PARAMS (generator params "k=v"), <out>_<KNOB> for each runtime knob (default 0),
# <out>_TEXT (all knobs, "k=v ...") and <out>_SOURCE ("<file>:<path>").
function(nf_lookup_knobs out family op dtype cls)
  if (dtype STREQUAL "bf16p")
    nf_lookup_knobs_of(_nf_p ${family} ${op} bf16p ${cls})
    if (NOT _nf_p_SOURCE)
      nf_lookup_knobs_of(_nf_p ${family} ${op} bf16 ${cls})
    endif ()
  else ()
    nf_lookup_knobs_of(_nf_p ${family} ${op} ${dtype} ${cls})
  endif ()
  if (NOT _nf_p_SOURCE)
    message(FATAL_ERROR "No knobs for ${family}/${op}/${dtype}/${cls} in ${NF_DB_DIR}")
  endif ()
  foreach (v IN ITEMS PARAMS TEXT SOURCE)
    set(${out}_${v} "${_nf_p_${v}}" PARENT_SCOPE)
  endforeach ()
  foreach (knob IN LISTS NF_RUNTIME_KNOBS)
    set(${out}_${knob} "${_nf_p_${knob}}" PARENT_SCOPE)
  endforeach ()
endfunction()

# nf_lookup_knobs for one db key; leaves <out>_SOURCE empty when no db has it.
function(nf_lookup_knobs_of out family op dtype cls)
  set(${out}_SOURCE "" PARENT_SCOPE)
  foreach (db IN ITEMS "${family}.json" "defaults.json")
    set(path "${NF_DB_DIR}/${db}")
    if (NOT EXISTS "${path}")
      continue()
    endif ()
    set_property(DIRECTORY "${CMAKE_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${path}")
    file(READ "${path}" json)
    string(JSON entry ERROR_VARIABLE err GET "${json}" "${family}" "${op}" "${dtype}" "${cls}")
    if (err)
      continue()
    endif ()
    string(JSON n LENGTH "${entry}")
    math(EXPR last "${n} - 1")
    set(params "")
    set(text "")
    foreach (knob IN LISTS NF_RUNTIME_KNOBS)
      set(${out}_${knob} 0 PARENT_SCOPE)
    endforeach ()
    set(levels "")
    foreach (i RANGE ${last})
      string(JSON key MEMBER "${entry}" ${i})
      string(JSON value GET "${entry}" "${key}")
      if (key MATCHES "^_")  # keys starting with _ are notes (measured time, date)
        continue()
      endif ()
      if (key IN_LIST NF_KNOB_LEVELS)
        # Per-level knobs (schedules/knobs.h: apply_level_knobs): {"vec_mult": 2, ...} becomes
        # the group "avx512:vec_mult:2:..." of the generator param level_knobs.
        string(JSON type TYPE "${entry}" "${key}")
        if (NOT type STREQUAL "OBJECT")
          message(FATAL_ERROR "${db}: ${family}/${op}/${dtype}/${cls}/${key} must be an object of knobs")
        endif ()
        string(JSON m LENGTH "${value}")
        math(EXPR mlast "${m} - 1")
        set(group "${key}")
        foreach (j RANGE ${mlast})
          string(JSON k2 MEMBER "${value}" ${j})
          if (k2 MATCHES "^_")
            continue()
          endif ()
          string(JSON v2 GET "${value}" "${k2}")
          string(APPEND group ":${k2}:${v2}")
          list(APPEND text "${key}.${k2}=${v2}")
        endforeach ()
        list(APPEND levels "${group}")
        continue()
      endif ()
      list(APPEND text "${key}=${value}")
      if (key IN_LIST NF_RUNTIME_KNOBS)
        set(${out}_${key} "${value}" PARENT_SCOPE)
      else ()
        list(APPEND params "${key}=${value}")
      endif ()
    endforeach ()
    if (levels)
      list(JOIN levels "+" levels)
      list(APPEND params "level_knobs=${levels}")
    endif ()
    list(JOIN text " " text)
    set(${out}_PARAMS "${params}" PARENT_SCOPE)
    set(${out}_TEXT "${text}" PARENT_SCOPE)
    set(${out}_SOURCE "${db}:${family}/${op}/${dtype}/${cls}" PARENT_SCOPE)
    return()
  endforeach ()
endfunction()

# The distinct compiled variants of an op for a dtype, each "<weight mode>:<rounding>:<bias>".
# RMSNorm: the HF-Llama order only differs from round-once for 16-bit dtypes with a weight, so
# f32 and weight-less kernels are compiled once (the runtime maps). LayerNorm: with or without
# weight, with or without bias. Backward dx: one kernel per weight mode (both rounding orders
# have the same gradient); dw: one kernel (the same for SCALE and ONE_PLUS).
function(nf_op_variants out op dtype)
  set(v "")
  if (op STREQUAL "layer_norm")
    set(v none:once:0 scale:once:0 none:once:1 scale:once:1)
  elseif (op STREQUAL "rms_norm_backward")
    set(v none:once:0 scale:once:0 one_plus:once:0)
  elseif (op STREQUAL "rms_norm_dweight" OR op STREQUAL "rms_norm_dweight_blocks")
    set(v scale:once:0)
  elseif (op STREQUAL "rms_norm_dweight_pairs")
    if (dtype STREQUAL "f32")  # sums fp32 partials, whatever the dtype of x
      set(v scale:once:0)
    endif ()
  else ()
    foreach (w IN ITEMS none scale one_plus)
      list(APPEND v "${w}:once:0")
      if (NOT dtype STREQUAL "f32" AND NOT w STREQUAL "none")
        list(APPEND v "${w}:llama:0")
      endif ()
    endforeach ()
  endif ()
  set(${out} "${v}" PARENT_SCOPE)
endfunction()

# Generator params that select the op's variant (the knobs come from the db).
function(nf_op_params out op dtype wmode rounding bias)
  set(t ${NF_HALIDE_TYPE_${dtype}})
  if (op STREQUAL "layer_norm")
    if (wmode STREQUAL "none")
      set(hw false)
    else ()
      set(hw true)
    endif ()
    if (bias)
      set(hb true)
    else ()
      set(hb false)
    endif ()
    set(p dtype=${t} has_weight=${hw} has_bias=${hb})
  elseif (op STREQUAL "rms_norm_backward")
    set(p dtype=${t} weight_mode=${wmode})
  elseif (op STREQUAL "rms_norm_dweight" OR op STREQUAL "rms_norm_dweight_blocks")
    set(p dtype=${t})
  elseif (op STREQUAL "rms_norm_dweight_pairs")
    set(p "")
  elseif (op STREQUAL "rms_norm_pipelined")
    set(p dtype=${t} weight_mode=${wmode} rounding=${rounding})
  else ()
    set(p op=${op} dtype=${t} weight_mode=${wmode} rounding=${rounding})
  endif ()
  if (dtype STREQUAL "bf16p")
    list(APPEND p pairs=true)
  endif ()
  set(${out} "${p}" PARENT_SCOPE)
endfunction()

# nf_add_kernels(<family> <targets...>): family is the schedules/db key (x86-64, arm-64).
# nf_kernel_specs(<family> <out>): one entry per kernel of the family, each a list joined with
# "|": name, op, dtype, weight mode, rounding, shape class, generator params (space-separated),
# db entry, knob text, stream_rows, bias (0/1), generator.
# The family "cuda" has the ops of NF_CUDA_OPS, each in the classes gpu (any row length),
# gpu_staged (rows staged in shared memory; the runtime picks it when they fit) and
# gpu_unaligned (rows not on 8-byte boundaries), or those of NF_CUDA_CLASSES_<op>.
function(nf_kernel_specs family out)
  set(specs "")
  set(ops ${NF_OPS})
  set(prefix "nf_k_")
  if (family STREQUAL "cuda")
    set(ops ${NF_CUDA_OPS})
    set(prefix "nf_k_cuda_")
  endif ()
  foreach (op IN LISTS ops)
    set(dtypes ${NF_DTYPES})
    if (family STREQUAL "x86-64" AND op IN_LIST NF_PAIR_OPS)
      list(APPEND dtypes bf16p)
    endif ()
    foreach (dtype IN LISTS dtypes)
      nf_op_variants(variants ${op} ${dtype})
      if (NOT variants)
        continue()
      endif ()
      set(classes ${NF_CLASSES_${op}})
      if (family STREQUAL "cuda")
        set(classes ${NF_CUDA_CLASSES})
        if (DEFINED NF_CUDA_CLASSES_${op})
          set(classes ${NF_CUDA_CLASSES_${op}})
        endif ()
      endif ()
      foreach (cls IN LISTS classes)
        nf_lookup_knobs(knobs ${family} ${op} ${dtype} ${cls})
        foreach (variant IN LISTS variants)
          string(REPLACE ":" ";" parts "${variant}")
          list(GET parts 0 wmode)
          list(GET parts 1 rounding)
          list(GET parts 2 bias)
          set(name "${prefix}${op}_${dtype}_${wmode}_${rounding}")
          if (op STREQUAL "layer_norm")
            if (bias)
              string(APPEND name "_bias")
            else ()
              string(APPEND name "_nobias")
            endif ()
          endif ()
          string(APPEND name "_${cls}")
          nf_op_params(params ${op} ${dtype} ${wmode} ${rounding} "${bias}")
          list(APPEND params ${knobs_PARAMS})
          list(JOIN params " " params)
          list(APPEND specs "${name}|${op}|${dtype}|${wmode}|${rounding}|${cls}|${params}|${knobs_SOURCE}|${knobs_TEXT}|${knobs_stream_rows}|${bias}|${NF_GENERATOR_${op}}")
        endforeach ()
      endforeach ()
    endforeach ()
  endforeach ()
  set(${out} "${specs}" PARENT_SCOPE)
endfunction()

# Sets name, op, dtype, wmode, rounding, cls, params, source, text, stream_rows, bias and
# generator from one nf_kernel_specs entry (a macro: the caller's scope).
macro(nf_unpack_spec spec)
  string(REPLACE "|" ";" _nf_f "${spec}")
  set(_nf_i 0)
  foreach (_nf_var IN ITEMS name op dtype wmode rounding cls params source text stream_rows bias generator)
    list(GET _nf_f ${_nf_i} ${_nf_var})
    math(EXPR _nf_i "${_nf_i} + 1")
  endforeach ()
endmacro()

# nf_add_kernels(<family> <targets...>): family is the schedules/db key (x86-64, arm-64).
function(nf_add_kernels family)
  set(targets "")
  list(JOIN NF_TARGET_FEATURES "-" feats)
  foreach (t IN LISTS ARGN)
    list(APPEND targets "${t}-${feats}")
  endforeach ()

  add_halide_runtime(nf_halide_runtime TARGETS ${targets})

  set(libs "")
  set(cuda_libs "")
  set(prefetch_libs "")
  set(no_prefetch_libs "")
  set(includes "")
  set(rows "")
  # The family's CPU kernels, then (x86-64 hosts) the CUDA kernels for each capability, built
  # the same way. Each row ends with the least compute capability its kernel runs on (0: CPU).
  set(groups ${family})
  if (family STREQUAL "x86-64" AND NF_CUDA)
    foreach (cc IN LISTS NF_CUDA_CAPABILITIES)
      list(APPEND groups "cuda${cc}")
    endforeach ()
  endif ()
  foreach (group IN LISTS groups)
    set(group_targets ${targets})
    set(spec_family ${group})
    set(min_cc 0)
    set(suffix "")
    if (group MATCHES "^cuda([0-9]+)$")
      set(min_cc ${CMAKE_MATCH_1})
      set(group_targets "x86-64-linux-cuda-cuda_capability_${min_cc}-user_context")
      set(spec_family cuda)
      set(suffix "_sm${min_cc}")
    endif ()
    nf_kernel_specs(${spec_family} specs)
    foreach (spec IN LISTS specs)
      nf_unpack_spec("${spec}")
      string(APPEND name "${suffix}")
      separate_arguments(params UNIX_COMMAND "${params}")
      set(kernel_targets ${group_targets})
      # Kernels with the next-row prefetch go through the tool that sets its hint
      # (tools/gen_prefetch_t0.cpp); it runs the same generators.
      set(from NormForge::nf_generators)
      set(extra_deps "")
      set(prefetch 0)
      if ("prefetch=1" IN_LIST params)
        set(prefetch 1)
        # The levels whose knobs turn it off (schedules/knobs.h; a level may only turn it off):
        # tests/check_prefetch.sh expects none in their code. Listed as NAME@LEVEL@LEVEL...
        set(entry ${name})
        foreach (p IN LISTS params)
          if (p MATCHES "^level_knobs=(.*)$")
            string(REPLACE "+" ";" groups_of_levels "${CMAKE_MATCH_1}")
            foreach (g IN LISTS groups_of_levels)
              if (g MATCHES ":prefetch:0" AND g MATCHES "^([a-z0-9_]+):")
                string(APPEND entry "@${CMAKE_MATCH_1}")
              endif ()
            endforeach ()
          endif ()
        endforeach ()
        list(APPEND prefetch_libs ${entry})
        if (NOT spec_family STREQUAL "x86-64" OR NOT TARGET nf_gen_prefetch_t0)
          message(FATAL_ERROR "${source}: prefetch=1 needs an x86-64 build that builds its generators")
        endif ()
        set(from nf_gen_prefetch_t0)
        set(extra_deps nf_generators)
      endif ()
      add_halide_library(${name} FROM ${from}
        GENERATOR ${generator}
        FUNCTION_NAME ${name}
        TARGETS ${kernel_targets}
        USE_RUNTIME nf_halide_runtime
        DEPENDS ${extra_deps}
        PARAMS ${params})
      list(APPEND libs ${name})
      if (NOT prefetch AND op STREQUAL "rms_norm" AND NOT min_cc)
        list(APPEND no_prefetch_libs ${name})
      endif ()
      if (min_cc)
        list(APPEND cuda_libs ${name})
      endif ()
      string(APPEND includes "#include \"${name}.h\"\n")
      string(TOUPPER "${op}" op_upper)
      string(APPEND rows "    {NF_OP_${op_upper}, NF_${dtype}, NF_W_${wmode}, NF_R_${rounding}, ${bias}, NF_CLASS_${cls}, "
                         "reinterpret_cast<AnyKernel>(&${name}), \"${name}\", \"${source}\", \"${text}\", ${stream_rows}, ${prefetch}, ${min_cc}},\n")
    endforeach ()
  endforeach ()

  add_halide_library(nf_k_cpu_probe FROM NormForge::nf_generators
    GENERATOR cpu_probe
    TARGETS ${targets}
    USE_RUNTIME nf_halide_runtime)
  list(APPEND libs nf_k_cpu_probe)

  string(REPLACE ";" " " target_text "${ARGN}")
  set(NF_KERNEL_INCLUDES "${includes}")
  set(NF_KERNEL_ROWS "${rows}")
  set(NF_KERNEL_TARGETS "${target_text}")
  configure_file("${CMAKE_CURRENT_SOURCE_DIR}/runtime/src/kernel_table.cpp.in"
                 "${CMAKE_BINARY_DIR}/generated/kernel_table.cpp" @ONLY)
  set(NF_KERNEL_LIBS ${libs} PARENT_SCOPE)
  # RMSNorm CPU kernels with and without the next-row prefetch (tests/check_prefetch.sh).
  set(NF_PREFETCH_KERNEL_LIBS ${prefetch_libs} PARENT_SCOPE)
  set(NF_NO_PREFETCH_KERNEL_LIBS ${no_prefetch_libs} PARENT_SCOPE)
  set(NF_CUDA_KERNEL_LIBS ${cuda_libs} PARENT_SCOPE)
endfunction()

# The kernels of every family with their generator params, for `normforge compile`
# (generated/compile_manifest.cpp).
function(nf_write_compile_manifest)
  set(rows "")
  foreach (family IN ITEMS x86-64 arm-64)
    nf_kernel_specs(${family} specs)
    foreach (spec IN LISTS specs)
      nf_unpack_spec("${spec}")
      string(APPEND rows "    {\"${family}\", \"${generator}\", \"${name}\", \"${params}\", \"${source}\", \"${text}\"},\n")
    endforeach ()
  endforeach ()
  set(NF_MANIFEST_ROWS "${rows}")
  configure_file("${CMAKE_SOURCE_DIR}/tools/compile_manifest.cpp.in"
                 "${CMAKE_BINARY_DIR}/generated/compile_manifest.cpp" @ONLY)
endfunction()

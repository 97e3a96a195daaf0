# Portable CPU (XLC_PORTABLE): ggml's CPU backend built once per instruction-set
# level, every level inside libxlc, the best one for the running CPU chosen when
# ggml first lists its backends.
#
# ggml builds such variants only as loadable modules beside a shared ggml-base
# (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS), which would put ggml's own symbols on
# show. So ggml's own build makes them here, exactly as for its modules (its list of
# levels, its compiler flags, its CPUID check compiled without them), in a build of
# ggml alone; cpu-variants-link.cmake then folds each variant into one relocatable
# object whose symbols are all made local but its two entry points, renamed
# xlcv_<name>_init (ggml_backend_init) and xlcv_<name>_score (ggml_backend_score).
# Its static constructors are moved to a section of their own, run only for the
# variant chosen: no instruction the CPU lacks runs at load time.
# src/xlc_cpu_variants.cpp then stands in for ggml_backend_cpu_reg().
#
#   XLC_CPU_VARIANTS  ggml's names of the levels to build (x64;haswell;...); empty: all of ggml's for
#                     this architecture, less the AMX one unless XLC_AMX (see CMakeLists.txt)
set(XLC_CPU_VARIANTS "" CACHE STRING "CPU variants to build into a portable library (ggml's names); empty: all")

include(ExternalProject)
set(variants_bin "${CMAKE_BINARY_DIR}/cpu-variants")
set(variants_obj "${variants_bin}/xlc-cpu-variants.o")
set(variants_inc "${variants_bin}/xlc-cpu-variants.inc")
set(variants "${XLC_CPU_VARIANTS}")
if (NOT variants)
    # ggml's own list, read from the block of its CMakeLists.txt for this architecture
    file(READ "${XLC_LLAMA_DIR}/ggml/src/CMakeLists.txt" ggml_cmake)
    if (CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i[3-6]86)$")
        set(arch_block "\"x86\"\\)(.*)elseif *\\(GGML_SYSTEM_ARCH STREQUAL \"ARM\"")
    elseif (CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$" AND CMAKE_SYSTEM_NAME STREQUAL "Linux")
        set(arch_block "\"ARM\"\\)(.*)elseif *\\(CMAKE_SYSTEM_NAME MATCHES \"Android\"")
    else()
        message(FATAL_ERROR "XLC_PORTABLE: set XLC_CPU_VARIANTS for ${CMAKE_SYSTEM_PROCESSOR}")
    endif()
    if (NOT ggml_cmake MATCHES "GGML_SYSTEM_ARCH STREQUAL ${arch_block}")
        message(FATAL_ERROR "XLC_PORTABLE: ggml's CPU variant list not found; set XLC_CPU_VARIANTS")
    endif()
    string(REGEX MATCHALL "ggml_add_cpu_backend_variant\\([A-Za-z0-9_.]+[^)]*\\)" calls "${CMAKE_MATCH_1}")
    foreach (call IN LISTS calls)
        string(REGEX REPLACE "^ggml_add_cpu_backend_variant\\(([A-Za-z0-9_.]+).*" "\\1" name "${call}")
        if (XLC_AMX OR NOT call MATCHES "AMX_")
            list(APPEND variants "${name}")
        endif()
    endforeach()
    message(STATUS "CPU variants, from ggml's list: ${variants}")
endif()
set(variant_targets "")
foreach (v IN LISTS variants)
    list(APPEND variant_targets ggml-cpu-${v})
endforeach()
string(REPLACE ";" "," variants_arg "${variants}")

set(forwarded "")
foreach (var CMAKE_C_COMPILER CMAKE_CXX_COMPILER CMAKE_C_COMPILER_LAUNCHER CMAKE_CXX_COMPILER_LAUNCHER CMAKE_BUILD_TYPE GGML_OPENMP GGML_LLAMAFILE)
    if (DEFINED ${var})
        list(APPEND forwarded "-D${var}=${${var}}")
    endif()
endforeach()

ExternalProject_Add(xlc-cpu-variants-build
    SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/cpu-variants"
    BINARY_DIR "${variants_bin}/build"
    PREFIX "${variants_bin}"
    CMAKE_GENERATOR "${CMAKE_GENERATOR}"
    CMAKE_ARGS ${forwarded} "-DXLC_GGML_DIR=${XLC_LLAMA_DIR}/ggml"
        -DBUILD_SHARED_LIBS=ON -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DGGML_NATIVE=OFF
        -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON
    BUILD_COMMAND ${CMAKE_COMMAND} --build <BINARY_DIR> --target ${variant_targets}
        COMMAND ${CMAKE_COMMAND} "-DBUILD_DIR=<BINARY_DIR>" "-DVARIANTS=${variants_arg}"
            "-DOUT_OBJ=${variants_obj}" "-DOUT_INC=${variants_inc}"
            "-DLD=${CMAKE_LINKER}" "-DNM=${CMAKE_NM}" "-DOBJCOPY=${CMAKE_OBJCOPY}" "-DOBJDUMP=${CMAKE_OBJDUMP}"
            -P "${CMAKE_CURRENT_LIST_DIR}/cpu-variants-link.cmake"
    BUILD_ALWAYS ON
    BUILD_BYPRODUCTS "${variants_obj}" "${variants_inc}"
    INSTALL_COMMAND "")

# The variants use OpenMP as ggml-cpu does.
find_package(OpenMP)
add_library(xlc-cpu-variants STATIC "${variants_obj}")
set_source_files_properties("${variants_obj}" PROPERTIES EXTERNAL_OBJECT ON GENERATED ON)
set_target_properties(xlc-cpu-variants PROPERTIES LINKER_LANGUAGE CXX)
add_dependencies(xlc-cpu-variants xlc-cpu-variants-build)
if (OpenMP_FOUND AND NOT GGML_OPENMP STREQUAL "OFF")
    target_link_libraries(xlc-cpu-variants INTERFACE OpenMP::OpenMP_C OpenMP::OpenMP_CXX)
endif()
target_link_libraries(xlc-cpu-variants INTERFACE ggml-base)

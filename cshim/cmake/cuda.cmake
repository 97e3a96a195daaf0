# CUDA: what ggml-cuda needs from the toolkit, found here first so that a
# toolkit without cuBLAS or without the driver's link stub still builds.
#
#   CMAKE_CUDA_ARCHITECTURES  the GPU architectures to compile for (default 90: Hopper)
#   XLC_CUDA_LIBS_DIR         a folder with lib/libcublas.so.N and include/cublas_v2.h, such as
#                             the nvidia/cu13 folder of PyPI's nvidia-cublas wheel, for a toolkit
#                             installed without cuBLAS
if (NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures to build for")
endif()
set(XLC_CUDA_LIBS_DIR "" CACHE PATH "Folder holding lib/libcublas.so.* and include/cublas_v2.h (nvidia-cublas wheel)")

if (XLC_CUDA_LIBS_DIR)
    foreach (name cublas cublasLt)
        file(GLOB found "${XLC_CUDA_LIBS_DIR}/lib/lib${name}.so.*")
        if (NOT found)
            message(FATAL_ERROR "lib${name}.so.* not found in ${XLC_CUDA_LIBS_DIR}/lib")
        endif()
        list(GET found 0 found)
        set(CUDA_${name}_LIBRARY "${found}" CACHE FILEPATH "" FORCE)
    endforeach()
endif()

find_package(CUDAToolkit REQUIRED)

# The library links libcuda.so.1 (ggml-cuda's virtual-memory pool calls the driver
# API), but a machine without a GPU has no driver and a toolkit may lack the link
# stub. Then build one: every function cuda.h declares, under the driver's soname.
# It is used only to link; at run time the real driver library is loaded.
if (NOT TARGET CUDA::cuda_driver)
    set(stub_dir "${CMAKE_BINARY_DIR}/cuda-driver-stub")
    file(MAKE_DIRECTORY "${stub_dir}")
    file(WRITE "${stub_dir}/names.c" "#include <cuda.h>\n")
    execute_process(
        COMMAND ${CMAKE_C_COMPILER} -E -P "-I${CUDAToolkit_INCLUDE_DIRS}" names.c
        WORKING_DIRECTORY "${stub_dir}" OUTPUT_VARIABLE preprocessed RESULT_VARIABLE rc)
    if (NOT rc EQUAL 0)
        message(FATAL_ERROR "could not preprocess cuda.h for the driver stub")
    endif()
    string(REGEX MATCHALL "CUresult[ \t\r\n]+cu[A-Za-z0-9_]+[ \t\r\n]*\\(" decls "${preprocessed}")
    set(stub_source "/* link-time stand-in for libcuda.so.1, generated from cuda.h */\n")
    foreach (decl IN LISTS decls)
        string(REGEX REPLACE "^CUresult[ \t\r\n]+([A-Za-z0-9_]+).*" "\\1" name "${decl}")
        string(APPEND stub_source "void ${name}(void) {}\n")
    endforeach()
    file(WRITE "${stub_dir}/stub.c" "${stub_source}")
    execute_process(
        COMMAND ${CMAKE_C_COMPILER} -shared -fPIC -o libcuda.so -Wl,-soname,libcuda.so.1 stub.c
        WORKING_DIRECTORY "${stub_dir}" RESULT_VARIABLE rc)
    if (NOT rc EQUAL 0)
        message(FATAL_ERROR "could not build the CUDA driver link stub")
    endif()
    list(LENGTH decls n_functions)
    message(STATUS "No libcuda.so to link against: using a stub of ${n_functions} driver functions")
    add_library(CUDA::cuda_driver SHARED IMPORTED)
    set_target_properties(CUDA::cuda_driver PROPERTIES
        IMPORTED_LOCATION "${stub_dir}/libcuda.so" IMPORTED_SONAME "libcuda.so.1")
endif()

if (XLC_CUDA_LIBS_DIR)
    foreach (name cublas cublasLt)
        set_property(TARGET CUDA::${name} APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${XLC_CUDA_LIBS_DIR}/include")
    endforeach()
endif()

xlc_force(GGML_CUDA ON)
xlc_force(GGML_CUDA_NCCL OFF)  # single-process library; NCCL is not shipped

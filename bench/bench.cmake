# bench/bench.cmake — benchmark executables, included by CMakeLists.txt. `make` builds
# them; `make test` does not run them; `make bench` runs bench/run-cpu.sh.

# The distribution layer: work queue, host all-reduce, rank 0's checkpoint writes
# (docs/scaling.md). Run under mpiexec; see the comment at the top of the source.
add_executable(workqueue_scaling ${CMAKE_SOURCE_DIR}/bench/workqueue_scaling.c)
seal_room_includes(workqueue_scaling trainer)
target_link_libraries(workqueue_scaling PRIVATE seal_trainer seal_comm)

# sgemm of OpenBLAS, BLIS and oneDNN at seal's CPU shapes (docs/perf.md, "Which
# GEMM"). BLIS and oneDNN are opened at run time (dlopen), so the benchmark builds
# without them and skips what is missing; bench/gemm-libs.sh installs them.
find_library(SEAL_BENCH_BLIS_LIB blis PATHS /usr/lib/x86_64-linux-gnu/blis-openmp NO_DEFAULT_PATH)
find_library(SEAL_BENCH_BLIS_LIB blis)
find_library(SEAL_BENCH_DNNL_LIB dnnl)
foreach(lib BLIS DNNL)
  if(NOT SEAL_BENCH_${lib}_LIB)
    set(SEAL_BENCH_${lib}_LIB lib${lib}-not-found.so) # reported and skipped at run time
  endif()
endforeach()
add_executable(gemm_libs ${CMAKE_SOURCE_DIR}/bench/gemm_libs.c)
seal_room_includes(gemm_libs kernels)
target_compile_definitions(gemm_libs PRIVATE SEAL_BENCH_BLIS="${SEAL_BENCH_BLIS_LIB}"
                                             SEAL_BENCH_DNNL="${SEAL_BENCH_DNNL_LIB}")
target_link_libraries(gemm_libs PRIVATE seal_kernels ${CMAKE_DL_LIBS} ${MATH_LIB})

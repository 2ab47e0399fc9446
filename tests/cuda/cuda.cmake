# tests/cuda/cuda.cmake — the CUDA kernel lab (included by tests/tests.cmake when
# the CUDA backend is built). Compiled everywhere nvcc exists, run only on a GPU
# machine (scripts/gpu-check.sh), so it is not a ctest test.
add_executable(cuda_kernel_lab ${CMAKE_SOURCE_DIR}/tests/cuda/kernel_lab.c)
seal_room_includes(cuda_kernel_lab kernels)
target_link_libraries(cuda_kernel_lab PRIVATE seal_kernels CUDA::cudart)

# bench/bench.cmake — benchmark executables, included by CMakeLists.txt. `make` builds
# them; `make test` does not run them; `make bench` runs bench/run-cpu.sh.

# The distribution layer: work queue, host all-reduce, rank 0's checkpoint writes
# (docs/scaling.md). Run under mpiexec; see the comment at the top of the source.
add_executable(workqueue_scaling ${CMAKE_SOURCE_DIR}/bench/workqueue_scaling.c)
seal_room_includes(workqueue_scaling trainer)
target_link_libraries(workqueue_scaling PRIVATE seal_trainer seal_comm)

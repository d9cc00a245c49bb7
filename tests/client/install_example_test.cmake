# Installs the client component into a staging prefix, then configures and builds
# client/examples as a separate project with find_package(seqserve), and runs the example
# against a port where nothing listens (it must link, run and report UNAVAILABLE).
# Variables: BUILD_DIR, SOURCE_DIR, WORK_DIR, GENERATOR, SANITIZE (the library was built
# with sanitizers, so the example must link their runtimes too).
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --component client --prefix "${prefix}")
# The installed API lives in seqserve::client, so a program may also link the server's
# seqserve::InferStream without a clash.
file(READ "${prefix}/include/seqserve/client/client.h" header)
if(NOT header MATCHES "namespace seqserve::client {" OR NOT header MATCHES "class InferStream {")
  message(FATAL_ERROR "the installed client.h does not declare seqserve::client::InferStream")
endif()
set(flags)
if(SANITIZE)
  set(flags "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined"
            "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined")
endif()
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/client/examples" -B "${WORK_DIR}/build"
    -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}" ${flags})
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")

execute_process(COMMAND "${WORK_DIR}/build/infer_example" 127.0.0.1:1 lenet 1,4
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0 OR NOT out MATCHES "UNAVAILABLE")
  message(FATAL_ERROR "infer_example should fail with UNAVAILABLE, got (${rc}): ${out}")
endif()
message(STATUS "installed package builds and runs: ${out}")

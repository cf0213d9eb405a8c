# smoke.cmake — the bench-smoke pass: ctest runs every benchmark program at
# a tiny size on two workers, so that the programs (and the checks they make
# of their own results) cannot rot. Included from bench/CMakeLists.txt.
#   ctest -L bench-smoke
# W4 still sleeps its full second and W5 its 1 ms per wave; the timeout of
# 60 s leaves room for a slow, loaded CI machine.
# Each program runs twice: bench_smoke_NAME on the environment's driver
# (tests/run runs the whole ctest pass once as it is and once with
# SPOOL_BACKEND=epoll), and bench_smoke_NAME_epoll with SPOOL_BACKEND=epoll
# set here, which passes only if its JSON line says it ran on epoll and
# checked out ("backend":"epoll" ... "ok":true; a pass regex replaces the
# exit status, and the line's ok is what the exit status says).
set(SPOOL_BENCH_SMOKE_SIZES
  w1_spawn_join=2000
  w2_fib_fork=12
  w3_ping_pong=2000
  w4_sleep_many=200
  w5_semaphore_limit=300
  w7_file_read=200
  w8_timeout_cancel=500
  w9_queue_pipe=2000)

foreach(entry ${SPOOL_BENCH_SMOKE_SIZES})
  string(REPLACE "=" ";" pair ${entry})
  list(GET pair 0 name)
  list(GET pair 1 size)
  if(TARGET spool_${name})
    foreach(test bench_smoke_${name} bench_smoke_${name}_epoll)
      add_test(NAME ${test} COMMAND spool_${name} --n ${size} --workers 2)
      set_tests_properties(${test} PROPERTIES LABELS bench-smoke TIMEOUT 60)
    endforeach()
    set_tests_properties(bench_smoke_${name}_epoll PROPERTIES
      ENVIRONMENT SPOOL_BACKEND=epoll
      PASS_REGULAR_EXPRESSION "\"backend\":\"epoll\"[^\n]*\"ok\":true")
  endif()
endforeach()

/*
 * layout.h — the list of everything in <spool/spool.h> whose layout or
 * value C and C++ must agree on, for test_cxx_layout: every public struct
 * and each of its fields, every static initialiser, every numeric macro.
 * layout_c.c expands the lists in C, layout.cpp in C++, and the C++ main
 * compares the two tables row by row. layout_list.sh checks that the
 * lists name every struct field and every SPOOL_ macro of the header, so
 * a field added there without a row here fails the tests.
 */
#ifndef SPOOL_TESTS_CXX_LAYOUT_H
#define SPOOL_TESTS_CXX_LAYOUT_H

#include <spool/spool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every public struct (STRUCT) and every field of each (FIELD), in the
 * header's order. struct spool_stats is spelt with `struct`: in C++ the
 * bare name is the function. */
#define SPOOL_LAYOUT_STRUCTS(STRUCT, FIELD)                                          \
    STRUCT(spool_backend)                                                            \
    STRUCT(spool_config)                                                             \
    FIELD(spool_config, workers)                                                     \
    FIELD(spool_config, stack_size)                                                  \
    FIELD(spool_config, blocking_threads)                                            \
    FIELD(spool_config, blocking_idle_ns)                                            \
    FIELD(spool_config, debug)                                                       \
    FIELD(spool_config, on_task_error)                                               \
    FIELD(spool_config, on_task_error_arg)                                           \
    FIELD(spool_config, backend)                                                     \
    FIELD(spool_config, quiet_fallback)                                              \
    STRUCT(spool__wait_list)                                                         \
    FIELD(spool__wait_list, head)                                                    \
    FIELD(spool__wait_list, tail)                                                    \
    STRUCT(spool_sem)                                                                \
    FIELD(spool_sem, word)                                                           \
    FIELD(spool_sem, waiters)                                                        \
    FIELD(spool_sem, max)                                                            \
    STRUCT(spool_lock)                                                               \
    FIELD(spool_lock, sem)                                                           \
    STRUCT(spool_event)                                                              \
    FIELD(spool_event, lock)                                                         \
    FIELD(spool_event, set)                                                          \
    FIELD(spool_event, waiters)                                                      \
    STRUCT(spool_cond)                                                               \
    FIELD(spool_cond, lock)                                                          \
    FIELD(spool_cond, waiters)                                                       \
    STRUCT(spool_barrier)                                                            \
    FIELD(spool_barrier, lock)                                                       \
    FIELD(spool_barrier, parties)                                                    \
    FIELD(spool_barrier, arrived)                                                    \
    FIELD(spool_barrier, broken)                                                     \
    FIELD(spool_barrier, waiters)                                                    \
    STRUCT(spool_queue)                                                              \
    FIELD(spool_queue, lock)                                                         \
    FIELD(spool_queue, closed)                                                       \
    FIELD(spool_queue, slots)                                                        \
    FIELD(spool_queue, cap)                                                          \
    FIELD(spool_queue, head)                                                         \
    FIELD(spool_queue, len)                                                          \
    FIELD(spool_queue, getters)                                                      \
    FIELD(spool_queue, putters)                                                      \
    STRUCT(spool_timeout)                                                            \
    FIELD(spool_timeout, outer)                                                      \
    FIELD(spool_timeout, deadline)                                                   \
    FIELD(spool_timeout, effective)                                                  \
    FIELD(spool_timeout, shield_depth)                                               \
    FIELD(spool_timeout, fired)                                                      \
    FIELD(spool_timeout, task)                                                       \
    STRUCT(spool_group)                                                              \
    FIELD(spool_group, lock)                                                         \
    FIELD(spool_group, running)                                                      \
    FIELD(spool_group, limit)                                                        \
    FIELD(spool_group, first_error)                                                  \
    FIELD(spool_group, cancelled)                                                    \
    FIELD(spool_group, members)                                                      \
    FIELD(spool_group, waiter)                                                       \
    FIELD(spool_group, slots)                                                        \
    STRUCT(spool_stream)                                                             \
    FIELD(spool_stream, fd)                                                          \
    FIELD(spool_stream, is_socket)                                                   \
    FIELD(spool_stream, eof)                                                         \
    FIELD(spool_stream, buf)                                                         \
    FIELD(spool_stream, size)                                                        \
    FIELD(spool_stream, start)                                                       \
    FIELD(spool_stream, end)                                                         \
    FIELD(spool_stream, tls)                                                         \
    STRUCT(spool_stdio)                                                              \
    STRUCT(spool_process_options)                                                    \
    FIELD(spool_process_options, env)                                                \
    FIELD(spool_process_options, cwd)                                                \
    FIELD(spool_process_options, in)                                                 \
    FIELD(spool_process_options, out)                                                \
    FIELD(spool_process_options, err)                                                \
    STRUCT(spool_process)                                                            \
    FIELD(spool_process, pid)                                                        \
    FIELD(spool_process, stdin_fd)                                                   \
    FIELD(spool_process, stdout_fd)                                                  \
    FIELD(spool_process, stderr_fd)                                                  \
    FIELD(spool_process, pidfd)                                                      \
    FIELD(spool_process, state)                                                      \
    FIELD(spool_process, status)                                                     \
    STRUCT(spool_process_output)                                                     \
    FIELD(spool_process_output, data)                                                \
    FIELD(spool_process_output, len)                                                 \
    FIELD(spool_process_output, cap)                                                 \
    FIELD(spool_process_output, grow)                                                \
    STRUCT(spool_worker_stats)                                                       \
    FIELD(spool_worker_stats, spawned)                                               \
    FIELD(spool_worker_stats, exited)                                                \
    FIELD(spool_worker_stats, stolen)                                                \
    FIELD(spool_worker_stats, parked)                                                \
    FIELD(spool_worker_stats, woken)                                                 \
    FIELD(spool_worker_stats, idle)                                                  \
    FIELD(spool_worker_stats, cpu_yields)                                            \
    STRUCT(struct spool_stats)                                                       \
    FIELD(struct spool_stats, workers)                                               \
    FIELD(struct spool_stats, backend)                                               \
    FIELD(struct spool_stats, alive)                                                 \
    FIELD(struct spool_stats, total)                                                 \
    FIELD(struct spool_stats, worker)

/* The version string as an object, so that both languages' bytes of it
 * are compared like an initialiser's. */
typedef char spool_layout_version_chars[sizeof SPOOL_VERSION_STRING];

/* Every static initialiser, as a static object of each language: the two
 * objects must hold the same bytes (padding is zero in static storage in
 * both). n numbers the objects. */
#define SPOOL_LAYOUT_INITS(INIT)                                                     \
    INIT(1, spool_sem, SPOOL_SEM_INIT(3))                                            \
    INIT(2, spool_sem, SPOOL_SEM_INIT(0))                                            \
    INIT(3, spool_sem, SPOOL_SEM_INIT_BOUNDED(5))                                    \
    INIT(4, spool_lock, SPOOL_LOCK_INIT)                                             \
    INIT(5, spool_event, SPOOL_EVENT_INIT)                                           \
    INIT(6, spool_cond, SPOOL_COND_INIT)                                             \
    INIT(7, spool_barrier, SPOOL_BARRIER_INIT(4))                                    \
    INIT(8, spool_queue, SPOOL_QUEUE_INIT(spool_layout_slots, 8))                    \
    INIT(9, spool_group, SPOOL_GROUP_INIT)                                           \
    INIT(10, spool_process_output, SPOOL_PROCESS_OUTPUT_GROW)                        \
    INIT(11, spool_process_output, SPOOL_PROCESS_OUTPUT_FIXED(spool_layout_slots, 8)) \
    INIT(12, spool_layout_version_chars, SPOOL_VERSION_STRING)

/* Every numeric macro and enumerator, as a uint64_t. */
#define SPOOL_LAYOUT_VALUES(VALUE)                                                   \
    VALUE(SPOOL_USEC)                                                                \
    VALUE(SPOOL_MSEC)                                                                \
    VALUE(SPOOL_SEC)                                                                 \
    VALUE(SPOOL_BACKEND_AUTO)                                                        \
    VALUE(SPOOL_BACKEND_IO_URING)                                                    \
    VALUE(SPOOL_BACKEND_EPOLL)                                                       \
    VALUE(SPOOL_STDIO_INHERIT)                                                       \
    VALUE(SPOOL_STDIO_PIPE)                                                          \
    VALUE(SPOOL_STDIO_DEVNULL)                                                       \
    VALUE(SPOOL_STDIO_STDOUT)                                                        \
    VALUE(SPOOL_DEFAULT_BLOCKING_THREADS)                                            \
    VALUE(SPOOL_DEFAULT_BLOCKING_IDLE_NS)                                            \
    VALUE(SPOOL_MAX_WORKERS)                                                         \
    VALUE(SPOOL_DEFAULT_STACK_SIZE)                                                  \
    VALUE(SPOOL_MIN_STACK_SIZE)                                                      \
    VALUE(SPOOL_MAX_STACK_SIZE)                                                      \
    VALUE(SPOOL_TLS_CLIENT)                                                          \
    VALUE(SPOOL_TLS_SERVER)                                                          \
    VALUE(SPOOL_TLS_VERIFY_PEER)                                                     \
    VALUE(SPOOL_TLS_VERIFY_HOSTNAME)                                                 \
    VALUE(SPOOL_TLS_REQUIRE_PEER_CERT)                                               \
    VALUE(SPOOL_SEM_MAX)                                                             \
    VALUE(SPOOL_FOREVER)                                                             \
    VALUE(SPOOL_DEBUG_SLOW_NS)                                                       \
    VALUE(SPOOL_VERSION_MAJOR)                                                       \
    VALUE(SPOOL_VERSION_MINOR)                                                       \
    VALUE(SPOOL_VERSION_PATCH)                                                       \
    VALUE(SPOOL_VERSION_NUMBER)

/* One row of a language's table: a struct (offset 0) or a field, an
 * initialiser (bytes: the object), or a value (size: the value). */
struct spool_layout_row {
    const char *what;
    uint64_t size, align, offset;
    const void *bytes;
};

/* The queue initialiser's slots: one array, so both objects point at it. */
extern void *spool_layout_slots[8];

/* The C table (layout_c.c) and its length; main (layout.cpp) builds the
 * C++ one the same way and compares. */
extern const struct spool_layout_row spool_layout_c[];
extern const size_t spool_layout_c_rows;

/* The rows, expanded the same way in both languages. sizeof, __alignof__
 * (GCC and clang, in C and C++: the alignment of a field as declared) and
 * offsetof of each; the address and size of each initialised object; each
 * value. */
#define SPOOL_LAYOUT_STRUCT_ROW(T) {#T, sizeof(T), __alignof__(T), 0, NULL},
#define SPOOL_LAYOUT_FIELD_ROW(T, f)                                                 \
    {#T "." #f, sizeof(((T *)0)->f), __alignof__(((T *)0)->f), offsetof(T, f), NULL},
#define SPOOL_LAYOUT_INIT_OBJECT(n, T, init) static const T spool_layout_object_##n = init;
#define SPOOL_LAYOUT_INIT_ROW(n, T, init)                                            \
    {#init, sizeof(T), __alignof__(T), 0, &spool_layout_object_##n},
#define SPOOL_LAYOUT_VALUE_ROW(v) {#v, (uint64_t)(v), 0, 0, NULL},

#define SPOOL_LAYOUT_OBJECTS SPOOL_LAYOUT_INITS(SPOOL_LAYOUT_INIT_OBJECT)
#define SPOOL_LAYOUT_ROWS                                                            \
    SPOOL_LAYOUT_STRUCTS(SPOOL_LAYOUT_STRUCT_ROW, SPOOL_LAYOUT_FIELD_ROW)            \
    SPOOL_LAYOUT_INITS(SPOOL_LAYOUT_INIT_ROW)                                        \
    SPOOL_LAYOUT_VALUES(SPOOL_LAYOUT_VALUE_ROW)

#ifdef __cplusplus
}
#endif

#endif /* SPOOL_TESTS_CXX_LAYOUT_H */

/*
 * test_cxx.cpp — a C++ program on spool: <spool/spool.h> included from
 * C++ (built as C++17 and as C++20 by tests/cxx/CMakeLists.txt), with
 * tasks written as lambdas and C++ objects passed through their void *.
 *   - a TCP echo over loopback: a server task accepts kClients
 *     connections and spawns one echo task per connection; kClients
 *     client tasks, at most kLimit at a time (a semaphore made with
 *     SPOOL_SEM_INIT in C++ static storage), each send a message with
 *     spool_send_all and read the echo back with spool_recv. The clients
 *     and the echo tasks are gathered with spool_gather; every message
 *     must come back whole, every task's result is its byte count, the
 *     server's the sum, and never more than kLimit clients hold a permit.
 *   - tasks that throw and catch a C++ exception after a suspension
 *     (they may resume on another worker), gathered with their results.
 * liburing-style: exit 0 pass, 1 fail; each failed check prints both
 * sides.
 */
#include <spool/spool.h>

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::atomic<int> failures{0};

void expect_eq(long long a, long long b, const char *as, const char *bs, int line)
{
    if (a != b) {
        std::printf("test_cxx.cpp:%d: %s == %s failed: %lld != %lld\n", line, as, bs, a, b);
        failures++;
    }
}
#define EXPECT_EQ(a, b) expect_eq((long long)(a), (long long)(b), #a, #b, __LINE__)
#define EXPECT(cond) expect_eq((cond) ? 1 : 0, 1, #cond, "true", __LINE__)

constexpr int kClients = 6;
constexpr int kLimit = 2;

/* The clients' permits: a static initialiser, in C++. */
spool_sem limit = SPOOL_SEM_INIT(kLimit);
std::atomic<int> holding{0}, peak{0};

struct Server {
    int listen_fd;
    int connections;
};

struct Client {
    int index = 0;
    unsigned port = 0;
    std::string sent, got;
};

/* Echoes one connection until EOF. Returns: the bytes echoed, or the
 * error. */
int echo(void *arg)
{
    const int fd = (int)(intptr_t)arg;
    int total = 0;
    for (;;) {
        char buf[256];
        const int n = spool_recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            total = n < 0 ? n : total;
            break;
        }
        const int rc = spool_send_all(fd, buf, (size_t)n, 0);
        if (rc < 0) {
            total = rc;
            break;
        }
        total += n;
    }
    spool_close(fd);
    return total;
}

/* Accepts s->connections connections, one echo task each; gathers them.
 * Returns: the bytes echoed on all of them, or the first error. */
int serve(void *arg)
{
    auto *s = static_cast<Server *>(arg);
    std::vector<spool_task *> echoes;
    int rc = 0;
    for (int i = 0; i < s->connections; i++) {
        const int fd = spool_accept(s->listen_fd, nullptr, nullptr);
        if (fd < 0) {
            rc = fd;
            break;
        }
        spool_task *t = spool_spawn(echo, (void *)(intptr_t)fd);
        if (t == nullptr) {
            spool_close(fd);
            rc = -ENOMEM;
            break;
        }
        echoes.push_back(t);
    }
    std::vector<int> bytes(echoes.size());
    const int gathered = spool_gather(echoes.data(), echoes.size(), bytes.data());
    if (rc < 0)
        return rc;
    if (gathered < 0)
        return gathered;
    int total = 0;
    for (int b : bytes)
        total += b;
    return total;
}

/* One client: under a permit, connects, sends its message, half-closes,
 * reads the echo until EOF. Returns: the bytes read back, or the error. */
int client(void *arg)
{
    auto *c = static_cast<Client *>(arg);
    int rc = spool_sem_acquire(&limit);
    if (rc < 0)
        return rc;
    const int now = ++holding;
    for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
    }
    spool_sleep_ms(1); /* hold the permit across a wait: let others queue */
    const int fd = spool_tcp_connect("127.0.0.1", c->port);
    if (fd < 0) {
        rc = fd;
    } else {
        rc = spool_send_all(fd, c->sent.data(), c->sent.size(), 0);
        if (rc >= 0)
            rc = spool_shutdown(fd, SHUT_WR);
        while (rc >= 0) {
            char buf[64];
            const int n = spool_recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                rc = n < 0 ? n : (int)c->got.size();
                break;
            }
            c->got.append(buf, (size_t)n);
        }
        spool_close(fd);
    }
    holding--;
    spool_sem_release(&limit);
    return rc;
}

int main_task(void *)
{
    EXPECT_EQ(spool_sem_value(&limit), kLimit);

    /* The echo. */
    Server server{spool_tcp_listen("127.0.0.1", 0, 16), kClients};
    EXPECT(server.listen_fd >= 0);
    if (server.listen_fd < 0)
        return 1;
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    EXPECT_EQ(getsockname(server.listen_fd, reinterpret_cast<sockaddr *>(&addr), &len), 0);
    spool_task *server_task = spool_spawn(serve, &server);
    EXPECT(server_task != nullptr);

    std::vector<Client> clients(kClients);
    std::vector<spool_task *> tasks;
    int expected_total = 0;
    for (int i = 0; i < kClients; i++) {
        Client &c = clients[(size_t)i];
        c.index = i;
        c.port = ntohs(addr.sin_port);
        c.sent = "hello from C++ client " + std::to_string(i) + std::string((size_t)i * 700, 'x');
        expected_total += (int)c.sent.size();
        tasks.push_back(spool_spawn(client, &c));
        EXPECT(tasks.back() != nullptr);
    }
    std::vector<int> results(kClients, -1);
    EXPECT_EQ(spool_gather(tasks.data(), tasks.size(), results.data()), 0);
    for (int i = 0; i < kClients; i++) {
        const Client &c = clients[(size_t)i];
        EXPECT_EQ(results[(size_t)i], c.sent.size());
        EXPECT_EQ(c.got.size(), c.sent.size());
        EXPECT(c.got == c.sent);
    }
    bool clients_ok = true;
    for (int r : results)
        clients_ok = clients_ok && r >= 0;
    if (!clients_ok && server_task)
        spool_task_cancel(server_task); /* it would wait for connections forever */
    spool_task *const server_tasks[] = {server_task};
    int echoed = -1;
    EXPECT_EQ(spool_gather(server_tasks, 1, &echoed), 0);
    EXPECT_EQ(echoed, expected_total);
    EXPECT(peak.load() >= 1);
    EXPECT(peak.load() <= kLimit);
    EXPECT_EQ(spool_sem_value(&limit), kLimit);
    spool_close(server.listen_fd);

    /* Exceptions thrown and caught inside a task, after a wait. */
    constexpr int kThrowers = 8;
    std::vector<spool_task *> throwers;
    for (intptr_t i = 0; i < kThrowers; i++) {
        throwers.push_back(spool_spawn(
            [](void *arg) -> int {
                const int n = (int)(intptr_t)arg;
                if (spool_yield() < 0)
                    return -1;
                try {
                    if (n % 2 == 1)
                        throw std::runtime_error(std::to_string(n));
                    return n * 10;
                } catch (const std::runtime_error &e) {
                    return std::stoi(e.what()) * 10 + 1;
                }
            },
            (void *)i));
        EXPECT(throwers.back() != nullptr);
    }
    std::vector<int> thrown(kThrowers, -1);
    EXPECT_EQ(spool_gather(throwers.data(), throwers.size(), thrown.data()), 0);
    for (int i = 0; i < kThrowers; i++)
        EXPECT_EQ(thrown[(size_t)i], i * 10 + i % 2);

    std::printf("echoed %d bytes over %d connections (at most %d at once), "
                "%d tasks threw and caught\n",
                echoed, kClients, peak.load(), kThrowers / 2);
    return 0;
}

} // namespace

int main()
{
    spool_config cfg{}; /* zero: every default */
    cfg.workers = 2;
    const int rc = spool_run(main_task, nullptr, &cfg);
    EXPECT_EQ(rc, 0);
    std::printf("test_cxx (C++%ld): %s\n", (long)__cplusplus / 100 % 100,
                failures.load() ? "FAIL" : "pass");
    return failures.load() ? 1 : 0;
}

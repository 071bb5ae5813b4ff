#include "reason/interrupt.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace ponder {

namespace {

std::atomic<bool> g_interrupted{false};
int g_pipe[2] = {-1, -1};

void on_sigint(int) {
    g_interrupted.store(true, std::memory_order_relaxed);
    if (g_pipe[1] >= 0) {
        int saved = errno;
        char byte = 1;
        [[maybe_unused]] ssize_t n = write(g_pipe[1], &byte, 1);
        errno = saved;
    }
}

}  // namespace

void install_interrupt_handler() {
    if (g_pipe[0] < 0 && pipe(g_pipe) == 0) {
        for (int fd : g_pipe) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    struct sigaction action {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: a blocking read or poll returns EINTR
    sigaction(SIGINT, &action, nullptr);
}

const std::atomic<bool>& interrupt_flag() {
    return g_interrupted;
}
bool interrupted() {
    return g_interrupted.load(std::memory_order_relaxed);
}
void clear_interrupt() {
    g_interrupted.store(false, std::memory_order_relaxed);
    drain_interrupt_fd();
}
void raise_interrupt() {
    on_sigint(SIGINT);
}

int interrupt_fd() {
    return g_pipe[0];
}

void drain_interrupt_fd() {
    if (g_pipe[0] < 0) return;
    char buf[64];
    while (read(g_pipe[0], buf, sizeof buf) > 0) {
    }
}

}  // namespace ponder

#include "tests/pty_session.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace ponder::test {

PtySession::PtySession(const std::vector<std::string>& args, const std::string& home,
                       const std::vector<std::string>& env, const PtyRedirects& redirects) {
    winsize size{};
    size.ws_row = 24;
    size.ws_col = 80;
    pid_ = forkpty(&master_, nullptr, nullptr, &size);
    if (pid_ < 0) throw std::runtime_error(std::string("forkpty: ") + std::strerror(errno));
    if (pid_ == 0) {
        setenv("HOME", home.c_str(), 1);
        setenv("XDG_CONFIG_HOME", (home + "/.config").c_str(), 1);
        setenv("XDG_DATA_HOME", (home + "/.local/share").c_str(), 1);
        setenv("XDG_CACHE_HOME", (home + "/.cache").c_str(), 1);
        setenv("TERM", "xterm", 1);
        setenv("INPUTRC", "/dev/null", 1);
        unsetenv("PONDER_MODEL");
        for (const auto& kv : env) putenv(strdup(kv.c_str()));
        if (!redirects.stdin_file.empty()) {
            int fd = open(redirects.stdin_file.c_str(), O_RDONLY);
            if (fd < 0 || dup2(fd, STDIN_FILENO) < 0) _exit(126);
            close(fd);
        }
        if (!redirects.stdout_file.empty()) {
            int fd = open(redirects.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(126);
            close(fd);
        }
        std::string binary = PONDER_BINARY;
        std::vector<std::string> copy = args;
        std::vector<char*> argv{binary.data()};
        for (auto& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(binary.c_str(), argv.data());
        _exit(127);
    }
}

PtySession::~PtySession() {
    if (pid_ > 0 && status_ < 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) close(master_);
}

void PtySession::send(const std::string& keys) {
    size_t done = 0;
    while (done < keys.size()) {
        ssize_t n = write(master_, keys.data() + done, keys.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        done += static_cast<size_t>(n);
    }
}

void PtySession::pump(std::chrono::milliseconds wait) {
    pollfd p{master_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
    char buf[4096];
    ssize_t n = read(master_, buf, sizeof buf);
    if (n > 0) output_.append(buf, static_cast<size_t>(n));
}

bool PtySession::expect(const std::string& text, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        size_t at = output_.find(text, mark_);
        if (at != std::string::npos) {
            mark_ = at + text.size();
            return true;
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return false;
        pump(std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                      std::chrono::milliseconds(100)));
    }
}

bool PtySession::wait_until(const std::function<bool(std::string_view recent)>& done,
                            std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (done(std::string_view(output_).substr(mark_))) {
            mark_ = output_.size();
            return true;
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return false;
        pump(std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                      std::chrono::milliseconds(100)));
    }
}

bool PtySession::expect_more(size_t bytes, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (output_.size() < mark_ + bytes) {
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return false;
        pump(std::min(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                      std::chrono::milliseconds(100)));
    }
    mark_ = output_.size();
    return true;
}

int PtySession::wait_exit(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pump(std::chrono::milliseconds(20));  // keep draining so the child never blocks on output
        int status = 0;
        pid_t r = waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            pump(std::chrono::milliseconds(0));
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return status_;
        }
    }
    return -1;
}

}  // namespace ponder::test

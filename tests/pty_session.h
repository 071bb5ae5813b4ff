#pragma once
// Drives the real ponder binary in a pseudo-terminal, as a user at a terminal would: type text,
// press keys, wait for output to appear.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::test {

// Files to put in place of the terminal on standard input or output (empty: the terminal).
struct PtyRedirects {
    std::string stdin_file;
    std::string stdout_file;
};

class PtySession {
  public:
    // Starts ponder with `args` on a new pseudo-terminal (80x24), with HOME and the XDG
    // directories under `home` so that history and logs stay private to the test.
    PtySession(const std::vector<std::string>& args, const std::string& home,
               const std::vector<std::string>& env = {}, const PtyRedirects& redirects = {});
    ~PtySession();
    PtySession(const PtySession&) = delete;
    PtySession& operator=(const PtySession&) = delete;

    void send(const std::string& keys);
    void send_line(const std::string& line) { send(line + "\r"); }
    void ctrl_c() { send("\x03"); }
    void ctrl_d() { send("\x04"); }
    // Sends `signal` to ponder itself (SIGKILL: as if the machine lost power, for ponder's files).
    void signal(int signal);

    // Waits until `text` appears in the output after position `from` (default: what was read
    // since the last successful expect). Returns true when it appeared in time.
    bool expect(const std::string& text,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Waits until `done` holds for the output since the last successful expect(); on success the
    // mark moves to the end of the output read so far.
    bool wait_until(const std::function<bool(std::string_view recent)>& done,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Waits until at least `bytes` more bytes of output arrive after the last expect().
    bool expect_more(size_t bytes, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Everything the terminal has shown so far (raw, with escape sequences).
    const std::string& output() const { return output_; }
    // Output since the last successful expect().
    std::string recent() const { return output_.substr(mark_); }

    // Waits for the process to exit; returns its exit status (128+signal if killed), or -1 on
    // timeout.
    int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  private:
    void pump(std::chrono::milliseconds wait);

    int master_ = -1;
    pid_t pid_ = -1;
    int status_ = -1;
    std::string output_;
    size_t mark_ = 0;
};

}  // namespace ponder::test

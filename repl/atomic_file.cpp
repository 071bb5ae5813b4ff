#include "repl/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "engine/error.h"

namespace ponder::repl {

namespace {

// Closes the descriptor and removes the temporary file unless it was renamed into place.
class TemporaryFile {
  public:
    TemporaryFile(std::filesystem::path path, bool private_file) : path_(std::move(path)) {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                     private_file ? 0600 : 0644);
        if (fd_ < 0) fail(path_.string(), ": cannot create: ", std::strerror(errno));
    }
    ~TemporaryFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!kept_) ::unlink(path_.c_str());
    }
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    void write_all(std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::write(fd_, data.data(), data.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fail(path_.string(), ": cannot write: ", std::strerror(errno));
            data.remove_prefix(static_cast<size_t>(n));
        }
    }
    void commit(const std::filesystem::path& target) {
        if (::fsync(fd_) != 0) fail(path_.string(), ": cannot write: ", std::strerror(errno));
        if (::close(std::exchange(fd_, -1)) != 0)
            fail(path_.string(), ": cannot write: ", std::strerror(errno));
        if (::rename(path_.c_str(), target.c_str()) != 0) {
            fail(target.string(), ": cannot replace: ", std::strerror(errno));
        }
        kept_ = true;
    }

  private:
    std::filesystem::path path_;
    int fd_ = -1;
    bool kept_ = false;
};

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::string_view contents,
                           bool private_file) {
    std::error_code ec;
    if (path.has_parent_path()) {
        std::filesystem::create_directories(path.parent_path(), ec);
        if (ec) fail(path.parent_path().string(), ": cannot create directory: ", ec.message());
    }
    // The process id keeps two sessions saving at once from sharing a temporary file.
    std::filesystem::path temporary = path;
    temporary += ".tmp-" + std::to_string(::getpid());
    ::unlink(temporary.c_str());  // left over by a crashed process that had this id
    TemporaryFile file(temporary, private_file);
    file.write_all(contents);
    file.commit(path);
}

}  // namespace ponder::repl

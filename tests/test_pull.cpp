// `ponder pull` and `ponder models` against a small hub served on 127.0.0.1 by the test itself:
// listing, choosing a file, progress, resuming a cut download, checksum verification.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/sha256.h"
#include "tests/support.h"

namespace ponder::test {
namespace {

// A minimal HTTP/1.1 server imitating the two hub endpoints ponder uses.
class FakeHub {
  public:
    struct File {
        std::string name;
        std::string bytes;
        std::string advertised_sha;  // empty: the real one
    };

    explicit FakeHub(std::vector<File> files) : files_(std::move(files)) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        listen(fd_, 8);
        socklen_t len = sizeof addr;
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeHub() {
        stop_ = true;
        shutdown(fd_, SHUT_RDWR);
        close(fd_);
        thread_.join();
    }

    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
    // The next full download of a file is cut after this many bytes.
    void cut_next_download_at(size_t bytes) { cut_at_ = bytes; }
    std::vector<std::string> ranges_seen() const { return ranges_; }

  private:
    void serve() {
        while (!stop_) {
            int client = accept(fd_, nullptr, nullptr);
            if (client < 0) break;
            handle(client);
            close(client);
        }
    }

    static void send_all(int fd, const std::string& data) {
        size_t done = 0;
        while (done < data.size()) {
            ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return;
            done += static_cast<size_t>(n);
        }
    }

    void handle(int client) {
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
            ssize_t n = recv(client, buf, sizeof buf, 0);
            if (n <= 0) return;
            request.append(buf, static_cast<size_t>(n));
        }
        std::string path = request.substr(4, request.find(' ', 4) - 4);
        size_t range_at = request.find("Range: bytes=");
        size_t from = 0;
        if (range_at != std::string::npos) {
            from = std::stoul(request.substr(range_at + 13));
            ranges_.push_back(
                request.substr(range_at + 13, request.find("\r\n", range_at) - range_at - 13));
        }
        if (path.rfind("/api/models/owner/model", 0) == 0) {
            nlohmann::json siblings = nlohmann::json::array({{{"rfilename", "README.md"}}});
            for (const auto& f : files_) {
                std::string sha = f.advertised_sha.empty() ? real_sha(f.bytes) : f.advertised_sha;
                siblings.push_back(
                    {{"rfilename", f.name}, {"lfs", {{"size", f.bytes.size()}, {"sha256", sha}}}});
            }
            std::string body = nlohmann::json{{"id", "owner/model"}, {"siblings", siblings}}.dump();
            send_all(client,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
            return;
        }
        for (const auto& f : files_) {
            if (path != "/owner/model/resolve/main/" + f.name) continue;
            std::string body = f.bytes.substr(std::min(from, f.bytes.size()));
            std::string head = from ? "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " +
                                          std::to_string(from) + "-" +
                                          std::to_string(f.bytes.size() - 1) + "/" +
                                          std::to_string(f.bytes.size()) + "\r\n"
                                    : "HTTP/1.1 200 OK\r\n";
            head +=
                "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
            if (cut_at_ && !from) {
                send_all(client, head + body.substr(0, cut_at_));
                cut_at_ = 0;
                return;  // the connection drops mid-transfer
            }
            send_all(client, head + body);
            return;
        }
        send_all(client,
                 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }

    static std::string real_sha(const std::string& bytes) {
        cli::Sha256 sha;
        sha.update(bytes.data(), bytes.size());
        return sha.hex_digest();
    }

    std::vector<File> files_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> cut_at_{0};
    std::vector<std::string> ranges_;
    std::thread thread_;
};

TEST(Sha256, KnownVectors) {
    cli::Sha256 empty;
    EXPECT_EQ(empty.hex_digest(),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cli::Sha256 abc;
    abc.update("abc", 3);
    EXPECT_EQ(abc.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cli::Sha256 long_input;
    std::string a(1000000, 'a');
    long_input.update(a.data(), a.size());
    EXPECT_EQ(long_input.hex_digest(),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

class Pull : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!have_shared("models/TinyStories-656K-Q8_0.gguf"))
            GTEST_SKIP() << "shared models missing";
        q8 = read_file(shared_dir() / "models/TinyStories-656K-Q8_0.gguf");
        q4 = read_file(shared_dir() / "models/TinyStories-656K-Q4_0.gguf");
    }
    std::vector<std::string> env(const FakeHub& hub) {
        return {"PONDER_HF_ENDPOINT=" + hub.endpoint(), "XDG_CACHE_HOME=" + cache.path().string()};
    }
    std::string q8, q4;
    TempDir cache;
};

TEST_F(Pull, DownloadsVerifiesListsAndFindsByName) {
    FakeHub hub({{"tiny-Q8_0.gguf", q8, ""}, {"tiny-Q4_0.gguf", q4, ""}});
    auto r = run_ponder({"pull", "owner/model:Q4_0"}, "", env(hub));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto saved = cache.path() / "ponder/models/owner/model/tiny-Q4_0.gguf";
    EXPECT_EQ(r.out, saved.string() + "\n");
    EXPECT_EQ(read_file(saved), q4);
    EXPECT_NE(r.err.find("downloading tiny-Q4_0.gguf"), std::string::npos) << r.err;

    // Without a tag, Q8_0 is preferred over Q4_0.
    r = run_ponder({"pull", "owner/model"}, "", env(hub));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("tiny-Q8_0.gguf"), std::string::npos);
    r = run_ponder({"pull", "owner/model:Q4_0"}, "", env(hub));
    EXPECT_NE(r.err.find("already downloaded"), std::string::npos);

    auto listed = nlohmann::json::parse(run_ponder({"models", "--json"}, "", env(hub)).out);
    ASSERT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed[0]["architecture"], "llama");
    r = run_ponder({"info", "-m", saved.string()}, "", env(hub));
    EXPECT_EQ(r.exit_code, 0);
    r = run_ponder({"-m", "tiny-Q4", "--raw", "-n", "3", "Once"}, "", env(hub));
    EXPECT_EQ(r.exit_code, 0) << "-m NAME finds a pulled model: " << r.err;
}

TEST_F(Pull, ResumesACutDownload) {
    FakeHub hub({{"tiny-Q8_0.gguf", q8, ""}});
    hub.cut_next_download_at(q8.size() / 3);
    auto r = run_ponder({"pull", "owner/model"}, "", env(hub));
    EXPECT_NE(r.exit_code, 0);
    auto partial = cache.path() / "ponder/models/owner/model/tiny-Q8_0.gguf.partial";
    ASSERT_TRUE(std::filesystem::exists(partial));
    EXPECT_EQ(std::filesystem::file_size(partial), q8.size() / 3);
    r = run_ponder({"pull", "owner/model"}, "", env(hub));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_file(cache.path() / "ponder/models/owner/model/tiny-Q8_0.gguf"), q8);
    auto ranges = hub.ranges_seen();
    ASSERT_EQ(ranges.size(), 1u);
    EXPECT_EQ(ranges[0], std::to_string(q8.size() / 3) + "-");
}

TEST_F(Pull, ChecksumMismatchAndBadNamesAreErrors) {
    FakeHub hub({{"tiny-Q8_0.gguf", q8, std::string(64, '0')}, {"other-Q4_0.gguf", q4, ""}});
    auto r = run_ponder({"pull", "owner/model:tiny"}, "", env(hub));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("SHA-256"), std::string::npos) << r.err;
    EXPECT_FALSE(
        std::filesystem::exists(cache.path() / "ponder/models/owner/model/tiny-Q8_0.gguf"));
    r = run_ponder({"pull", "owner/missing"}, "", env(hub));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no such repository"), std::string::npos) << r.err;
    r = run_ponder({"pull", "owner/model:Q5_K"}, "", env(hub));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("other-Q4_0.gguf"), std::string::npos) << "lists what there is: " << r.err;
    r = run_ponder({"pull", "not-a-repo"}, "", env(hub));
    EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace ponder::test

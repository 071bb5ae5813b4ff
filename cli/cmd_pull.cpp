// `ponder pull REPO[:FILE|:QUANT]`: downloads a GGUF model from the Hugging Face hub (or the
// endpoint in $PONDER_HF_ENDPOINT / $HF_ENDPOINT) into ~/.cache/ponder/models, with a progress
// bar, resumption of partial downloads and SHA-256 verification. `ponder models` lists what is
// there.
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/paths.h"
#include "cli/sha256.h"
#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/memory.h"
#include "reason/interrupt.h"

namespace ponder::cli {

namespace fs = std::filesystem;

namespace {

struct HubFile {
    std::string name;
    uint64_t size = 0;
    std::string sha256;  // empty when the hub gives none
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string endpoint() {
    for (const char* var : {"PONDER_HF_ENDPOINT", "HF_ENDPOINT"}) {
        if (const char* v = std::getenv(var); v && *v) {
            std::string e = v;
            while (!e.empty() && e.back() == '/') e.pop_back();
            return e;
        }
    }
    return "https://huggingface.co";
}

// One libcurl handle with the settings every request shares.
class Request {
  public:
    explicit Request(const std::string& url) : curl_(curl_easy_init()), url_(url) {
        if (!curl_) fail("cannot start libcurl");
        curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl_, CURLOPT_USERAGENT, "ponder");
        curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 20L);
        curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, 60L);
        if (const char* token = std::getenv("HF_TOKEN"); token && *token) {
            header_ = "Authorization: Bearer " + std::string(token);
            headers_ = curl_slist_append(headers_, header_.c_str());
            curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
        }
    }
    ~Request() {
        curl_slist_free_all(headers_);
        curl_easy_cleanup(curl_);
    }
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;

    CURL* handle() { return curl_; }

    // Performs the request; throws ponder::Error on transport errors.
    long perform() {
        CURLcode rc = curl_easy_perform(curl_);
        if (rc == CURLE_ABORTED_BY_CALLBACK) fail("interrupted");
        if (rc != CURLE_OK) fail(url_, ": ", curl_easy_strerror(rc));
        long status = 0;
        curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
        return status;
    }

  private:
    CURL* curl_;
    std::string url_;
    std::string header_;
    curl_slist* headers_ = nullptr;
};

size_t append_to_string(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

std::vector<HubFile> list_repo(const std::string& repo) {
    const std::string url = endpoint() + "/api/models/" + repo + "?blobs=true";
    Request request(url);
    std::string body;
    curl_easy_setopt(request.handle(), CURLOPT_WRITEFUNCTION, append_to_string);
    curl_easy_setopt(request.handle(), CURLOPT_WRITEDATA, &body);
    long status = request.perform();
    if (status == 401 || status == 403) fail(repo, ": access denied (a gated model? set HF_TOKEN)");
    if (status == 404) fail(repo, ": no such repository on ", endpoint());
    if (status != 200) fail(url, ": HTTP status ", status);
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.contains("siblings") || !j["siblings"].is_array()) {
        fail(url, ": unexpected answer from the hub");
    }
    std::vector<HubFile> files;
    for (const auto& s : j["siblings"]) {
        if (!s.is_object() || !s.contains("rfilename")) continue;
        HubFile f;
        f.name = s["rfilename"].get<std::string>();
        if (s.contains("lfs") && s["lfs"].is_object()) {
            f.size = s["lfs"].value("size", uint64_t{0});
            f.sha256 = s["lfs"].value("sha256", std::string());
        }
        if (f.size == 0 && s.contains("size") && s["size"].is_number_unsigned())
            f.size = s["size"].get<uint64_t>();
        files.push_back(std::move(f));
    }
    return files;
}

// The file a spec names: an exact file name, or a quantization tag ("Q4_K_M"), or by default
// the most useful single-file quantization there is.
HubFile choose_file(const std::vector<HubFile>& files, const std::string& repo,
                    const std::string& wanted) {
    std::vector<const HubFile*> ggufs;
    for (const auto& f : files) {
        if (lower(f.name).ends_with(".gguf")) ggufs.push_back(&f);
    }
    if (ggufs.empty()) fail(repo, ": the repository has no .gguf files");
    auto list = [&] {
        std::string names;
        for (const auto* f : ggufs) names += "\n  " + f->name;
        return names;
    };
    if (!wanted.empty()) {
        for (const auto* f : ggufs) {
            if (f->name == wanted) return *f;
        }
        std::vector<const HubFile*> matches;
        for (const auto* f : ggufs) {
            if (lower(f->name).find(lower(wanted)) != std::string::npos) matches.push_back(f);
        }
        if (matches.size() == 1) return *matches.front();
        if (matches.empty()) fail(repo, ": no GGUF file matches '", wanted, "'; it has:", list());
        fail(repo, ": '", wanted, "' matches several files; name one:", list());
    }
    for (const char* preference : {"q4_k_m", "q8_0", "q4_0", "f16"}) {
        for (const auto* f : ggufs) {
            if (lower(f->name).find(preference) != std::string::npos) return *f;
        }
    }
    if (ggufs.size() == 1) return *ggufs.front();
    fail(repo, ": several GGUF files; choose one with ", repo, ":FILE or ", repo,
         ":QUANT:", list());
}

struct Download {
    std::FILE* file = nullptr;
    uint64_t offset = 0;  // bytes already on disk when the transfer started
    uint64_t total = 0;   // expected size of the whole file (0: unknown)
    bool show = false;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_draw{};
    long status = 0;
    bool write_error = false;
};

size_t write_file_chunk(char* data, size_t size, size_t n, void* user) {
    auto* d = static_cast<Download*>(user);
    if (std::fwrite(data, size, n, d->file) != n) {
        d->write_error = true;
        return 0;
    }
    return size * n;
}

int progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
    auto* d = static_cast<Download*>(user);
    if (interrupted()) return 1;
    if (!d->show) return 0;
    auto t = std::chrono::steady_clock::now();
    if (t - d->last_draw < std::chrono::milliseconds(100) && (total == 0 || now < total)) return 0;
    d->last_draw = t;
    double done = static_cast<double>(d->offset + static_cast<uint64_t>(now));
    double whole = d->total ? static_cast<double>(d->total)
                            : static_cast<double>(d->offset + static_cast<uint64_t>(total));
    double seconds = std::chrono::duration<double>(t - d->start).count();
    double speed = seconds > 0 ? static_cast<double>(now) / seconds : 0;
    double fraction = whole > 0 ? done / whole : 0;
    int width = 30, filled = static_cast<int>(fraction * width);
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < width) bar += '>';
    bar.resize(static_cast<size_t>(width), ' ');
    char eta[32] = "";
    if (speed > 0 && whole > done)
        std::snprintf(eta, sizeof eta, " ETA %.0fs", (whole - done) / speed);
    std::fprintf(stderr, "\r\033[K[%s] %3.0f%% %s / %s  %s/s%s", bar.c_str(), fraction * 100,
                 human_bytes(static_cast<uint64_t>(done)).c_str(),
                 human_bytes(static_cast<uint64_t>(whole)).c_str(),
                 human_bytes(static_cast<uint64_t>(speed)).c_str(), eta);
    std::fflush(stderr);
    return 0;
}

// Downloads `url` to `partial`, continuing from what is already there.
void fetch(const std::string& url, const fs::path& partial, uint64_t expected_size,
           bool show_progress) {
    std::error_code ec;
    uint64_t have = fs::exists(partial, ec) ? fs::file_size(partial, ec) : 0;
    if (expected_size && have > expected_size) have = 0;  // not a prefix of this file
    for (int attempt = 0; attempt < 2; ++attempt) {
        Download d;
        d.offset = have;
        d.total = expected_size;
        d.show = show_progress;
        d.file = std::fopen(partial.c_str(), have ? "ab" : "wb");
        if (!d.file) fail(partial.string(), ": cannot write");
        Request request(url);
        curl_easy_setopt(request.handle(), CURLOPT_WRITEFUNCTION, write_file_chunk);
        curl_easy_setopt(request.handle(), CURLOPT_WRITEDATA, &d);
        curl_easy_setopt(request.handle(), CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(request.handle(), CURLOPT_XFERINFOFUNCTION, progress);
        curl_easy_setopt(request.handle(), CURLOPT_XFERINFODATA, &d);
        if (have)
            curl_easy_setopt(request.handle(), CURLOPT_RESUME_FROM_LARGE,
                             static_cast<curl_off_t>(have));
        long status = 0;
        try {
            status = request.perform();
        } catch (...) {
            std::fclose(d.file);
            if (show_progress) std::fputs("\n", stderr);
            throw;
        }
        std::fclose(d.file);
        if (show_progress) std::fputs("\r\033[K", stderr);
        if (d.write_error) fail(partial.string(), ": write failed (disk full?)");
        if (have && status == 200) {
            // The server ignored the range and sent the whole file after our partial one.
            fs::remove(partial, ec);
            have = 0;
            continue;
        }
        if (status == 416 && have == expected_size) return;  // already complete
        if (status != 200 && status != 206) fail(url, ": HTTP status ", status);
        return;
    }
    fail(url, ": the server restarted the download twice");
}

struct PullOptions {
    std::string spec;
    bool quiet = false;
};

int run_pull(const PullOptions& opt) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    install_interrupt_handler();
    std::string repo = opt.spec, wanted;
    if (auto colon = repo.find(':'); colon != std::string::npos) {
        wanted = repo.substr(colon + 1);
        repo.resize(colon);
    }
    if (std::count(repo.begin(), repo.end(), '/') != 1 || repo.front() == '/' ||
        repo.back() == '/') {
        fail("'", opt.spec, "' is not a repository name like owner/name[:FILE|:QUANT]");
    }
    HubFile file = choose_file(list_repo(repo), repo, wanted);
    if (file.name.find("..") != std::string::npos || file.name.front() == '/')
        fail(repo, ": refusing file name '", file.name, "'");
    fs::path dest = models_dir() / repo / file.name;
    fs::create_directories(dest.parent_path());
    std::error_code ec;
    auto verify = [&](const fs::path& path) {
        if (file.size && fs::file_size(path, ec) != file.size) {
            fail(path.string(), ": size ", fs::file_size(path, ec), " bytes, expected ", file.size);
        }
        if (!file.sha256.empty() && sha256_file(path.string()) != file.sha256) {
            fs::remove(path, ec);
            fail(
                path.string(),
                ": SHA-256 does not match the hub's checksum; the download was removed, try again");
        }
    };
    if (fs::exists(dest, ec)) {
        verify(dest);
        if (!opt.quiet) std::fprintf(stderr, "ponder: already downloaded\n");
        std::printf("%s\n", dest.c_str());
        return 0;
    }
    fs::path partial = dest;
    partial += ".partial";
    const std::string url = endpoint() + "/" + repo + "/resolve/main/" + file.name;
    if (!opt.quiet)
        std::fprintf(stderr, "ponder: downloading %s (%s) from %s\n", file.name.c_str(),
                     file.size ? human_bytes(file.size).c_str() : "size unknown", repo.c_str());
    try {
        fetch(url, partial, file.size, !opt.quiet && isatty(STDERR_FILENO));
    } catch (const Error&) {
        if (interrupted()) {
            std::fprintf(stderr, "ponder: interrupted; run the same command again to resume\n");
            return 130;
        }
        throw;
    }
    verify(partial);
    fs::rename(partial, dest, ec);
    if (ec) fail(dest.string(), ": cannot rename the download into place: ", ec.message());
    GgufFile::open(dest);  // a clear error now rather than at first use
    if (!opt.quiet) {
        std::fprintf(stderr, "ponder: saved; use it with -m %s\n",
                     file.name.substr(0, file.name.size() - 5).c_str());
    }
    std::printf("%s\n", dest.c_str());
    return 0;
}

struct ModelsOptions {
    bool json = false;
};

int run_models(const ModelsOptions& opt) {
    fs::path dir = models_dir();
    nlohmann::json list = nlohmann::json::array();
    std::error_code ec;
    if (fs::is_directory(dir, ec)) {
        for (const auto& entry : fs::recursive_directory_iterator(
                 dir, fs::directory_options::skip_permission_denied, ec)) {
            if (!entry.is_regular_file() || entry.path().extension() != ".gguf") continue;
            nlohmann::json m = {{"name", entry.path().stem().string()},
                                {"path", entry.path().string()},
                                {"size", entry.file_size()}};
            try {
                GgufFile f = GgufFile::open(entry.path());
                m["architecture"] = f.get_string("general.architecture").value_or("");
            } catch (const Error& e) {
                m["error"] = e.what();
            }
            list.push_back(std::move(m));
        }
    }
    std::sort(list.begin(), list.end(),
              [](const auto& a, const auto& b) { return a["name"] < b["name"]; });
    if (opt.json) {
        std::cout << list.dump(2) << "\n";
        return 0;
    }
    if (list.empty()) {
        std::fprintf(stderr, "ponder: no models in %s; get one with `ponder pull REPO`\n",
                     dir.c_str());
        return 0;
    }
    for (const auto& m : list) {
        std::printf("%-48s %10s  %-8s %s\n", m["name"].get<std::string>().c_str(),
                    human_bytes(m["size"].get<uint64_t>()).c_str(),
                    m.value("architecture", "?").c_str(), m["path"].get<std::string>().c_str());
    }
    return 0;
}

}  // namespace

void add_pull_command(CLI::App& app, CommandAction& action) {
    auto opt = std::make_shared<PullOptions>();
    CLI::App* cmd = app.add_subcommand(
        "pull", "Download a GGUF model from Hugging Face into ~/.cache/ponder/models");
    cmd->add_option("repo", opt->spec,
                    "owner/name, owner/name:FILE.gguf or owner/name:QUANT (e.g. :Q4_K_M)")
        ->required();
    cmd->add_flag("-q,--quiet", opt->quiet, "No progress on stderr");
    cmd->footer(
        "The hub address comes from $PONDER_HF_ENDPOINT or $HF_ENDPOINT; $HF_TOKEN is sent for "
        "gated models.");
    cmd->callback([opt, &action] { action = [opt] { return run_pull(*opt); }; });

    auto mopt = std::make_shared<ModelsOptions>();
    CLI::App* models =
        app.add_subcommand("models", "List downloaded models (use one with -m NAME)");
    models->add_flag("--json", mopt->json, "Print a JSON array");
    models->callback([mopt, &action] { action = [mopt] { return run_models(*mopt); }; });
}

}  // namespace ponder::cli

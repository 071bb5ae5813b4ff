#include "reason/path_access.h"

#include <deque>

#include "engine/error.h"

namespace ponder {

namespace fs = std::filesystem;

fs::path resolve_path(const fs::path& path) {
    std::error_code ec;
    fs::path absolute = fs::absolute(path, ec);
    if (ec) absolute = fs::current_path() / path;
    const fs::path relative = absolute.relative_path();
    std::deque<fs::path> pending(relative.begin(), relative.end());
    fs::path resolved = absolute.root_path();
    int hops = 0;
    while (!pending.empty()) {
        fs::path part = std::move(pending.front());
        pending.pop_front();
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            resolved = resolved.parent_path();
            continue;
        }
        fs::path candidate = resolved / part;
        // symlink_status does not follow the link, so a dangling one is seen too.
        if (!fs::is_symlink(fs::symlink_status(candidate, ec))) {
            resolved = std::move(candidate);
            continue;
        }
        if (++hops > 40) fail(path.string(), ": too many levels of symbolic links");
        fs::path target = fs::read_symlink(candidate, ec);
        if (ec) fail(path.string(), ": cannot read the symbolic link ", candidate.string());
        if (target.is_absolute()) resolved = target.root_path();
        fs::path rest = target.relative_path();
        pending.insert(pending.begin(), rest.begin(), rest.end());
    }
    return resolved;
}

bool path_inside(const fs::path& path, const fs::path& dir) {
    auto p = path.begin();
    for (auto d = dir.begin(); d != dir.end(); ++d) {
        if (d->empty()) continue;  // a trailing slash
        if (p == path.end() || *p != *d) return false;
        ++p;
    }
    return true;
}

ReadableDirs::ReadableDirs(const std::vector<fs::path>& extra) {
    std::error_code ec;
    dirs_.push_back(resolve_path(fs::current_path(ec)));
    for (const auto& dir : extra) dirs_.push_back(resolve_path(dir));
}

bool ReadableDirs::allows(const fs::path& path) const {
    fs::path resolved;
    try {
        resolved = resolve_path(path);
    } catch (const Error&) {
        return false;  // a symlink loop leads nowhere readable
    }
    for (const auto& dir : dirs_) {
        if (path_inside(resolved, dir)) return true;
    }
    return false;
}

}  // namespace ponder

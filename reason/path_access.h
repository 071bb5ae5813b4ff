#pragma once
// Which files a script's model-facing tools and its writes may reach. Paths are compared after
// resolving every symlink and "..", including dangling symlinks at the end of the path (which a
// later open() would follow), so neither a link nor "../" leads out of an allowed directory.
#include <filesystem>
#include <vector>

namespace ponder {

// The absolute form of `path` with every symlink followed (up to 40 hops, as the kernel does)
// and "." / ".." applied, whether or not its last components exist. Throws ponder::Error for a
// symlink loop.
std::filesystem::path resolve_path(const std::filesystem::path& path);

// True when resolved `path` is `dir` or lies below it (both already resolved).
bool path_inside(const std::filesystem::path& path, const std::filesystem::path& dir);

// Read access limited to a set of directories: the working directory and any added ones.
class ReadableDirs {
  public:
    // The working directory at construction, plus `extra` (resolved now).
    explicit ReadableDirs(const std::vector<std::filesystem::path>& extra = {});

    bool allows(const std::filesystem::path& path) const;
    const std::filesystem::path& working_dir() const { return dirs_.front(); }
    const std::vector<std::filesystem::path>& dirs() const { return dirs_; }

  private:
    std::vector<std::filesystem::path> dirs_;  // resolved; the working directory first
};

}  // namespace ponder

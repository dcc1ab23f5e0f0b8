#include "datasets/data_paths.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace lil {
namespace fs = std::filesystem;

namespace {

std::optional<std::string> env_value(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

bool is_repo_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "configs", ec) && fs::is_directory(dir / "datasets" / "samples", ec);
}

std::optional<std::string> nearest_repo_ancestor(fs::path dir) {
  while (!dir.empty()) {
    if (is_repo_dir(dir)) return dir.string();
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> find_repo_dir() {
  if (auto pinned = env_value("LIL_REPO_DIR")) return pinned;
  std::error_code ec;
  // The executable first: a build directory lives inside its checkout, whatever the working directory is.
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    if (auto found = nearest_repo_ancestor(exe.parent_path())) return found;
  }
  const fs::path cwd = fs::current_path(ec);
  if (!ec) return nearest_repo_ancestor(cwd);
  return std::nullopt;
}

std::string resolve_shared_dir(const std::string& repo_dir) {
  if (auto pinned = env_value("LIL_SHARED_DIR")) {
    std::error_code ec;
    if (!fs::is_directory(*pinned, ec)) fail_at("LIL_SHARED_DIR", "'" + *pinned + "' is not a directory");
    return *pinned;
  }
  const fs::path shared = (fs::path(repo_dir) / ".." / "shared").lexically_normal();
  std::error_code ec;
  if (!fs::is_directory(shared, ec)) {
    fail_at("shared data directory", "'" + shared.string() +
                                         "' does not exist; set LIL_SHARED_DIR or pass the data file explicitly");
  }
  return shared.string();
}

std::string resolve_shared_dir() {
  if (auto pinned = env_value("LIL_SHARED_DIR")) return resolve_shared_dir(std::string());
  const auto repo = find_repo_dir();
  if (!repo) {
    fail_at("shared data directory",
            "cannot locate the lil checkout (looked above the executable and the working directory); set "
            "LIL_SHARED_DIR or LIL_REPO_DIR, or pass the data file explicitly");
  }
  return resolve_shared_dir(*repo);
}

}  // namespace lil

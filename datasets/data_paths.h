#pragma once
// Where lil finds data that is not compiled in: the shared data dir (benchmarks, never copied into the
// repository) and the checkout itself (configs/templates/). Both can be pinned by environment variables,
// which is what CI and cluster jobs should do.
#include <optional>
#include <string>

namespace lil {

// The lil checkout: $LIL_REPO_DIR when set, else the nearest ancestor of the running executable's
// directory, then of the working directory, that holds both configs/ and datasets/samples/.
std::optional<std::string> find_repo_dir();

// The shared dir: $LIL_SHARED_DIR when set, else `<repo>/../shared` for the repo found by find_repo_dir()
// (or given as `repo_dir`). LilError naming both options when the directory does not exist.
std::string resolve_shared_dir();
std::string resolve_shared_dir(const std::string& repo_dir);

}  // namespace lil

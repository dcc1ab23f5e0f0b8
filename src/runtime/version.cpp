#include "core/version.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include "build_info.h"

namespace lil {

std::string libtorch_version() { return TORCH_VERSION; }

bool cuda_available() { return torch::cuda::is_available(); }

std::string version_string() {
  return std::string("lil ") + LIL_VERSION + " (commit " + LIL_GIT_COMMIT + ", LibTorch " + libtorch_version() +
         ", CUDA " + (cuda_available() ? "yes" : "no") + ")";
}

}  // namespace lil

#pragma once
#include <string>

namespace lil {
// "lil 0.1.0 (commit abc123, LibTorch 1.13.1, CUDA no)"; implemented in src/runtime/version.cpp.
std::string version_string();
std::string libtorch_version();
bool cuda_available();
}  // namespace lil

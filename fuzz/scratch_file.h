#pragma once
// The parsers under test read files, so each fuzz input is written to a scratch file first. One file per
// target process (libFuzzer runs inputs one at a time), removed at exit.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace lil::fuzz {

inline std::string scratch_dir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/lil-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    return pattern;
  }();
  return dir;
}

inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace lil::fuzz

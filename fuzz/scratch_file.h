#pragma once
// The parsers under test read files, so each fuzz input is written to a scratch file first: one folder
// per process and entry point (libFuzzer runs inputs one at a time), removed at exit.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <unistd.h>

namespace lil::fuzz {

inline const std::string& scratch_root() {
  // Never destroyed: the exit handler that removes the folder runs after static destructors would.
  static const std::string* dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/lil-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    const auto* created = new std::string(pattern);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_root(), ignored);
    });
    return created;
  }();
  return *dir;
}

// <root>/<name>/, created on first use.
inline std::string scratch_dir(const std::string& name) {
  const std::string dir = scratch_root() + "/" + name;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) std::abort();
  return dir;
}

inline std::string write_scratch(const std::string& dir_name, const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir(dir_name) + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) std::abort();
  return path;
}

}  // namespace lil::fuzz

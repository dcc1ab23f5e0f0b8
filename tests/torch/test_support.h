#pragma once
// Paths shared by the torch tests.
#include <cstdlib>
#include <string>

namespace lil::test {

inline std::string source_dir() { return LIL_SOURCE_DIR; }
inline std::string fixture_model(const std::string& name) { return source_dir() + "/tests/fixtures/models/" + name; }
inline std::string parity_file(const std::string& name) { return source_dir() + "/tests/fixtures/parity/" + name + ".json"; }

}  // namespace lil::test

// The libFuzzer target of one entry point of fuzz/entry_points.cpp; scripts/fuzz.sh compiles this file
// once per entry point with -DLIL_FUZZ_TARGET='"<name>"'. A LilError is lil refusing the input, which is
// the right answer; any other exception, a crash or a sanitizer report is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "fuzz/entry_points.h"

namespace {

const lil::fuzz::EntryPoint& target() {
  static const lil::fuzz::EntryPoint* entry = [] {
    try {
      return &lil::fuzz::entry_point(LIL_FUZZ_TARGET);
    } catch (const lil::LilError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      std::abort();
    }
  }();
  return *entry;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    target().run(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const lil::LilError&) {
  }
  return 0;
}

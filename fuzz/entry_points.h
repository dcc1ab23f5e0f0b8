#pragma once
// The fuzzed entry points: what each libFuzzer target of scripts/fuzz.sh does with one input. They live
// here, not in the targets, so that tests/unit/fuzz_regressions_test.cpp replays crashers and adversarial
// inputs through exactly the code the fuzzer ran. Each throws LilError for input lil refuses (the targets
// catch it; anything else escaping, a crash, a leak or a sanitizer report is a finding).
#include <string>
#include <string_view>
#include <vector>

namespace lil::fuzz {

struct EntryPoint {
  std::string name;  // the target's name: its binary, its seed folder and its fuzz/regressions/ folder
  std::string what;  // what the input is, for scripts/fuzz.sh --list and test names
  void (*run)(std::string_view input);
};

const std::vector<EntryPoint>& entry_points();
// The entry point of that name; LilError naming the known ones otherwise.
const EntryPoint& entry_point(const std::string& name);

}  // namespace lil::fuzz

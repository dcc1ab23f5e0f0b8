// Answer extraction, normalisation and grading. The input is "<model output>\0<gold answer>" (no NUL: the
// gold is empty); it is graded under every data-set kind, lenient and strict.
#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"
#include "datasets/answer_normalization.h"
#include "datasets/dataset.h"
#include "datasets/grader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string output = input.substr(0, split);
  const std::string gold = split == std::string::npos ? "" : input.substr(split + 1);
  try {
    (void)lil::normalize_answer(output);
    (void)lil::extract_answer_detailed(output);
    (void)lil::answers_equivalent(output, gold);
    for (const lil::DatasetKind& kind : lil::list_dataset_kinds()) {
      for (bool strict : {false, true}) (void)lil::grade(kind, output, gold, strict);
    }
  } catch (const lil::LilError&) {
  }
  return 0;
}

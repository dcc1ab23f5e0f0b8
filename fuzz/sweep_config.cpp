// Sweep configs: JSON -> validated config -> grid of cells. The vocabulary is fixed here (the registries
// live in torch code); relative model paths resolve against the repository's configs/ directory.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_util.h"
#include "datasets/dataset.h"
#include "runtime/sweep_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const lil::SweepVocabulary vocabulary = [] {
    lil::SweepVocabulary v;
    v.policies = {"full", "sink", "h2o", "quest", "snapkv", "tova"};
    v.controllers = {"none", "guardian", "entropy", "ngram"};
    for (const auto& kind : lil::list_dataset_kinds()) v.dataset_kinds.push_back(kind.name);
    v.templates = {"plain", "qwen-chatml", "r1-distill"};
    return v;
  }();
  try {
    const nlohmann::json doc =
        lil::parse_json_text(std::string(reinterpret_cast<const char*>(data), size), "sweep.json");
    const lil::SweepConfig config =
        lil::parse_sweep_config(doc, "sweep.json", std::string(LIL_SOURCE_DIR) + "/configs", vocabulary);
    (void)lil::expand_grid(config);
  } catch (const lil::LilError&) {
  }
  return 0;
}

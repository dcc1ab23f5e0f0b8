#pragma once
// tokenizer.json "post_processor": what encode(..., add_special_tokens) adds around the ids.
// TemplateProcessing (single-sequence template, e.g. Llama-3's BOS), ByteLevel (offsets only, so a
// no-op for ids) and Sequence.
#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/json_path.h"

namespace lil {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids, bool add_special_tokens) const = 0;
};

// nullptr for a JSON null. Unsupported types throw LilError naming the file and key at `path`.
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& config, const JsonPath& path);

}  // namespace lil

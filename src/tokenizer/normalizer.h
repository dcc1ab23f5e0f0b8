#pragma once
// tokenizer.json "normalizer": Unicode normalization forms (via utf8proc) and Sequence of them.
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokenizer/json_path.h"

namespace lil {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8; the result replaces `out`.
  virtual void normalize(std::string_view text, std::string& out) const = 0;
};

// nullptr for a JSON null (no normalizer). Unsupported types and malformed entries throw LilError naming
// the file and key at `path`.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config, const JsonPath& path);

}  // namespace lil

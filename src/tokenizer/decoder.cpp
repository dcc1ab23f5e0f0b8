#include "tokenizer/decoder.h"

#include "core/json_util.h"
#include "tokenizer/byte_level.h"

namespace lil {

TokenDecoder TokenDecoder::from_json(const nlohmann::json& config, const JsonPath& path) {
  if (config.is_null()) path.fail("a decoder is required (expected {\"type\": \"ByteLevel\", ...}), got null");
  const std::string type = path.require_string(config, "type");
  if (type != "ByteLevel") (path / "type").fail("unsupported decoder '" + type + "' (supported: ByteLevel)");
  return TokenDecoder();
}

std::string TokenDecoder::token_bytes(std::string_view token) const {
  if (auto bytes = byte_level::decode_token(token)) return std::move(*bytes);
  return std::string(token);
}

}  // namespace lil

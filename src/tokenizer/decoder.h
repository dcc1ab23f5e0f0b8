#pragma once
// tokenizer.json "decoder": what bytes a token string stands for when ids are turned back into text.
// Only ByteLevel exists in the byte-level BPE models lil runs; the text is made from all tokens' bytes
// at once, so a character split across tokens survives.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokenizer/json_path.h"

namespace lil {

class TokenDecoder {
 public:
  // Throws LilError naming the file and key at `path` for anything but a ByteLevel decoder.
  static TokenDecoder from_json(const nlohmann::json& config, const JsonPath& path);

  // ByteLevel: the table's bytes when every character of `token` is in the GPT-2 table, else the
  // token's own UTF-8 (added tokens such as "<|im_start|>" or ones containing spaces).
  std::string token_bytes(std::string_view token) const;

 private:
  TokenDecoder() = default;
};

}  // namespace lil

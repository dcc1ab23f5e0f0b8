// Encode and decode of arbitrary bytes with the real Qwen3 tokenizer (the one tiny-qwen2 uses): the input
// is encoded as text, and read as little-endian int32 ids for decode and the streaming decoder.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const lil::Tokenizer tokenizer =
      lil::Tokenizer::from_model_dir(std::string(LIL_SOURCE_DIR) + "/tests/fixtures/models/tiny-qwen2");
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (bool special : {false, true}) {
    try {
      (void)tokenizer.decode(tokenizer.encode(text, special));
    } catch (const lil::LilError&) {
    }
  }
  std::vector<int32_t> ids(size / 4);
  if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * 4);
  for (bool skip : {false, true}) {
    try {
      (void)tokenizer.decode(ids, skip);
    } catch (const lil::LilError&) {
    }
    try {
      lil::StreamDecoder stream(tokenizer, skip);
      for (int32_t id : ids) (void)stream.push(id);
      (void)stream.flush();
    } catch (const lil::LilError&) {
    }
  }
  return 0;
}

// tokenizer.json loading; a tokenizer that loads must also encode and decode a fixed text.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "scratch_file.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lil::fuzz::write_scratch("tokenizer.json", data, size);
  try {
    const lil::Tokenizer tokenizer = lil::Tokenizer::from_files(path, "");
    const std::vector<int32_t> ids = tokenizer.encode("Hello wörld 123 <|im_end|>\n\tabc  ", true);
    (void)tokenizer.decode(ids, false);
    (void)tokenizer.decode(ids, true);
  } catch (const lil::LilError&) {
  }
  return 0;
}

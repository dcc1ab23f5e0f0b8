#pragma once
// Guardian on text (signal=text): the same rule as controller_guardian.h, with C the size in bytes of the
// detokenised output compressed by a real compressor, for comparison with the study's own reading (it does
// not say whether it compressed ids or text). Each check decodes and compresses the whole output again
// (O(n) per check), which is the price of using an off-the-shelf compressor.
//  - zstd (default, level 3): one-shot ZSTD_compress; levels >= 3 keep a window of at least 2 MiB, i.e. the
//    whole output of any run here (about 4 bytes per token).
//  - zlib: compress2; its window is 32 KiB, so it only sees the last ~8k tokens.
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/controller.h"
#include "runtime/controller_guardian.h"

namespace lil {

enum class TextCodec { Zstd, Zlib };

struct GuardianTextOptions {
  int64_t every = 250;
  double threshold = 20;  // bytes
  TextCodec codec = TextCodec::Zstd;
  int level = 3;          // zstd 1..19, zlib 1..9
};

// Compressed size in bytes of `text` (the codec's own framing included).
int64_t compressed_text_bytes(const std::string& text, TextCodec codec, int level);

class GuardianTextController : public StopController {
 public:
  explicit GuardianTextController(const GuardianTextOptions& options);

  std::string name() const override { return "guardian"; }
  int64_t check_every() const override { return options_.every; }
  // LilError when the context has no tokenizer (signal=text decodes the ids).
  void reset(const ControllerContext& context) override;
  std::vector<ControllerCheck> check(const std::vector<bool>& should_check,
                                     const std::vector<std::vector<int32_t>>& generated) override;

 private:
  GuardianTextOptions options_;
  GrowthRule rule_;
  const Tokenizer* tokenizer_ = nullptr;
  std::vector<int64_t> previous_bytes_;
};

}  // namespace lil

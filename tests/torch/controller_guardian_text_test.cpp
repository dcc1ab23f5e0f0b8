// Guardian on text (signal=text): C is the compressed size of the decoded output, by zstd or zlib called
// directly here as the oracle, and the same growth rule stops a looping row inside its loop.
#include "catch_torch.h"

#include <zlib.h>
#include <zstd.h>

#include <string>

#include "core/error.h"
#include "runtime/controller_guardian_text.h"
#include "controller_test_support.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace {

const lil::Tokenizer& fixture_tokenizer() {
  static const lil::Tokenizer tokenizer = lil::Tokenizer::from_model_dir(lil::test::fixture_model("tiny-qwen2"));
  return tokenizer;
}

size_t zstd_size(const std::string& text, int level) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  return ZSTD_compress(out.data(), out.size(), text.data(), text.size(), level);
}

size_t zlib_size(const std::string& text, int level) {
  uLongf size = compressBound(static_cast<uLong>(text.size()));
  std::string out(size, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(text.data()),
            static_cast<uLong>(text.size()), level);
  return size;
}

const std::string kNovel =
    "To find the area we first need the base and the height of the triangle. The base runs from (0, 0) to "
    "(8, 0), so it is 8 units long. The apex sits at (3, 5), which puts the height at 5 units. Half of base "
    "times height gives 20. Next, the circle inscribed in it: its radius is the area divided by the "
    "semiperimeter, and the sides are 8, sqrt(34) and sqrt(50), roughly 5.83 and 7.07, which sum to 20.9. ";
const std::string kLoop = "Wait, let me recompute the semiperimeter again. ";

}  // namespace

TEST_CASE("guardian text: C is the compressed size of the decoded output", "[controller][guardian][text]") {
  const auto ids = fixture_tokenizer().encode(kNovel + kLoop + kLoop + kLoop, false);
  for (auto codec : {lil::TextCodec::Zstd, lil::TextCodec::Zlib}) {
    lil::GuardianTextOptions options;
    options.every = 16;
    options.threshold = 0;  // never fires: every check is recorded
    options.codec = codec;
    options.level = codec == lil::TextCodec::Zstd ? 3 : 6;
    lil::GuardianTextController controller(options);
    const auto result = lil::test::drive(controller, {ids}, &fixture_tokenizer());
    REQUIRE(result.checks[0].size() == (ids.size() - 1) / 16);
    for (const auto& c : result.checks[0]) {
      const std::string text = fixture_tokenizer().decode(std::vector<int32_t>(ids.begin(), ids.begin() + c.step));
      const size_t expected = codec == lil::TextCodec::Zstd ? zstd_size(text, 3) : zlib_size(text, 6);
      CHECK(c.signal == static_cast<double>(expected));
      CHECK(c.signal == lil::compressed_text_bytes(text, codec, options.level));
    }
  }
}

TEST_CASE("guardian text: a loop stops the row once a whole check interval lies inside it",
          "[controller][guardian][text]") {
  // Fresh prose grows the zstd size by far more than 10 bytes per 16 tokens; a copy of the loop sentence
  // (about 10 tokens) is one short match. The first check whose 16 tokens all repeat earlier text stops it.
  std::string looping = kNovel;
  for (int i = 0; i < 30; ++i) looping += kLoop;
  const auto ids = fixture_tokenizer().encode(looping, false);
  const auto novel_tokens = static_cast<int64_t>(fixture_tokenizer().encode(kNovel + kLoop, false).size());
  lil::GuardianTextOptions options;
  options.every = 16;
  options.threshold = 10;
  lil::GuardianTextController controller(options);
  const auto result = lil::test::drive(controller, {ids}, &fixture_tokenizer());
  REQUIRE(result.stop_step[0] > 0);
  CHECK(result.stop_step[0] > novel_tokens);       // not while the text is new
  CHECK(result.stop_step[0] <= novel_tokens + 48);  // within three checks of the loop's second copy
  for (size_t k = 0; k + 1 < result.checks[0].size(); ++k) {
    const double before = k == 0 ? 0 : result.checks[0][k - 1].signal;
    CHECK(result.checks[0][k].signal - before >= 10);  // every check before the stop grew by t or more
  }
}

TEST_CASE("guardian text: needs a tokenizer", "[controller][guardian][text]") {
  lil::GuardianTextController controller(lil::GuardianTextOptions{});
  CHECK_THROWS_AS(controller.reset(lil::ControllerContext{nullptr, 1, 8, 10}), lil::LilError);
}

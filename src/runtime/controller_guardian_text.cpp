#include "runtime/controller_guardian_text.h"

#include <zlib.h>
#include <zstd.h>

#include <chrono>
#include <stdexcept>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace lil {

int64_t compressed_text_bytes(const std::string& text, TextCodec codec, int level) {
  std::string buffer;
  if (codec == TextCodec::Zstd) {
    buffer.resize(ZSTD_compressBound(text.size()));
    const size_t size = ZSTD_compress(buffer.data(), buffer.size(), text.data(), text.size(), level);
    if (ZSTD_isError(size)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(size));
    return static_cast<int64_t>(size);
  }
  uLongf size = compressBound(static_cast<uLong>(text.size()));
  buffer.resize(size);
  const int status = compress2(reinterpret_cast<Bytef*>(buffer.data()), &size,
                               reinterpret_cast<const Bytef*>(text.data()), static_cast<uLong>(text.size()), level);
  if (status != Z_OK) throw std::runtime_error("zlib: compress2 failed with status " + std::to_string(status));
  return static_cast<int64_t>(size);
}

GuardianTextController::GuardianTextController(const GuardianTextOptions& options)
    : options_(options), rule_(options.threshold) {
  if (options_.every < 1) throw std::invalid_argument("guardian: every must be at least 1");
}

void GuardianTextController::reset(const ControllerContext& context) {
  if (!context.tokenizer) {
    fail_at("--controller-arg signal", "'text' compresses the decoded output, but no tokenizer was given");
  }
  tokenizer_ = context.tokenizer;
  previous_bytes_.assign(static_cast<size_t>(std::max<int64_t>(context.rows, 0)), 0);
}

std::vector<ControllerCheck> GuardianTextController::check(const std::vector<bool>& should_check,
                                                           const std::vector<std::vector<int32_t>>& generated) {
  if (!tokenizer_) throw std::logic_error("guardian (text): check before reset");
  if (should_check.size() != previous_bytes_.size() || generated.size() != previous_bytes_.size()) {
    throw std::invalid_argument("guardian (text): check got " + std::to_string(generated.size()) + " rows, expected " +
                                std::to_string(previous_bytes_.size()));
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<ControllerCheck> checks(generated.size());
  for (size_t i = 0; i < generated.size(); ++i) {
    if (!should_check[i]) continue;
    const int64_t bytes = compressed_text_bytes(tokenizer_->decode(generated[i]), options_.codec, options_.level);
    checks[i].step = static_cast<int64_t>(generated[i].size());
    checks[i].signal = static_cast<double>(bytes);
    checks[i].fired = rule_.fires(static_cast<double>(previous_bytes_[i]), static_cast<double>(bytes));
    previous_bytes_[i] = bytes;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t i = 0; i < checks.size(); ++i) {
    if (should_check[i]) checks[i].seconds = seconds;
  }
  return checks;
}

}  // namespace lil

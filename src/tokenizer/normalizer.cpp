#include "tokenizer/normalizer.h"

#include <cstdlib>
#include <vector>

#include <utf8proc.h>

#include "core/error.h"

namespace lil {
namespace {

class UnicodeFormNormalizer final : public Normalizer {
 public:
  explicit UnicodeFormNormalizer(utf8proc_option_t options) : options_(options) {}

  void normalize(std::string_view text, std::string& out) const override {
    // ASCII is invariant under every normalization form, and most text is ASCII.
    bool ascii = true;
    for (char c : text) {
      if (static_cast<unsigned char>(c) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      out.assign(text);
      return;
    }
    utf8proc_uint8_t* mapped = nullptr;
    // Passing the length (not UTF8PROC_NULLTERM) keeps embedded U+0000 characters.
    const utf8proc_ssize_t length =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                     &mapped, options_);
    if (length < 0) throw LilError(std::string("Unicode normalization failed: ") + utf8proc_errmsg(length));
    out.assign(reinterpret_cast<const char*>(mapped), static_cast<size_t>(length));
    std::free(mapped);
  }

 private:
  utf8proc_option_t options_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}

  void normalize(std::string_view text, std::string& out) const override {
    out.assign(text);
    std::string next;
    for (const auto& step : steps_) {
      step->normalize(out, next);
      out.swap(next);
    }
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config, const JsonPath& path) {
  if (config.is_null()) return nullptr;
  const std::string type = path.require_string(config, "type");
  const auto form = [](int options) {
    return std::make_unique<UnicodeFormNormalizer>(static_cast<utf8proc_option_t>(UTF8PROC_STABLE | options));
  };
  if (type == "NFC") return form(UTF8PROC_COMPOSE);
  if (type == "NFD") return form(UTF8PROC_DECOMPOSE);
  if (type == "NFKC") return form(UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD") return form(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (type == "Sequence") {
    const nlohmann::json& items = path.require_array(config, "normalizers");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < items.size(); ++i) {
      auto step = make_normalizer(items[i], (path / "normalizers")[i]);
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  (path / "type").fail("unsupported normalizer '" + type + "' (supported: NFC, NFD, NFKC, NFKD, Sequence, null)");
}

}  // namespace lil

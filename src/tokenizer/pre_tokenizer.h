#pragma once
// tokenizer.json "pre_tokenizer": Split (PCRE2 regex or literal), ByteLevel and Sequence. A
// pre-tokenizer cuts a normalized text into pieces ("words") that the BPE model encodes one by one.
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "tokenizer/json_path.h"

namespace lil {

// Non-owning reference to a callable taking one piece; cheaper than std::function on the per-piece path.
class PieceSink {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, PieceSink>>>
  PieceSink(F& callable)  // NOLINT(google-explicit-constructor): a sink is passed as a plain lambda
      : object_(&callable), call_([](void* object, std::string_view piece) { (*static_cast<F*>(object))(piece); }) {}
  void operator()(std::string_view piece) const { call_(object_, piece); }

 private:
  void* object_;
  void (*call_)(void*, std::string_view);
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Calls `emit` with each non-empty piece of `text` (valid UTF-8), in order. The views are valid only
  // during the call.
  virtual void pre_tokenize(std::string_view text, const PieceSink& emit) const = 0;
};

// nullptr for a JSON null. Unsupported types or options throw LilError naming the file and key at `path`.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config, const JsonPath& path);

}  // namespace lil

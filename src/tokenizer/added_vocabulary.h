#pragma once
// Added and special tokens (tokenizer.json "added_tokens"): found in the text before the model sees it,
// with Hugging Face's leftmost-longest matching and its lstrip / rstrip / single_word / normalized rules.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lil {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;  // matched in the normalized text instead of the raw one
  bool special = false;
};

// A stretch [begin, end) of a text: plain text for the pre-tokenizer, or one added token.
struct TextSegment {
  size_t begin;
  size_t end;
  int32_t added_token_id;  // -1 for plain text
};

class AddedVocabulary {
 public:
  // `tokens` carry their final ids. The patterns of `normalized` tokens are their contents passed
  // through `normalizer` (which may be null).
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);
  AddedVocabulary(AddedVocabulary&&) noexcept;
  AddedVocabulary& operator=(AddedVocabulary&&) noexcept;
  ~AddedVocabulary();

  // Cuts `text` (valid UTF-8) into plain-text and token segments using the tokens with
  // normalized == false. Segments are appended to `out` in order; empty ones are left out.
  void split_raw(std::string_view text, std::vector<TextSegment>& out) const;
  // The same for the tokens with normalized == true, on an already normalized plain-text segment.
  void split_normalized(std::string_view text, std::vector<TextSegment>& out) const;
  bool has_normalized_tokens() const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  class Matcher;
  void split(const Matcher& matcher, std::string_view text, std::vector<TextSegment>& out) const;

  std::vector<AddedToken> tokens_;
  std::unique_ptr<Matcher> raw_matcher_;
  std::unique_ptr<Matcher> normalized_matcher_;
};

}  // namespace lil

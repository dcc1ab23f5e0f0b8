#include "tokenizer/added_vocabulary.h"

#include <algorithm>
#include <array>

#include "tokenizer/normalizer.h"
#include "tokenizer/unicode_regex.h"
#include "tokenizer/utf8.h"

namespace lil {

// Byte trie over the token patterns, answering Aho-Corasick's leftmost-longest question: the first
// position where some pattern starts, and the longest pattern starting there.
class AddedVocabulary::Matcher {
 public:
  void add(std::string_view pattern, int32_t token_index) {
    if (pattern.empty()) return;
    int32_t node = 0;
    for (char c : pattern) {
      const auto byte = static_cast<unsigned char>(c);
      int32_t next = child(node, byte);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_[node].children.emplace_back(byte, next);
        nodes_.emplace_back();
      }
      node = next;
    }
    if (nodes_[node].token_index < 0) nodes_[node].token_index = token_index;  // first of equal patterns wins
    can_start_[static_cast<unsigned char>(pattern.front())] = true;
  }

  bool empty() const { return nodes_.size() == 1; }

  bool find(std::string_view text, size_t from, size_t& begin, size_t& end, int32_t& token_index) const {
    for (size_t pos = from; pos < text.size(); ++pos) {
      if (!can_start_[static_cast<unsigned char>(text[pos])]) continue;
      int32_t node = 0;
      int32_t longest = -1;
      for (size_t j = pos; j < text.size(); ++j) {
        node = child(node, static_cast<unsigned char>(text[j]));
        if (node < 0) break;
        if (nodes_[node].token_index >= 0) {
          longest = nodes_[node].token_index;
          end = j + 1;
        }
      }
      if (longest >= 0) {
        begin = pos;
        token_index = longest;
        return true;
      }
    }
    return false;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token_index = -1;
  };

  int32_t child(int32_t node, unsigned char byte) const {
    for (const auto& [b, next] : nodes_[node].children) {
      if (b == byte) return next;
    }
    return -1;
  }

  std::vector<Node> nodes_{1};
  std::array<bool, 256> can_start_{};
};

namespace {

// Rust regex's Unicode `\w`, which Hugging Face uses to decide whether a single_word token touches a word.
bool is_word_character(std::string_view character) {
  static const UnicodeRegex word_character(R"(^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])",
                                           "single_word character class");
  return word_character.search(character);
}

size_t start_of_last_character(std::string_view text) {
  size_t pos = text.size() - 1;
  while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

bool ends_with_word(std::string_view text) {
  return !text.empty() && is_word_character(text.substr(start_of_last_character(text)));
}

bool starts_with_word(std::string_view text) {
  return !text.empty() && is_word_character(text.substr(0, utf8::sequence_length(text, 0)));
}

// Offset where the run of White_Space characters that ends `text` begins (text.size() when none).
size_t trailing_space_start(std::string_view text) {
  size_t begin = text.size();
  while (begin > 0) {
    const size_t previous = start_of_last_character(text.substr(0, begin));
    size_t pos = previous;
    if (!utf8::is_white_space(utf8::decode_valid(text, pos))) break;
    begin = previous;
  }
  return begin;
}

size_t leading_space_length(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = pos;
    if (!utf8::is_white_space(utf8::decode_valid(text, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)), raw_matcher_(std::make_unique<Matcher>()), normalized_matcher_(std::make_unique<Matcher>()) {
  std::string pattern;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    if (!token.normalized) {
      raw_matcher_->add(token.content, static_cast<int32_t>(i));
      continue;
    }
    if (normalizer != nullptr) {
      normalizer->normalize(token.content, pattern);
    } else {
      pattern = token.content;
    }
    normalized_matcher_->add(pattern, static_cast<int32_t>(i));
  }
}

AddedVocabulary::AddedVocabulary(AddedVocabulary&&) noexcept = default;
AddedVocabulary& AddedVocabulary::operator=(AddedVocabulary&&) noexcept = default;
AddedVocabulary::~AddedVocabulary() = default;

bool AddedVocabulary::has_normalized_tokens() const { return !normalized_matcher_->empty(); }

void AddedVocabulary::split_raw(std::string_view text, std::vector<TextSegment>& out) const {
  split(*raw_matcher_, text, out);
}

void AddedVocabulary::split_normalized(std::string_view text, std::vector<TextSegment>& out) const {
  split(*normalized_matcher_, text, out);
}

// Hugging Face's AddedVocabulary::find_matches, rule for rule.
void AddedVocabulary::split(const Matcher& matcher, std::string_view text, std::vector<TextSegment>& out) const {
  size_t plain_start = 0;  // where the text not yet covered by a segment begins
  size_t search_from = 0;
  size_t match_begin = 0;
  size_t match_end = 0;
  int32_t token_index = -1;
  while (matcher.find(text, search_from, match_begin, match_end, token_index)) {
    // The search resumes after the match as found, whatever stripping or discarding happens below.
    search_from = match_end;
    const AddedToken& token = tokens_[token_index];
    size_t begin = match_begin;
    size_t end = match_end;
    if (token.single_word) {
      const bool space_before = begin == 0 || !ends_with_word(text.substr(0, begin));
      const bool space_after = end == text.size() || !starts_with_word(text.substr(end));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) begin = std::max(trailing_space_start(text.substr(0, begin)), plain_start);
    if (token.rstrip) end += leading_space_length(text.substr(end));
    if (plain_start < begin) out.push_back({plain_start, begin, -1});
    out.push_back({begin, end, token.id});
    plain_start = end;
  }
  if (plain_start < text.size()) out.push_back({plain_start, text.size(), -1});
}

}  // namespace lil

#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "tokenizer/byte_level.h"
#include "tokenizer/unicode_regex.h"

namespace lil {
namespace {

// The regex GPT-2 used to cut text into words; "ByteLevel" applies it when `use_regex` is true.
constexpr const char* kGpt2WordRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// A stretch of text and whether the pattern matched it; consecutive spans cover the whole text.
struct Span {
  size_t begin;
  size_t end;
  bool is_match;
};

std::vector<Span> spans_covering(std::string_view text, const std::vector<std::pair<size_t, size_t>>& matches) {
  std::vector<Span> spans;
  spans.reserve(matches.size() * 2 + 1);
  size_t previous_end = 0;
  for (const auto& [begin, end] : matches) {
    if (previous_end != begin) spans.push_back({previous_end, begin, false});
    spans.push_back({begin, end, true});
    previous_end = end;
  }
  if (previous_end != text.size()) spans.push_back({previous_end, text.size(), false});
  return spans;
}

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// The pieces each behavior keeps, as Hugging Face's NormalizedString::split computes them (the
// quirks of its folds included, e.g. a leading match in MergedWithPrevious stays on its own).
std::vector<Span> apply_behavior(const std::vector<Span>& spans, SplitBehavior behavior) {
  std::vector<Span> pieces;  // is_match here means "remove this piece"
  pieces.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const Span& s : spans) pieces.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::Removed:
      pieces = spans;
      break;
    case SplitBehavior::Contiguous:
      for (const Span& s : spans) {
        if (s.is_match == previous_match && !pieces.empty()) {
          pieces.back().end = s.end;
        } else {
          pieces.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::MergedWithPrevious:
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !pieces.empty()) {
          pieces.back().end = s.end;
        } else {
          pieces.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !pieces.empty()) {
          pieces.back().begin = it->begin;
        } else {
          pieces.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
  }
  return pieces;
}

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(UnicodeRegex regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(std::string_view text, const PieceSink& emit) const override {
    std::vector<std::pair<size_t, size_t>> matches;
    regex_.find_all(text, matches);
    if (behavior_ == SplitBehavior::Isolated) {
      // The common case (Llama-3, Qwen): every match and every gap is a piece, so skip the span lists.
      size_t previous_end = 0;
      for (const auto& [begin, end] : matches) {
        if (previous_end != begin) emit(text.substr(previous_end, begin - previous_end));
        if (begin != end) emit(text.substr(begin, end - begin));
        previous_end = end;
      }
      if (previous_end != text.size()) emit(text.substr(previous_end));
      return;
    }
    std::vector<Span> spans = spans_covering(text, matches);
    if (invert_) {
      for (Span& s : spans) s.is_match = !s.is_match;
    }
    for (const Span& piece : apply_behavior(spans, behavior_)) {
      if (!piece.is_match && piece.end > piece.begin) emit(text.substr(piece.begin, piece.end - piece.begin));
    }
  }

 private:
  UnicodeRegex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::optional<UnicodeRegex> word_regex)
      : add_prefix_space_(add_prefix_space), word_regex_(std::move(word_regex)) {}

  void pre_tokenize(std::string_view text, const PieceSink& emit) const override {
    std::string prefixed;
    if (add_prefix_space_ && (text.empty() || text.front() != ' ')) {
      prefixed.reserve(text.size() + 1);
      prefixed += ' ';
      prefixed += text;
      text = prefixed;
    }
    std::string mapped;
    auto emit_mapped = [&](std::string_view piece) {
      mapped.clear();
      byte_level::append_encoded(mapped, piece);
      emit(mapped);
    };
    if (!word_regex_) {
      if (!text.empty()) emit_mapped(text);
      return;
    }
    std::vector<std::pair<size_t, size_t>> matches;
    word_regex_->find_all(text, matches);
    size_t previous_end = 0;
    for (const auto& [begin, end] : matches) {
      if (previous_end != begin) emit_mapped(text.substr(previous_end, begin - previous_end));
      if (begin != end) emit_mapped(text.substr(begin, end - begin));
      previous_end = end;
    }
    if (previous_end != text.size()) emit_mapped(text.substr(previous_end));
  }

 private:
  bool add_prefix_space_;
  std::optional<UnicodeRegex> word_regex_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}

  void pre_tokenize(std::string_view text, const PieceSink& emit) const override { run_from(0, text, emit); }

 private:
  void run_from(size_t step, std::string_view text, const PieceSink& emit) const {
    if (step == steps_.size()) {
      emit(text);
      return;
    }
    auto next = [&](std::string_view piece) { run_from(step + 1, piece, emit); };
    steps_[step]->pre_tokenize(text, next);
  }

  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

SplitBehavior parse_behavior(const std::string& name, const JsonPath& path) {
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  path.fail("unsupported split behavior '" + name +
            "' (supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

std::unique_ptr<PreTokenizer> make_split(const nlohmann::json& config, const JsonPath& path) {
  const nlohmann::json& pattern = path.require_object(config, "pattern");
  const JsonPath pattern_path = path / "pattern";
  std::string regex_text;
  if (pattern.contains("Regex")) {
    regex_text = pattern_path.require_string(pattern, "Regex");
  } else if (pattern.contains("String")) {
    regex_text = UnicodeRegex::escape(pattern_path.require_string(pattern, "String"));
  } else {
    pattern_path.fail("expected an object with 'Regex' or 'String'");
  }
  const SplitBehavior behavior = parse_behavior(path.require_string(config, "behavior"), path / "behavior");
  const bool invert = path.optional_bool(config, "invert", false);
  return std::make_unique<SplitPreTokenizer>(UnicodeRegex(regex_text, pattern_path.describe()), behavior, invert);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config, const JsonPath& path) {
  if (config.is_null()) return nullptr;
  const std::string type = path.require_string(config, "type");
  if (type == "Split") return make_split(config, path);
  if (type == "ByteLevel") {
    std::optional<UnicodeRegex> word_regex;
    // Hugging Face defaults both flags to true when the keys are missing.
    if (path.optional_bool(config, "use_regex", true)) word_regex.emplace(kGpt2WordRegex, "GPT-2 word regex");
    return std::make_unique<ByteLevelPreTokenizer>(path.optional_bool(config, "add_prefix_space", true),
                                                   std::move(word_regex));
  }
  if (type == "Sequence") {
    const nlohmann::json& items = path.require_array(config, "pretokenizers");
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < items.size(); ++i) {
      auto step = make_pre_tokenizer(items[i], (path / "pretokenizers")[i]);
      if (!step) ((path / "pretokenizers")[i]).fail("expected a pre-tokenizer object, got null");
      steps.push_back(std::move(step));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  (path / "type").fail("unsupported pre-tokenizer '" + type + "' (supported: Split, ByteLevel, Sequence, null)");
}

}  // namespace lil

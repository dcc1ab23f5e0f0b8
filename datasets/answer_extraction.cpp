// extract_answer: where a model's final answer is in its output. Search order and patterns follow the
// Qwen2.5-Math evaluator (boxed, "the answer is", last number) plus GSM8K's "#### x".
#include <algorithm>
#include <cctype>
#include <vector>

#include "datasets/grader.h"

namespace lil {
namespace {

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

std::string trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::vector<size_t> occurrences(const std::string& text, const std::string& needle) {
  std::vector<size_t> found;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    found.push_back(pos);
  }
  return found;
}

// Content of the brace group opening at `open`, escaped braces skipped; nullopt when never closed (an
// output cut off mid-answer has no answer).
std::optional<std::string> brace_group(const std::string& text, size_t open) {
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      ++i;
      continue;
    }
    if (c == '{') ++depth;
    if (c == '}' && --depth == 0) return text.substr(open + 1, i - open - 1);
  }
  return std::nullopt;
}

std::optional<std::string> last_boxed(const std::string& text) {
  std::vector<std::pair<size_t, size_t>> commands;  // (position, length)
  for (const char* name : {"\\boxed", "\\fbox", "\\framebox"}) {
    const std::string command = name;
    for (size_t pos : occurrences(text, command)) commands.emplace_back(pos, command.size());
  }
  std::sort(commands.begin(), commands.end(), std::greater<>());
  for (const auto& [pos, length] : commands) {
    size_t cursor = pos + length;
    if (cursor < text.size() && is_letter(text[cursor])) continue;  // another command, e.g. \boxedsomething
    if (cursor < text.size() && text[cursor] == '{') {
      const auto content = brace_group(text, cursor);
      if (content && !trim(*content).empty()) return trim(*content);
      continue;
    }
    // "\boxed 5": TeX takes the next token; we take up to the next space or math delimiter.
    while (cursor < text.size() && text[cursor] == ' ') ++cursor;
    size_t end = cursor;
    while (end < text.size() && !is_space(text[end]) && text[end] != '$' && text[end] != '}') ++end;
    std::string token = text.substr(cursor, end - cursor);
    while (!token.empty() && (token.back() == '.' || token.back() == ',')) token.pop_back();
    if (!token.empty()) return token;
  }
  return std::nullopt;
}

std::optional<std::string> last_hash_marker(const std::string& text) {
  const size_t pos = text.rfind("####");
  if (pos == std::string::npos) return std::nullopt;
  const size_t end = text.find('\n', pos);
  std::string answer = trim(text.substr(pos + 4, end == std::string::npos ? std::string::npos : end - pos - 4));
  while (!answer.empty() && answer.back() == '.') answer.pop_back();
  if (answer.empty()) return std::nullopt;
  return answer;
}

// "$42$. I hope it is correct." -> "42"; "5 apples." -> "5 apples".
std::optional<std::string> clean_phrase_answer(std::string text) {
  text = trim(text);
  while (!text.empty() && (text[0] == '*' || text[0] == ':')) text = trim(text.substr(1));
  for (const auto& [open, close] : std::vector<std::pair<std::string, std::string>>{
           {"$$", "$$"}, {"$", "$"}, {"\\(", "\\)"}, {"\\[", "\\]"}}) {
    if (text.compare(0, open.size(), open) == 0) {
      const size_t end = text.find(close, open.size());
      if (end != std::string::npos) {
        text = trim(text.substr(open.size(), end - open.size()));
        return text.empty() ? std::nullopt : std::optional<std::string>(text);
      }
    }
  }
  // End of sentence: a period followed by a space or the end, not a decimal point.
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '.' && (i + 1 == text.size() || is_space(text[i + 1]))) {
      text.resize(i);
      break;
    }
  }
  text = trim(text);
  while (!text.empty() && (text.back() == '*' || text.back() == ',' || text.back() == '.')) text.pop_back();
  text = trim(text);
  if (text.empty() || text.size() > 300) return std::nullopt;
  return text;
}

std::optional<std::string> last_answer_phrase(const std::string& text) {
  const std::string lower = lowercase(text);
  std::vector<std::pair<size_t, size_t>> starts;  // (phrase position, answer start)
  for (const char* phrase : {"final answer", "answer is", "answer:"}) {
    const std::string needle = phrase;
    for (size_t pos : occurrences(lower, needle)) {
      size_t cursor = pos + needle.size();
      const auto skip_marks = [&] {
        while (cursor < lower.size() && (lower[cursor] == '*' || lower[cursor] == ':' || lower[cursor] == ' ')) {
          ++cursor;
        }
      };
      skip_marks();
      if (lower.compare(cursor, 2, "is") == 0) {
        cursor += 2;
        skip_marks();
      }
      if (cursor < lower.size() && lower[cursor] == '\n') {
        ++cursor;  // "Final Answer:\n42"
        skip_marks();
      }
      starts.emplace_back(pos, cursor);
    }
  }
  std::sort(starts.begin(), starts.end(), std::greater<>());
  for (const auto& [pos, start] : starts) {
    const size_t end = text.find('\n', start);
    auto answer = clean_phrase_answer(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (answer) return answer;
  }
  return std::nullopt;
}

// The last number: "-3", "1,234.5", "3/4". Thousands commas must group three digits.
std::optional<std::string> last_number(const std::string& text) {
  size_t end = text.size();
  while (end > 0 && !is_digit(text[end - 1])) --end;
  if (end == 0) return std::nullopt;
  size_t start = end;
  while (start > 0) {
    const char c = text[start - 1];
    if (is_digit(c)) {
      --start;
    } else if ((c == '.' || c == ',') && start >= 2 && is_digit(text[start - 2])) {
      if (c == ',' && !(start + 3 <= end && (start + 3 == end || !is_digit(text[start + 3])))) break;
      --start;
    } else if (c == '/' && start >= 2 && is_digit(text[start - 2])) {
      --start;
    } else {
      break;
    }
  }
  if (start > 0 && text[start - 1] == '-') {
    const bool subtraction = start >= 2 && (std::isalnum(static_cast<unsigned char>(text[start - 2])) ||
                                            text[start - 2] == ')' || text[start - 2] == '}');
    if (!subtraction) --start;
  }
  return text.substr(start, end - start);
}

std::optional<Extraction> search_region(const std::string& region, const ExtractOptions& options) {
  if (auto boxed = last_boxed(region)) return Extraction{*boxed, ExtractionSource::boxed};
  if (options.allow_hash_marker) {
    if (auto hash = last_hash_marker(region)) return Extraction{*hash, ExtractionSource::hash_marker};
  }
  if (options.allow_answer_phrase) {
    if (auto phrase = last_answer_phrase(region)) return Extraction{*phrase, ExtractionSource::answer_phrase};
  }
  return std::nullopt;
}

}  // namespace

const char* extraction_source_name(ExtractionSource source) {
  switch (source) {
    case ExtractionSource::none: return "none";
    case ExtractionSource::boxed: return "boxed";
    case ExtractionSource::hash_marker: return "hash";
    case ExtractionSource::answer_phrase: return "answer-phrase";
    case ExtractionSource::last_number: return "last-number";
  }
  return "unknown";
}

std::optional<Extraction> extract_answer_detailed(const std::string& output, const ExtractOptions& options) {
  std::vector<std::string> regions;
  const size_t think_end = options.think_end.empty() ? std::string::npos : output.rfind(options.think_end);
  if (think_end != std::string::npos) regions.push_back(output.substr(think_end + options.think_end.size()));
  regions.push_back(output);
  for (const auto& region : regions) {
    if (auto found = search_region(region, options)) return found;
  }
  if (options.last_number_fallback) {
    for (const auto& region : regions) {
      if (auto number = last_number(region)) return Extraction{*number, ExtractionSource::last_number};
    }
  }
  return std::nullopt;
}

std::optional<std::string> extract_answer(const std::string& output, const ExtractOptions& options) {
  auto found = extract_answer_detailed(output, options);
  if (!found) return std::nullopt;
  return found->answer;
}

}  // namespace lil

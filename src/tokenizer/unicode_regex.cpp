#include "tokenizer/unicode_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>
#include <memory>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace lil {
namespace {

pcre2_code* as_code(void* code) { return static_cast<pcre2_code*>(code); }

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// One offset pair is all lil reads (the whole match); PCRE2 then returns 0 instead of the number of
// groups for patterns with captures, which still means "matched". One per thread, made once.
pcre2_match_data* thread_match_data() {
  thread_local std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(pcre2_match_data_create(1, nullptr));
  if (!data) throw LilError("out of memory allocating PCRE2 match data");
  return data.get();
}

// pcre2_jit_match skips pcre2_match's option checks; it is only valid for JIT-compiled patterns.
int run_match(pcre2_code* code, bool jit, std::string_view text, size_t start, pcre2_match_data* data) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  // The text was validated once by the caller; PCRE2 would otherwise re-check all of it per call.
  if (jit) return pcre2_jit_match(code, subject, text.size(), start, 0, data, nullptr);
  return pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data, nullptr);
}

std::string pcre2_message(int error_code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(error_code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

namespace {

// Why Oniguruma (Ruby syntax) and PCRE2 read the construct at `pattern[i]` differently, or nullptr.
const char* engines_disagree_at(std::string_view pattern, size_t i) {
  if (pattern.compare(i, 2, "&&") == 0) return "is class intersection in Oniguruma and two ampersands in PCRE2";
  if (pattern.compare(i, 2, "(?") == 0) {
    for (size_t j = i + 2; j < pattern.size() && (std::isalpha(static_cast<unsigned char>(pattern[j])) || pattern[j] == '-'); ++j) {
      if (pattern[j] == 'm') return "is the dot-all option in Oniguruma and the multi-line option in PCRE2";
    }
    return nullptr;
  }
  if (pattern[i] != '\\' || i + 1 >= pattern.size()) return nullptr;
  switch (pattern[i + 1]) {
    case 'w': case 'W': case 'b': case 'B': return "counts marks and all numbers as word characters in Oniguruma only";
    case 'h': case 'H': return "is a hex digit in Oniguruma and horizontal space in PCRE2";
    case 'Q': case 'E': return "is a plain letter in Oniguruma and starts or ends a quotation in PCRE2";
    default: return nullptr;
  }
}

}  // namespace

std::string UnicodeRegex::translate_oniguruma(std::string_view pattern, const std::string& where) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (const char* why = engines_disagree_at(pattern, i)) {
      fail_at(where, "regex '" + std::string(pattern) + "' at offset " + std::to_string(i) + ": '" +
                         std::string(pattern.substr(i, 2)) + "' " + why +
                         "; lil matches with PCRE2, so it refuses rather than split text differently");
    }
    const char c = pattern[i];
    if (c != '\\' || i + 1 >= pattern.size()) {
      out += c;
      continue;
    }
    const char escaped = pattern[++i];
    if (escaped == 's') {
      out += "\\p{White_Space}";  // PCRE2's own \s also takes U+180E
    } else if (escaped == 'S') {
      out += "\\P{White_Space}";
    } else {
      out += c;
      out += escaped;
    }
  }
  return out;
}

std::string UnicodeRegex::escape(std::string_view literal) {
  // PCRE2 reads a backslash before any ASCII punctuation character as that character itself.
  std::string out;
  out.reserve(literal.size() * 2);
  for (char c : literal) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80 && std::ispunct(byte)) out += '\\';
    out += c;
  }
  return out;
}

UnicodeRegex::UnicodeRegex(const std::string& pattern, const std::string& where) {
  const std::string translated = translate_oniguruma(pattern, where);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    fail_at(where, "regex '" + pattern + "' is not supported by PCRE2: " + pcre2_message(error_code) +
                       " (at offset " + std::to_string(error_offset) + " of the translated pattern)");
  }
  // JIT is an optimisation only: when it is unavailable pcre2_match interprets the pattern.
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  code_ = code;
}

UnicodeRegex::UnicodeRegex(UnicodeRegex&& other) noexcept : code_(other.code_), jit_(other.jit_) {
  other.code_ = nullptr;
}

UnicodeRegex& UnicodeRegex::operator=(UnicodeRegex&& other) noexcept {
  if (this != &other) {
    pcre2_code_free(as_code(code_));
    code_ = other.code_;
    jit_ = other.jit_;
    other.code_ = nullptr;
  }
  return *this;
}

UnicodeRegex::~UnicodeRegex() { pcre2_code_free(as_code(code_)); }

void UnicodeRegex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const {
  matches.clear();
  pcre2_match_data* data = thread_match_data();
  size_t search_from = 0;
  bool have_previous = false;
  size_t previous_end = 0;
  while (search_from <= text.size()) {
    const int rc = run_match(as_code(code_), jit_, text, search_from, data);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw LilError("PCRE2 matching failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (begin == end && have_previous && previous_end == end) {
      // onig's FindMatches refuses an empty match where the previous one ended and steps one character.
      if (search_from >= text.size()) break;
      const size_t step = utf8::sequence_length(text, search_from);
      search_from += step == 0 ? 1 : step;
      continue;
    }
    matches.emplace_back(begin, end);
    have_previous = true;
    previous_end = end;
    search_from = end;
    if (begin == end && end >= text.size()) break;
  }
}

bool UnicodeRegex::search(std::string_view text) const {
  const int rc = run_match(as_code(code_), jit_, text, 0, thread_match_data());
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) throw LilError("PCRE2 matching failed: " + pcre2_message(rc));
  return true;
}

}  // namespace lil

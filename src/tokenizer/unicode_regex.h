#pragma once
// A tokenizer.json regex compiled with PCRE2 (UTF + UCP, JIT) so that it matches what Hugging Face's
// Oniguruma (Ruby syntax) matches: `\s`/`\S` become the Unicode White_Space property (PCRE2's own `\s`
// also takes U+180E), `^`/`$` are line anchors, and constructs the two engines read differently are
// refused with a LilError instead of being matched differently.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lil {

class UnicodeRegex {
 public:
  // `where` names the file and key for the LilError thrown when PCRE2 rejects the pattern.
  UnicodeRegex(const std::string& pattern, const std::string& where);
  UnicodeRegex(UnicodeRegex&& other) noexcept;
  UnicodeRegex& operator=(UnicodeRegex&& other) noexcept;
  UnicodeRegex(const UnicodeRegex&) = delete;
  UnicodeRegex& operator=(const UnicodeRegex&) = delete;
  ~UnicodeRegex();

  // Non-overlapping matches, left to right, as [begin, end) byte offsets, with the Rust `onig` crate's
  // rule for empty matches (one right after the previous match is skipped). `text` must be valid UTF-8.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const;

  // True when the pattern matches somewhere in `text` (valid UTF-8).
  bool search(std::string_view text) const;

  // A pattern that matches `literal` exactly.
  static std::string escape(std::string_view literal);

  // The PCRE2 spelling of an Oniguruma pattern (exposed for tests); LilError naming `where` for
  // \w \W \b \B \h \H \Q \E, "&&" and the (?m) option.
  static std::string translate_oniguruma(std::string_view pattern, const std::string& where);

 private:
  void* code_ = nullptr;  // pcre2_code_8*, kept out of the header so PCRE2's macros stay private
  bool jit_ = false;
};

}  // namespace lil

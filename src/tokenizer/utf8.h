#pragma once
// UTF-8 helpers shared by the tokenizer stages. Validation and lossy decoding follow the Unicode
// "maximal subpart" rule, which is what Rust's `String::from_utf8_lossy` (and so Hugging Face) does.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lil::utf8 {

// Byte offset of the first byte that is not part of a well-formed UTF-8 sequence, or nullopt when the
// whole text is well formed (no overlongs, no surrogates, nothing above U+10FFFF).
std::optional<size_t> first_invalid_byte(std::string_view text);

// Length of the well-formed sequence starting at `text[pos]`, or 0 when the bytes there are not one.
// For valid text, this is the length of the character at `pos`.
size_t sequence_length(std::string_view text, size_t pos);

// Decodes the character at `pos` of text that is known to be valid, and advances `pos` past it.
char32_t decode_valid(std::string_view text, size_t& pos);

void append_codepoint(std::string& out, char32_t codepoint);

// Appends `bytes` to `out` with every maximal ill-formed subpart replaced by U+FFFD.
void append_lossy(std::string& out, std::string_view bytes);

// Length of the longest suffix of `bytes` that is a proper prefix of a well-formed sequence (0..3):
// the bytes a stream must hold back because the next token may complete them.
size_t incomplete_suffix_length(std::string_view bytes);

// Unicode White_Space property (what Rust's `char::is_whitespace` and regex `\s` test).
bool is_white_space(char32_t codepoint);

}  // namespace lil::utf8

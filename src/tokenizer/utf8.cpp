#include "tokenizer/utf8.h"

#include <cstring>

namespace lil::utf8 {
namespace {

enum class SequenceKind { Complete, Invalid, Truncated };

struct Sequence {
  SequenceKind kind;
  size_t length;  // Complete: the character; Invalid: the maximal ill-formed subpart; Truncated: the rest
};

int continuation_bytes_after(uint8_t lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 1;
  if (lead >= 0xE0 && lead <= 0xEF) return 2;
  if (lead >= 0xF0 && lead <= 0xF4) return 3;
  return -1;  // ASCII is handled by the caller; 0x80-0xC1 and 0xF5-0xFF never start a sequence
}

// The second byte's range depends on the lead: this is what rules out overlong forms, UTF-16
// surrogates (U+D800-U+DFFF) and code points above U+10FFFF.
bool second_byte_allowed(uint8_t lead, uint8_t byte) {
  switch (lead) {
    case 0xE0: return byte >= 0xA0 && byte <= 0xBF;
    case 0xED: return byte >= 0x80 && byte <= 0x9F;
    case 0xF0: return byte >= 0x90 && byte <= 0xBF;
    case 0xF4: return byte >= 0x80 && byte <= 0x8F;
    default: return byte >= 0x80 && byte <= 0xBF;
  }
}

Sequence scan(std::string_view text, size_t pos) {
  const auto lead = static_cast<uint8_t>(text[pos]);
  if (lead < 0x80) return {SequenceKind::Complete, 1};
  const int continuations = continuation_bytes_after(lead);
  if (continuations < 0) return {SequenceKind::Invalid, 1};
  for (int i = 1; i <= continuations; ++i) {
    if (pos + i >= text.size()) return {SequenceKind::Truncated, text.size() - pos};
    const auto byte = static_cast<uint8_t>(text[pos + i]);
    const bool allowed = i == 1 ? second_byte_allowed(lead, byte) : (byte & 0xC0) == 0x80;
    if (!allowed) return {SequenceKind::Invalid, static_cast<size_t>(i)};
  }
  return {SequenceKind::Complete, static_cast<size_t>(continuations) + 1};
}

bool eight_bytes_are_ascii(const char* data) {
  uint64_t word;
  std::memcpy(&word, data, 8);
  return (word & 0x8080808080808080ULL) == 0;
}

}  // namespace

std::optional<size_t> first_invalid_byte(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (text.size() - pos >= 8 && eight_bytes_are_ascii(text.data() + pos)) {
      pos += 8;
      continue;
    }
    const Sequence seq = scan(text, pos);
    if (seq.kind != SequenceKind::Complete) return pos;
    pos += seq.length;
  }
  return std::nullopt;
}

size_t sequence_length(std::string_view text, size_t pos) {
  const Sequence seq = scan(text, pos);
  return seq.kind == SequenceKind::Complete ? seq.length : 0;
}

char32_t decode_valid(std::string_view text, size_t& pos) {
  const auto lead = static_cast<uint8_t>(text[pos]);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  const int continuations = continuation_bytes_after(lead);
  char32_t codepoint = lead & (0x3F >> continuations);
  for (int i = 1; i <= continuations; ++i) codepoint = (codepoint << 6) | (static_cast<uint8_t>(text[pos + i]) & 0x3F);
  pos += continuations + 1;
  return codepoint;
}

void append_codepoint(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void append_lossy(std::string& out, std::string_view bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  size_t pos = 0;
  size_t clean_start = 0;  // copy runs of valid text in one go
  while (pos < bytes.size()) {
    const Sequence seq = scan(bytes, pos);
    if (seq.kind == SequenceKind::Complete) {
      pos += seq.length;
      continue;
    }
    out.append(bytes.substr(clean_start, pos - clean_start));
    out.append(kReplacement);
    pos += seq.length;
    clean_start = pos;
  }
  out.append(bytes.substr(clean_start));
}

size_t incomplete_suffix_length(std::string_view bytes) {
  for (size_t k = 1; k <= 3 && k <= bytes.size(); ++k) {
    if (scan(bytes, bytes.size() - k).kind == SequenceKind::Truncated) return k;
  }
  return 0;
}

bool is_white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

}  // namespace lil::utf8

#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace lil::byte_level {
namespace {

struct Table {
  std::array<char32_t, 256> codepoint_of_byte{};
  std::array<std::string, 256> utf8_of_byte;
  std::array<int16_t, 512> byte_of_codepoint{};  // every character in the table is below U+0200

  Table() {
    byte_of_codepoint.fill(-1);
    auto keeps_its_value = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
    char32_t next_substitute = 256;
    for (int b = 0; b < 256; ++b) {
      codepoint_of_byte[b] = keeps_its_value(b) ? static_cast<char32_t>(b) : next_substitute++;
    }
    for (int b = 0; b < 256; ++b) {
      utf8::append_codepoint(utf8_of_byte[b], codepoint_of_byte[b]);
      byte_of_codepoint[codepoint_of_byte[b]] = static_cast<int16_t>(b);
    }
  }
};

const Table& table() {
  static const Table instance;
  return instance;
}

}  // namespace

std::string_view char_of_byte(uint8_t byte) { return table().utf8_of_byte[byte]; }

std::optional<uint8_t> byte_of_char(char32_t codepoint) {
  if (codepoint >= table().byte_of_codepoint.size()) return std::nullopt;
  const int16_t byte = table().byte_of_codepoint[codepoint];
  if (byte < 0) return std::nullopt;
  return static_cast<uint8_t>(byte);
}

void append_encoded(std::string& out, std::string_view raw) {
  const Table& t = table();
  // Every character of the table takes one or two bytes: write into the worst-case size, then trim.
  size_t length = out.size();
  out.resize(length + 2 * raw.size());
  for (char c : raw) {
    const std::string& utf8 = t.utf8_of_byte[static_cast<uint8_t>(c)];
    out[length] = utf8[0];
    if (utf8.size() == 2) out[length + 1] = utf8[1];
    length += utf8.size();
  }
  out.resize(length);
}

std::optional<std::string> decode_token(std::string_view token) {
  std::string bytes;
  bytes.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    const std::optional<uint8_t> byte = byte_of_char(utf8::decode_valid(token, pos));
    if (!byte) return std::nullopt;
    bytes += static_cast<char>(*byte);
  }
  return bytes;
}

}  // namespace lil::byte_level

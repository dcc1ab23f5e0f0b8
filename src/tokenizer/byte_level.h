#pragma once
// The GPT-2 byte <-> character table behind "ByteLevel" pre-tokenizers and decoders: every byte maps
// to one printable character (printable Latin-1 bytes to themselves, the rest to U+0100 + n), so a
// byte string becomes a text the BPE vocabulary is written in.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lil::byte_level {

// UTF-8 of the character that stands for `byte` (one or two bytes long).
std::string_view char_of_byte(uint8_t byte);

// The byte a character stands for, or nullopt when the code point is not in the table.
std::optional<uint8_t> byte_of_char(char32_t codepoint);

// Appends the byte-level text of `raw`: each byte of `raw` becomes its character.
void append_encoded(std::string& out, std::string_view raw);

// The bytes a vocabulary token stands for when every character of it is in the table; nullopt otherwise
// (Hugging Face then decodes the token to its own UTF-8 bytes). `token` must be valid UTF-8.
std::optional<std::string> decode_token(std::string_view token);

}  // namespace lil::byte_level

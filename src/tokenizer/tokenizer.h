#pragma once
// Hugging Face byte-level BPE tokenizer (tokenizer.json), as used by Llama-3.x and Qwen2/2.5/3.
// Encoding equals the Hugging Face `tokenizers` library token for token. No torch here.
// A loaded Tokenizer may be used from several threads at once.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lil {

class Tokenizer {
 public:
  // tokenizer.json and tokenizer_config.json longer than this are refused before they are parsed:
  // Llama-3's tokenizer.json is 9 MB and nlohmann::json needs ~5x a file's size in memory, so this
  // bounds what a corrupt file (or a device, or a pipe) can make lil allocate.
  static constexpr uint64_t kMaxFileBytes = uint64_t{128} << 20;

  // Loads `tokenizer.json` and, when non-empty, `tokenizer_config.json` (bos/eos token names, chat template).
  // Throws LilError naming the file and key on any malformed or unsupported content.
  static Tokenizer from_files(const std::string& tokenizer_json_path, const std::string& tokenizer_config_path);
  // `<dir>/tokenizer.json` plus `<dir>/tokenizer_config.json` when present.
  static Tokenizer from_model_dir(const std::string& dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Like HF `tokenizer(text)["input_ids"]`: normalizer, added/special tokens matched in the text,
  // pre-tokenizers, BPE, and (when add_special_tokens) the post-processor (e.g. BOS for Llama-3).
  // Throws LilError when `text` is not valid UTF-8.
  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens = true) const;

  // Byte-level decode of ids; special tokens are kept unless skip_special_tokens. Invalid UTF-8 that a
  // partial sequence produces is replaced by U+FFFD, as HF does. Ids no token has are skipped, as HF
  // does, and no clean-up of spaces before punctuation is done (that is transformers' Python layer).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // Raw vocabulary string of an id (e.g. "Ġthe"); LilError for an id out of range.
  std::string id_to_piece(int32_t id) const;
  // The bytes an id stands for before UTF-8 repair (a piece of a multi-byte character is possible);
  // empty for an id no token has, which decode() skips as Hugging Face does.
  std::string_view id_to_bytes(int32_t id) const;
  std::optional<int32_t> token_to_id(const std::string& token) const;  // vocab or added token
  bool is_special(int32_t id) const;
  int32_t vocab_size() const;  // largest id + 1, added tokens included

  std::optional<int32_t> bos_id() const;  // from tokenizer_config.json `bos_token`, if any
  std::optional<int32_t> eos_id() const;  // from tokenizer_config.json `eos_token`, if any
  const std::string& chat_template() const;  // raw Jinja text from tokenizer_config.json, may be empty
  const std::string& source_path() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Incremental detokenizer for streaming: feed ids one at a time, get back only the new complete UTF-8 text.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string push(int32_t id);  // text that became complete with this id (may be empty)
  std::string flush();           // whatever is left, with U+FFFD for incomplete bytes

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::string pending_bytes_;
};

}  // namespace lil

#pragma once
// The tokenizer lil's own trained models use: Hugging Face byte-level BPE with the 256 byte characters as its
// whole vocabulary (ids 0-255 = the bytes, no merges) plus a BOS and an EOS special token. Every text
// encodes losslessly, one token per byte, and both lil's loader and Hugging Face `tokenizers` read the files
// identically. No torch here.
#include <string>

#include <nlohmann/json.hpp>

namespace lil {

struct ByteLevelVocab {
  std::string bos_token = "<|bos|>";  // id 256
  std::string eos_token = "<|eos|>";  // id 257
  int bos_id() const { return 256; }
  int eos_id() const { return 257; }
  int vocab_size() const { return 258; }
};

// tokenizer.json: BPE over the byte characters, ByteLevel pre-tokenizer (no regex split, no prefix space),
// TemplateProcessing that puts BOS first when special tokens are added, ByteLevel decoder.
nlohmann::json byte_level_tokenizer_json(const ByteLevelVocab& vocab);
// tokenizer_config.json: bos/eos token names and the fast-tokenizer class for transformers.
nlohmann::json byte_level_tokenizer_config_json(const ByteLevelVocab& vocab, int model_max_length);

}  // namespace lil

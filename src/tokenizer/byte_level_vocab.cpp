#include "tokenizer/byte_level_vocab.h"

#include "tokenizer/byte_level.h"

namespace lil {

namespace {
nlohmann::json special_token(int id, const std::string& content) {
  return {{"id", id},          {"content", content}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false},   {"normalized", false}, {"special", true}};
}
}  // namespace

nlohmann::json byte_level_tokenizer_json(const ByteLevelVocab& v) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int byte = 0; byte < 256; ++byte) vocab[std::string(byte_level::char_of_byte(static_cast<uint8_t>(byte)))] = byte;
  const nlohmann::json bos_piece = {{"SpecialToken", {{"id", v.bos_token}, {"type_id", 0}}}};
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", {special_token(v.bos_id(), v.bos_token), special_token(v.eos_id(), v.eos_token)}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {bos_piece, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", {bos_piece, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                  {{"SpecialToken", {{"id", v.bos_token}, {"type_id", 1}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", {{v.bos_token, {{"id", v.bos_token}, {"ids", {v.bos_id()}}, {"tokens", {v.bos_token}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", nlohmann::json::array()}}},
  };
}

nlohmann::json byte_level_tokenizer_config_json(const ByteLevelVocab& v, int model_max_length) {
  nlohmann::json decoder = nlohmann::json::object();
  for (const auto& [id, content] : {std::pair{v.bos_id(), v.bos_token}, std::pair{v.eos_id(), v.eos_token}}) {
    nlohmann::json entry = special_token(id, content);
    entry.erase("id");
    decoder[std::to_string(id)] = entry;
  }
  return {{"added_tokens_decoder", decoder},
          {"bos_token", v.bos_token},
          {"eos_token", v.eos_token},
          {"pad_token", v.eos_token},
          {"clean_up_tokenization_spaces", false},
          {"model_max_length", model_max_length},
          {"tokenizer_class", "PreTrainedTokenizerFast"}};
}

}  // namespace lil

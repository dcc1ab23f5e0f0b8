#pragma once
// tokenizer.json "model" of type BPE: vocabulary, ranked merges, and the merge loop that turns one
// pre-tokenized word into token ids exactly as Hugging Face's `tokenizers` does.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/json_path.h"

namespace lil {

class BpeModel {
 public:
  // Throws LilError naming the file and key for anything malformed or unsupported (dropout, a
  // continuing-subword prefix, an end-of-word suffix, merges naming tokens missing from the vocab).
  static BpeModel from_json(const nlohmann::json& model, const JsonPath& path);

  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;
  ~BpeModel();

  // Appends the ids of one word: from the bounded word cache, else (with ignore_merges) the whole word
  // when it is a vocabulary token, else the priority-queue merge loop.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  // The obviously-right twin of the merge loop, for tests: repeatedly merge the adjacent pair with the
  // lowest rank (leftmost on ties) until no pair has a merge. No cache, no whole-word lookup.
  std::vector<int32_t> merge_word_slowly(std::string_view word) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when no vocabulary entry has this id
  size_t vocab_entry_count() const { return token_to_id_.size(); }
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }

  size_t cached_word_count() const;  // for tests of the bounded cache
  static constexpr size_t kCacheCapacity = 10000;   // words, as in Hugging Face
  static constexpr size_t kMaxCachedWordBytes = 256;  // longer words are not cached

  // Resource limits: a corrupt or hostile tokenizer.json is refused before it can make lil allocate
  // gigabytes. Every id indexes tables of ~100 bytes an id, so ids (not just entries) are bounded; the
  // largest real vocabularies have ~262k tokens, Llama-3's 280,147 merges are the most lil has seen.
  static constexpr int64_t kMaxTokenId = (int64_t{1} << 21) - 1;  // 2,097,151
  static constexpr size_t kMaxMerges = size_t{1} << 22;           // 4,194,304

 private:
  BpeModel();

  struct MergeTarget {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  const MergeTarget* find_merge(int32_t left, int32_t right) const {
    auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  }
  // The word's characters as initial symbols, with unknown characters handled as Hugging Face does
  // (byte fallback, then the unk token, fused or not; dropped when there is neither).
  void initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const;
  void merge_symbols(std::vector<int32_t>& symbols) const;
  int32_t char_id(std::string_view character) const;  // -1 when not in the vocabulary

  std::vector<std::string> id_to_token_;  // indexed by id; empty strings for unused ids
  std::vector<bool> id_is_used_;
  std::unordered_map<std::string_view, int32_t> token_to_id_;  // views into id_to_token_
  std::unordered_map<uint64_t, MergeTarget> merges_;
  std::vector<int32_t> small_char_ids_;  // id of each single character below U+0800, or -1
  bool ignore_merges_ = false;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  std::optional<int32_t> unk_id_;

  struct GuardedCache;  // the word cache and its mutex, so encode_word can stay const and thread-safe
  std::unique_ptr<GuardedCache> cache_;
};

}  // namespace lil

#pragma once
// Bounded map from a pre-tokenized word to its token ids, kept in flat arrays (open addressing, keys and
// ids in two arenas) so that a hit costs one hash, one probe and one memcmp, with no allocation.
// Not thread-safe: BpeModel guards it with a mutex.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lil {

class WordCache {
 public:
  explicit WordCache(size_t capacity_words);

  // Appends the cached ids of `word` to `out` and returns true; false when `word` is not cached.
  bool lookup(std::string_view word, std::vector<int32_t>& out) const;
  // Adds `word` (not yet cached); a full cache is emptied first, so memory stays bounded.
  void insert(std::string_view word, const std::vector<int32_t>& ids);
  size_t size() const { return count_; }
  size_t capacity() const { return capacity_; }

 private:
  struct Slot {
    uint64_t hash = 0;  // 0 marks an empty slot; real hashes have their low bit set
    uint32_t key_offset = 0;
    uint32_t key_length = 0;
    uint32_t ids_offset = 0;
    uint32_t ids_length = 0;
  };
  static uint64_t hash_of(std::string_view word);
  size_t find_slot(std::string_view word, uint64_t hash) const;  // the word's slot or the empty one to use
  void clear();

  size_t capacity_;
  size_t count_ = 0;
  std::vector<Slot> slots_;  // a power of two, at least twice the capacity, so probes stay short
  std::string keys_;
  std::vector<int32_t> ids_;
};

}  // namespace lil

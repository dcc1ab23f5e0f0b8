#include "tokenizer/word_cache.h"

#include <cstring>
#include <functional>

namespace lil {

WordCache::WordCache(size_t capacity_words) : capacity_(capacity_words) {
  size_t slot_count = 16;
  while (slot_count < 2 * capacity_words) slot_count *= 2;
  slots_.resize(slot_count);
}

uint64_t WordCache::hash_of(std::string_view word) { return std::hash<std::string_view>{}(word) | 1; }

size_t WordCache::find_slot(std::string_view word, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.hash == 0) return i;
    if (slot.hash == hash && slot.key_length == word.size() &&
        std::memcmp(keys_.data() + slot.key_offset, word.data(), word.size()) == 0) {
      return i;
    }
  }
}

bool WordCache::lookup(std::string_view word, std::vector<int32_t>& out) const {
  const Slot& slot = slots_[find_slot(word, hash_of(word))];
  if (slot.hash == 0) return false;
  out.insert(out.end(), ids_.begin() + slot.ids_offset, ids_.begin() + slot.ids_offset + slot.ids_length);
  return true;
}

void WordCache::insert(std::string_view word, const std::vector<int32_t>& ids) {
  if (capacity_ == 0) return;
  if (count_ >= capacity_) clear();
  const uint64_t hash = hash_of(word);
  Slot& slot = slots_[find_slot(word, hash)];
  if (slot.hash != 0) return;  // already cached
  slot.hash = hash;
  slot.key_offset = static_cast<uint32_t>(keys_.size());
  slot.key_length = static_cast<uint32_t>(word.size());
  slot.ids_offset = static_cast<uint32_t>(ids_.size());
  slot.ids_length = static_cast<uint32_t>(ids.size());
  keys_.append(word);
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  ++count_;
}

void WordCache::clear() {
  for (Slot& slot : slots_) slot = Slot{};
  keys_.clear();
  ids_.clear();
  count_ = 0;
}

}  // namespace lil

#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <climits>
#include <cstdio>

#include "core/json_util.h"
#include "tokenizer/utf8.h"
#include "tokenizer/word_cache.h"

namespace lil {

struct BpeModel::GuardedCache {
  std::mutex mutex;
  WordCache words{kCacheCapacity};
};

namespace {

struct MergeCandidate {
  int32_t rank;
  int32_t position;
  int32_t merged_id;
};

// Min-heap order: lowest rank first, then leftmost, which is the order Hugging Face merges in.
struct LaterCandidate {
  bool operator()(const MergeCandidate& a, const MergeCandidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.position > b.position;
  }
};

// Scratch buffers of the merge loop, kept per thread so a word costs no allocation once warm.
struct MergeScratch {
  std::vector<MergeCandidate> heap;
  std::vector<int32_t> previous;
  std::vector<int32_t> next;
  std::vector<uint8_t> alive;
  std::vector<int32_t> symbols;
};

MergeScratch& merge_scratch() {
  thread_local MergeScratch scratch;
  return scratch;
}

std::pair<std::string, std::string> parse_merge(const nlohmann::json& entry, const JsonPath& path) {
  if (entry.is_string()) {
    const std::string& line = entry.get_ref<const std::string&>();
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      path.fail("expected \"<left> <right>\" with exactly one space, got \"" + line + "\"");
    }
    return {line.substr(0, space), line.substr(space + 1)};
  }
  if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
    return {entry[0].get<std::string>(), entry[1].get<std::string>()};
  }
  path.fail("expected a string \"<left> <right>\" or a pair of strings, got " + json_type_name(entry));
}

}  // namespace

BpeModel::BpeModel() : cache_(std::make_unique<GuardedCache>()) {}
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;
BpeModel::~BpeModel() = default;

BpeModel BpeModel::from_json(const nlohmann::json& model, const JsonPath& path) {
  if (!model.is_object()) path.fail("expected a JSON object, got " + json_type_name(model));
  if (const auto type = path.optional_string(model, "type"); type && *type != "BPE") {
    (path / "type").fail("unsupported model type '" + *type + "' (supported: BPE)");
  }
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
    if (!it->is_number()) (path / "dropout").fail("expected a number or null, got " + json_type_name(*it));
    if (it->get<double>() != 0.0) (path / "dropout").fail("BPE dropout is random and not supported; expected null");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const auto affix = path.optional_string(model, key); affix && !affix->empty()) {
      (path / key).fail("non-empty value '" + *affix + "' is not supported; expected null or \"\"");
    }
  }

  BpeModel bpe;
  const nlohmann::json& vocab = path.require_object(model, "vocab");
  const JsonPath vocab_path = path / "vocab";
  int64_t max_id = -1;
  for (const auto& [token, id_value] : vocab.items()) {
    if (!id_value.is_number_integer() && !id_value.is_number_unsigned()) {
      (vocab_path / token).fail("expected an integer id, got " + json_type_name(id_value));
    }
    const int64_t id = id_value.get<int64_t>();
    if (id < 0 || id > kMaxTokenId) {
      (vocab_path / token).fail("id " + std::to_string(id) + " is out of range (lil accepts ids 0.." +
                                std::to_string(kMaxTokenId) + ")");
    }
    max_id = std::max(max_id, id);
  }
  bpe.id_to_token_.resize(static_cast<size_t>(max_id + 1));
  bpe.id_is_used_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [token, id_value] : vocab.items()) {
    const auto id = static_cast<size_t>(id_value.get<int64_t>());
    if (bpe.id_is_used_[id]) {
      (vocab_path / token).fail("id " + std::to_string(id) + " is also used by '" + bpe.id_to_token_[id] + "'");
    }
    if (utf8::first_invalid_byte(token)) (vocab_path / token).fail("token is not valid UTF-8");
    bpe.id_to_token_[id] = token;
    bpe.id_is_used_[id] = true;
  }
  // Built only now: the views point into id_to_token_, which must not reallocate afterwards.
  bpe.token_to_id_.reserve(vocab.size());
  for (size_t id = 0; id < bpe.id_to_token_.size(); ++id) {
    if (bpe.id_is_used_[id]) bpe.token_to_id_.emplace(bpe.id_to_token_[id], static_cast<int32_t>(id));
  }
  bpe.small_char_ids_.assign(0x800, -1);
  for (const auto& [token, id] : bpe.token_to_id_) {
    if (utf8::sequence_length(token, 0) != token.size()) continue;  // not a single character
    size_t pos = 0;
    const char32_t codepoint = utf8::decode_valid(token, pos);
    if (codepoint < bpe.small_char_ids_.size()) bpe.small_char_ids_[codepoint] = id;
  }

  const nlohmann::json& merges = path.require_array(model, "merges");
  const JsonPath merges_path = path / "merges";
  if (merges.size() > kMaxMerges) {
    merges_path.fail(std::to_string(merges.size()) + " merges; lil accepts at most " + std::to_string(kMaxMerges) +
                     " (a corrupt file?)");
  }
  bpe.merges_.reserve(merges.size());
  int32_t rank = 0;
  std::string merged;
  for (size_t i = 0; i < merges.size(); ++i) {
    // Hugging Face skips "#version" header lines of merges.txt-style entries without counting them.
    if (merges[i].is_string() && merges[i].get_ref<const std::string&>().rfind("#version", 0) == 0) continue;
    const auto [left, right] = parse_merge(merges[i], merges_path[i]);
    const auto left_id = bpe.token_to_id(left);
    const auto right_id = bpe.token_to_id(right);
    merged = left + right;
    const auto merged_id = bpe.token_to_id(merged);
    if (!left_id) merges_path[i].fail("token '" + left + "' is not in the vocabulary");
    if (!right_id) merges_path[i].fail("token '" + right + "' is not in the vocabulary");
    if (!merged_id) merges_path[i].fail("merged token '" + merged + "' is not in the vocabulary");
    // A repeated pair keeps its last rank, as Hugging Face's HashMap collect does.
    bpe.merges_.insert_or_assign(pair_key(*left_id, *right_id), MergeTarget{rank, *merged_id});
    ++rank;
  }

  bpe.ignore_merges_ = path.optional_bool(model, "ignore_merges", false);
  bpe.byte_fallback_ = path.optional_bool(model, "byte_fallback", false);
  bpe.fuse_unk_ = path.optional_bool(model, "fuse_unk", false);
  if (const auto unk = path.optional_string(model, "unk_token")) {
    bpe.unk_id_ = bpe.token_to_id(*unk);
    if (!bpe.unk_id_) (path / "unk_token").fail("token '" + *unk + "' is not in the vocabulary");
  }
  return bpe;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = token_to_id_.find(token);
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !id_is_used_[id]) return nullptr;
  return &id_to_token_[id];
}

int32_t BpeModel::char_id(std::string_view character) const {
  size_t pos = 0;
  const char32_t codepoint = utf8::decode_valid(character, pos);
  if (codepoint < small_char_ids_.size()) return small_char_ids_[codepoint];
  auto it = token_to_id_.find(character);
  return it == token_to_id_.end() ? -1 : it->second;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const {
  symbols.clear();
  bool unk_pending = false;
  size_t pos = 0;
  while (pos < word.size()) {
    size_t length = utf8::sequence_length(word, pos);
    if (length == 0) length = 1;  // cannot happen for validated text; never loop forever
    const std::string_view character = word.substr(pos, length);
    pos += length;
    const int32_t id = char_id(character);
    if (id >= 0) {
      if (unk_pending) symbols.push_back(*unk_id_);
      unk_pending = false;
      symbols.push_back(id);
      continue;
    }
    if (byte_fallback_) {
      // "<0xAB>" tokens for every byte, when all exist. Hugging Face leaves a pending unk pending here.
      bool all_found = true;
      const size_t mark = symbols.size();
      for (char c : character) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned char>(c));
        const auto byte_id = token_to_id(name);
        if (!byte_id) {
          all_found = false;
          break;
        }
        symbols.push_back(*byte_id);
      }
      if (all_found) continue;
      symbols.resize(mark);
    }
    if (unk_id_) {
      if (unk_pending && !fuse_unk_) symbols.push_back(*unk_id_);
      unk_pending = true;
    }
  }
  if (unk_pending) symbols.push_back(*unk_id_);
}

void BpeModel::merge_symbols(std::vector<int32_t>& symbols) const {
  const auto count = static_cast<int32_t>(symbols.size());
  if (count < 2) return;
  MergeScratch& s = merge_scratch();
  s.previous.resize(count);
  s.next.resize(count);
  s.alive.assign(count, 1);
  s.heap.clear();
  for (int32_t i = 0; i < count; ++i) {
    s.previous[i] = i - 1;
    s.next[i] = i + 1 < count ? i + 1 : -1;
    if (i + 1 < count) {
      if (const MergeTarget* m = find_merge(symbols[i], symbols[i + 1])) s.heap.push_back({m->rank, i, m->merged_id});
    }
  }
  std::make_heap(s.heap.begin(), s.heap.end(), LaterCandidate{});
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), LaterCandidate{});
    const MergeCandidate top = s.heap.back();
    s.heap.pop_back();
    const int32_t left = top.position;
    if (!s.alive[left]) continue;
    const int32_t right = s.next[left];
    if (right < 0) continue;
    // A candidate is stale when either side changed since it was queued; the pair then merges into
    // something else (or nothing), which is how Hugging Face detects it too.
    const MergeTarget* current = find_merge(symbols[left], symbols[right]);
    if (current == nullptr || current->merged_id != top.merged_id) continue;

    symbols[left] = top.merged_id;
    s.alive[right] = 0;
    const int32_t after = s.next[right];
    s.next[left] = after;
    if (after >= 0) s.previous[after] = left;

    const int32_t before = s.previous[left];
    if (before >= 0) {
      if (const MergeTarget* m = find_merge(symbols[before], symbols[left])) {
        s.heap.push_back({m->rank, before, m->merged_id});
        std::push_heap(s.heap.begin(), s.heap.end(), LaterCandidate{});
      }
    }
    if (after >= 0) {
      if (const MergeTarget* m = find_merge(symbols[left], symbols[after])) {
        s.heap.push_back({m->rank, left, m->merged_id});
        std::push_heap(s.heap.begin(), s.heap.end(), LaterCandidate{});
      }
    }
  }
  int32_t kept = 0;
  for (int32_t i = 0; i < count; ++i) {
    if (s.alive[i]) symbols[kept++] = symbols[i];
  }
  symbols.resize(kept);
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  // The cache is asked before the whole-word vocabulary lookup that Hugging Face does first: both give
  // the same ids for the same word, and the small cache answers faster than the large vocabulary.
  const bool cacheable = word.size() < kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->words.lookup(word, out)) return;
  }
  std::vector<int32_t>& symbols = merge_scratch().symbols;
  const std::optional<int32_t> whole_word = ignore_merges_ ? token_to_id(word) : std::nullopt;
  if (whole_word) {
    symbols.assign(1, *whole_word);
  } else {
    initial_symbols(word, symbols);
    merge_symbols(symbols);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    cache_->words.insert(word, symbols);
  }
}

std::vector<int32_t> BpeModel::merge_word_slowly(std::string_view word) const {
  std::vector<int32_t> symbols;
  initial_symbols(word, symbols);
  while (true) {
    size_t best_position = 0;
    const MergeTarget* best = nullptr;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const MergeTarget* m = find_merge(symbols[i], symbols[i + 1]);
      if (m != nullptr && (best == nullptr || m->rank < best->rank)) {
        best = m;
        best_position = i;
      }
    }
    if (best == nullptr) return symbols;
    symbols[best_position] = best->merged_id;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_position) + 1);
  }
}

size_t BpeModel::cached_word_count() const {
  std::lock_guard<std::mutex> lock(cache_->mutex);
  return cache_->words.size();
}

}  // namespace lil

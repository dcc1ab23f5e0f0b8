#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <map>
#include <filesystem>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/json_util.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/json_path.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace lil {

struct Tokenizer::Impl {
  std::string source_path;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  BpeModel model;
  AddedVocabulary added;
  std::unique_ptr<PostProcessor> post_processor;

  std::unordered_map<std::string, int32_t> added_token_ids;
  std::vector<std::string> piece_of_id;  // what Hugging Face's id_to_token returns; empty when unassigned
  std::vector<std::string> bytes_of_id;
  std::vector<uint8_t> id_is_assigned;
  std::vector<uint8_t> id_is_special;

  std::optional<int32_t> bos_id;
  std::optional<int32_t> eos_id;
  std::string chat_template;

  Impl(BpeModel bpe, AddedVocabulary added_vocabulary) : model(std::move(bpe)), added(std::move(added_vocabulary)) {}

  void encode_plain_text(std::string_view text, std::vector<int32_t>& ids) const {
    if (text.empty()) return;
    if (!pre_tokenizer) {
      model.encode_word(text, ids);
      return;
    }
    auto encode_piece = [&](std::string_view piece) { model.encode_word(piece, ids); };
    try {
      pre_tokenizer->pre_tokenize(text, encode_piece);
    } catch (const LilError& e) {  // e.g. PCRE2's match limit, hit by a regex that backtracks without end
      fail_at(source_path, std::string("pre-tokenizer: ") + e.what());
    }
  }

  std::optional<int32_t> token_to_id(const std::string& token) const {
    auto it = added_token_ids.find(token);
    if (it != added_token_ids.end()) return it->second;
    return model.token_to_id(token);
  }

  bool assigned(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < id_is_assigned.size() && id_is_assigned[id] != 0;
  }
};

namespace {

std::vector<AddedToken> parse_added_tokens(const nlohmann::json& root, const JsonPath& root_path) {
  std::vector<AddedToken> tokens;
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return tokens;
  if (!it->is_array()) (root_path / "added_tokens").fail("expected an array, got " + json_type_name(*it));
  for (size_t i = 0; i < it->size(); ++i) {
    const JsonPath path = (root_path / "added_tokens")[i];
    const nlohmann::json& entry = (*it)[i];
    AddedToken token;
    token.content = path.require_string(entry, "content");
    if (utf8::first_invalid_byte(token.content)) (path / "content").fail("not valid UTF-8");
    token.special = path.optional_bool(entry, "special", false);
    token.single_word = path.optional_bool(entry, "single_word", false);
    token.lstrip = path.optional_bool(entry, "lstrip", false);
    token.rstrip = path.optional_bool(entry, "rstrip", false);
    token.normalized = path.optional_bool(entry, "normalized", !token.special);
    path.require_int(entry, "id");  // checked for a well-formed file; the id used is computed below
    tokens.push_back(std::move(token));
  }
  return tokens;
}

struct AssignedAddedTokens {
  std::vector<AddedToken> tokens;  // one per id, ascending
  std::set<std::string> special_contents;
};

// Hugging Face ignores the "id" written next to an added token: a token already in the vocabulary
// takes that id, any other takes the next id after the vocabulary (counted in entries). Repeats of a
// content reuse its id and replace its flags.
AssignedAddedTokens assign_added_token_ids(const std::vector<AddedToken>& listed, const BpeModel& model) {
  std::unordered_map<std::string, int32_t> id_of_content;
  std::map<int32_t, AddedToken> token_of_id;
  AssignedAddedTokens result;
  auto next_id = static_cast<int32_t>(model.vocab_entry_count());
  for (const AddedToken& token : listed) {
    if (token.content.empty()) continue;
    if (token.special) result.special_contents.insert(token.content);
    int32_t id;
    if (auto it = id_of_content.find(token.content); it != id_of_content.end()) {
      id = it->second;
    } else if (auto vocab_id = model.token_to_id(token.content)) {
      id = *vocab_id;
    } else {
      id = next_id++;
    }
    id_of_content[token.content] = id;
    AddedToken with_id = token;
    with_id.id = id;
    token_of_id[id] = std::move(with_id);
  }
  for (auto& [id, token] : token_of_id) result.tokens.push_back(std::move(token));
  return result;
}

const nlohmann::json& value_or_null(const nlohmann::json& object, const char* key) {
  static const nlohmann::json null_value;
  auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

// tokenizer_config.json writes a token either as its text or as an AddedToken object {"content": ...}.
std::optional<std::string> config_token_name(const nlohmann::json& config, const std::string& key, const JsonPath& path) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return (path / key).require_string(*it, "content");
  (path / key).fail("expected a string, an object with 'content', or null, got " + json_type_name(*it));
}

std::string config_chat_template(const nlohmann::json& config, const JsonPath& path) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    // Several named templates: the one named "default" is what transformers applies.
    for (size_t i = 0; i < it->size(); ++i) {
      const JsonPath item_path = (path / "chat_template")[i];
      if (item_path.require_string((*it)[i], "name") == "default") return item_path.require_string((*it)[i], "template");
    }
    (path / "chat_template").fail("a list of templates without one named \"default\"");
  }
  (path / "chat_template").fail("expected a string or a list of {name, template}, got " + json_type_name(*it));
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_files(const std::string& tokenizer_json_path, const std::string& tokenizer_config_path) {
  const nlohmann::json root = read_json_file(tokenizer_json_path, kMaxFileBytes);
  const JsonPath root_path(tokenizer_json_path);
  if (!root.is_object()) root_path.fail("expected a JSON object at the top level, got " + json_type_name(root));
  if (const auto version = root_path.optional_string(root, "version"); version && *version != "1.0") {
    (root_path / "version").fail("unknown tokenizer.json version '" + *version + "' (expected \"1.0\")");
  }
  // "truncation" and "padding" are ignored: transformers' tokenizer(text) turns both off for each call
  // unless asked, and lil never asks.

  auto normalizer = make_normalizer(value_or_null(root, "normalizer"), root_path / "normalizer");
  auto pre_tokenizer = make_pre_tokenizer(value_or_null(root, "pre_tokenizer"), root_path / "pre_tokenizer");
  BpeModel model = BpeModel::from_json(root_path.require(root, "model"), root_path / "model");
  AssignedAddedTokens added = assign_added_token_ids(parse_added_tokens(root, root_path), model);
  auto post_processor = make_post_processor(value_or_null(root, "post_processor"), root_path / "post_processor");
  const TokenDecoder decoder = TokenDecoder::from_json(value_or_null(root, "decoder"), root_path / "decoder");

  auto impl = std::make_unique<Impl>(std::move(model), AddedVocabulary(added.tokens, normalizer.get()));
  impl->source_path = tokenizer_json_path;
  impl->normalizer = std::move(normalizer);
  impl->pre_tokenizer = std::move(pre_tokenizer);
  impl->post_processor = std::move(post_processor);

  int32_t max_id = impl->model.max_id();
  for (const AddedToken& token : added.tokens) max_id = std::max(max_id, token.id);
  const auto id_count = static_cast<size_t>(max_id + 1);
  impl->piece_of_id.resize(id_count);
  impl->id_is_assigned.assign(id_count, 0);
  for (size_t id = 0; id < id_count; ++id) {
    if (const std::string* piece = impl->model.id_to_token(static_cast<int32_t>(id))) {
      impl->piece_of_id[id] = *piece;
      impl->id_is_assigned[id] = 1;
    }
  }
  for (const AddedToken& token : added.tokens) {
    impl->added_token_ids[token.content] = token.id;
    // A normalized added token decodes from its normalized form, as Hugging Face's decode does.
    std::string piece = token.content;
    if (token.normalized && impl->normalizer) impl->normalizer->normalize(token.content, piece);
    impl->piece_of_id[token.id] = std::move(piece);
    impl->id_is_assigned[token.id] = 1;
  }
  impl->bytes_of_id.resize(id_count);
  impl->id_is_special.assign(id_count, 0);
  for (size_t id = 0; id < id_count; ++id) {
    if (!impl->id_is_assigned[id]) continue;
    impl->bytes_of_id[id] = decoder.token_bytes(impl->piece_of_id[id]);
    impl->id_is_special[id] = added.special_contents.count(impl->piece_of_id[id]) ? 1 : 0;
  }

  if (!tokenizer_config_path.empty()) {
    const nlohmann::json config = read_json_file(tokenizer_config_path, kMaxFileBytes);
    const JsonPath config_path(tokenizer_config_path);
    if (!config.is_object()) config_path.fail("expected a JSON object at the top level, got " + json_type_name(config));
    auto resolve = [&](const char* key) -> std::optional<int32_t> {
      const auto name = config_token_name(config, key, config_path);
      if (!name) return std::nullopt;
      const auto id = impl->token_to_id(*name);
      if (!id) (config_path / key).fail("token '" + *name + "' is not in " + tokenizer_json_path);
      return id;
    };
    impl->bos_id = resolve("bos_token");
    impl->eos_id = resolve("eos_token");
    impl->chat_template = config_chat_template(config, config_path);
  }
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_model_dir(const std::string& dir) {
  const std::string config_path = dir + "/tokenizer_config.json";
  std::error_code error;
  return from_files(dir + "/tokenizer.json", std::filesystem::exists(config_path, error) ? config_path : "");
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  if (const auto bad = utf8::first_invalid_byte(text)) {
    throw LilError("text to tokenize is not valid UTF-8 (first bad byte at offset " + std::to_string(*bad) + ")");
  }
  const Impl& d = *impl_;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<TextSegment> raw_segments;
  std::vector<TextSegment> normalized_segments;
  std::string normalized;
  const std::string_view whole(text);
  d.added.split_raw(whole, raw_segments);
  for (const TextSegment& segment : raw_segments) {
    if (segment.added_token_id >= 0) {
      ids.push_back(segment.added_token_id);
      continue;
    }
    std::string_view plain = whole.substr(segment.begin, segment.end - segment.begin);
    if (d.normalizer) {
      d.normalizer->normalize(plain, normalized);
      plain = normalized;
    }
    if (!d.added.has_normalized_tokens()) {
      d.encode_plain_text(plain, ids);
      continue;
    }
    normalized_segments.clear();
    d.added.split_normalized(plain, normalized_segments);
    for (const TextSegment& inner : normalized_segments) {
      if (inner.added_token_id >= 0) {
        ids.push_back(inner.added_token_id);
      } else {
        d.encode_plain_text(plain.substr(inner.begin, inner.end - inner.begin), ids);
      }
    }
  }
  if (d.post_processor) d.post_processor->process(ids, add_special_tokens);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!impl_->assigned(id)) continue;
    if (skip_special_tokens && impl_->id_is_special[id]) continue;
    bytes += impl_->bytes_of_id[id];
  }
  std::string text;
  text.reserve(bytes.size());
  utf8::append_lossy(text, bytes);
  return text;
}

std::string Tokenizer::id_to_piece(int32_t id) const {
  if (!impl_->assigned(id)) {
    throw LilError(impl_->source_path + ": no token has id " + std::to_string(id) + " (vocabulary size " +
                   std::to_string(vocab_size()) + ")");
  }
  return impl_->piece_of_id[id];
}

std::string_view Tokenizer::id_to_bytes(int32_t id) const {
  if (!impl_->assigned(id)) return {};
  return impl_->bytes_of_id[id];
}

std::optional<int32_t> Tokenizer::token_to_id(const std::string& token) const { return impl_->token_to_id(token); }

bool Tokenizer::is_special(int32_t id) const { return impl_->assigned(id) && impl_->id_is_special[id] != 0; }

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->piece_of_id.size()); }

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos_id; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }
const std::string& Tokenizer::source_path() const { return impl_->source_path; }

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_tokens_ && tokenizer_.is_special(id)) return "";
  pending_bytes_ += tokenizer_.id_to_bytes(id);
  // Hold back only a character that the next token may still complete; everything before it is final
  // (lossy UTF-8 repair of a prefix never changes once more bytes follow).
  const size_t held = utf8::incomplete_suffix_length(pending_bytes_);
  std::string text;
  utf8::append_lossy(text, std::string_view(pending_bytes_).substr(0, pending_bytes_.size() - held));
  pending_bytes_.erase(0, pending_bytes_.size() - held);
  return text;
}

std::string StreamDecoder::flush() {
  std::string text;
  utf8::append_lossy(text, pending_bytes_);
  pending_bytes_.clear();
  return text;
}

}  // namespace lil

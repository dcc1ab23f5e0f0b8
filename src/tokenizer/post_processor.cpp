#include "tokenizer/post_processor.h"

#include <map>
#include <string>

#include "core/json_util.h"

namespace lil {
namespace {

class NoOpPostProcessor final : public PostProcessor {
 public:
  void process(std::vector<int32_t>&, bool) const override {}
};

// The single-sequence template: special-token ids before and after the sequence ("$A").
class TemplatePostProcessor final : public PostProcessor {
 public:
  TemplatePostProcessor(std::vector<int32_t> before, std::vector<int32_t> after)
      : before_(std::move(before)), after_(std::move(after)) {}

  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    ids.insert(ids.begin(), before_.begin(), before_.end());
    ids.insert(ids.end(), after_.begin(), after_.end());
  }

 private:
  std::vector<int32_t> before_;
  std::vector<int32_t> after_;
};

class SequencePostProcessor final : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}

  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    for (const auto& step : steps_) step->process(ids, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

std::unique_ptr<PostProcessor> make_template(const nlohmann::json& config, const JsonPath& path) {
  // special_tokens: name -> {"id": name, "ids": [...], "tokens": [...]}
  std::map<std::string, std::vector<int32_t>> special_ids;
  const nlohmann::json& specials = path.require_object(config, "special_tokens");
  for (const auto& [name, entry] : specials.items()) {
    const JsonPath entry_path = path / "special_tokens" / name;
    const nlohmann::json& ids = entry_path.require_array(entry, "ids");
    std::vector<int32_t>& out = special_ids[name];
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!ids[i].is_number_integer() && !ids[i].is_number_unsigned()) {
        (entry_path / "ids")[i].fail("expected an integer, got " + json_type_name(ids[i]));
      }
      out.push_back(ids[i].get<int32_t>());
    }
  }

  const nlohmann::json& pieces = path.require_array(config, "single");
  std::vector<int32_t> before;
  std::vector<int32_t> after;
  bool seen_sequence = false;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const JsonPath piece_path = (path / "single")[i];
    const nlohmann::json& piece = pieces[i];
    if (piece.is_object() && piece.contains("Sequence")) {
      const std::string id = (piece_path / "Sequence").require_string(piece.at("Sequence"), "id");
      if (id != "A") (piece_path / "Sequence" / "id").fail("expected \"A\" in a single-sequence template, got \"" + id + "\"");
      if (seen_sequence) piece_path.fail("the sequence appears twice in the single template");
      seen_sequence = true;
    } else if (piece.is_object() && piece.contains("SpecialToken")) {
      const std::string name = (piece_path / "SpecialToken").require_string(piece.at("SpecialToken"), "id");
      auto it = special_ids.find(name);
      if (it == special_ids.end()) (piece_path / "SpecialToken" / "id").fail("'" + name + "' is not in special_tokens");
      std::vector<int32_t>& target = seen_sequence ? after : before;
      target.insert(target.end(), it->second.begin(), it->second.end());
    } else {
      piece_path.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (!seen_sequence) (path / "single").fail("the template has no {\"Sequence\": {\"id\": \"A\"}} piece");
  return std::make_unique<TemplatePostProcessor>(std::move(before), std::move(after));
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& config, const JsonPath& path) {
  if (config.is_null()) return nullptr;
  const std::string type = path.require_string(config, "type");
  // ByteLevel only trims offsets, which lil does not track.
  if (type == "ByteLevel") return std::make_unique<NoOpPostProcessor>();
  if (type == "TemplateProcessing") return make_template(config, path);
  if (type == "Sequence") {
    const nlohmann::json& items = path.require_array(config, "processors");
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (size_t i = 0; i < items.size(); ++i) {
      auto step = make_post_processor(items[i], (path / "processors")[i]);
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequencePostProcessor>(std::move(steps));
  }
  (path / "type").fail("unsupported post-processor '" + type + "' (supported: TemplateProcessing, ByteLevel, Sequence, null)");
}

}  // namespace lil

#include "datasets/prompt_template.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/json_util.h"
#include "datasets/data_paths.h"
#include "tokenizer/tokenizer.h"

namespace lil {

const char* const kDefaultInstruction = "Please reason step by step, and put your final answer within \\boxed{}.";
const char* const kDefaultFinalAnswerPrompt = "\n\n**Final Answer**\n\\boxed{";

namespace {

namespace fs = std::filesystem;

const std::set<std::string>& fixed_placeholders() {
  static const std::set<std::string> names = {"question", "instruction", "system", "bos", "eos"};
  return names;
}

bool is_role(const std::string& name) { return name == "bos" || name == "eos"; }

std::vector<PromptTemplate::Segment> parse_format(const std::string& format, const std::string& where) {
  std::vector<PromptTemplate::Segment> segments;
  std::string literal;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if ((c == '{' || c == '}') && i + 1 < format.size() && format[i + 1] == c) {
      literal += c;
      ++i;
      continue;
    }
    if (c == '}') fail_at(where, "key 'format': unmatched '}' at byte " + std::to_string(i) + " (write '}}')");
    if (c != '{') {
      literal += c;
      continue;
    }
    const size_t close = format.find('}', i);
    if (close == std::string::npos) {
      fail_at(where, "key 'format': unclosed '{' at byte " + std::to_string(i) + " (write '{{' for a brace)");
    }
    PromptTemplate::Segment placeholder{true, format.substr(i + 1, close - i - 1), false};
    if (!placeholder.text.empty() && placeholder.text.back() == '?') {
      placeholder.text.pop_back();
      placeholder.optional = true;
    }
    if (!literal.empty()) segments.push_back({false, literal, false});
    literal.clear();
    segments.push_back(placeholder);
    i = close;
  }
  if (!literal.empty()) segments.push_back({false, literal, false});
  return segments;
}

std::optional<std::string> optional_text(const json& object, const std::string& key, const std::string& where) {
  return optional_string(object, key, where);
}

}  // namespace

PromptTemplate parse_prompt_template(const std::string& json_text, const std::string& where) {
  const json root = parse_json_text(json_text, where);
  if (!root.is_object()) fail_at(where, "expected a JSON object, got " + json_type_name(root));
  static const std::set<std::string> known_keys = {
      "name",       "description", "format",    "special_tokens",      "system",
      "instruction", "think_end",  "final_answer_prompt", "final_answer_prompt_in_think"};
  for (const auto& item : root.items()) {
    if (known_keys.count(item.key()) == 0) fail_at(where, "unknown key '" + item.key() + "'");
  }

  PromptTemplate t;
  t.source = where;
  t.name = require_string(root, "name", where);
  if (t.name.empty()) fail_at(where, "key 'name': must not be empty");
  t.description = optional_text(root, "description", where).value_or("");
  t.format = require_string(root, "format", where);
  t.instruction = optional_text(root, "instruction", where).value_or(kDefaultInstruction);
  t.think_end = optional_text(root, "think_end", where).value_or("");
  t.final_answer_prompt = optional_text(root, "final_answer_prompt", where).value_or(kDefaultFinalAnswerPrompt);
  t.final_answer_prompt_in_think = optional_text(root, "final_answer_prompt_in_think", where)
                                       .value_or(t.think_end.empty() ? t.final_answer_prompt
                                                                     : "\n" + t.think_end + t.final_answer_prompt);
  const auto system = optional_text(root, "system", where);
  t.system = system.value_or("");

  if (root.contains("special_tokens")) {
    const json& tokens = root.at("special_tokens");
    if (!tokens.is_object()) {
      fail_at(where, "key 'special_tokens': expected an object of name -> token, got " + json_type_name(tokens));
    }
    for (const auto& item : tokens.items()) {
      const std::string key_where = where + ": key 'special_tokens." + item.key() + "'";
      if (!item.value().is_string() || item.value().get<std::string>().empty()) {
        fail_at(key_where, "expected a non-empty token string, got " + json_type_name(item.value()));
      }
      if (fixed_placeholders().count(item.key()) > 0) {
        fail_at(key_where, "'" + item.key() + "' is a built-in placeholder and cannot name a token");
      }
      t.special_tokens[item.key()] = item.value().get<std::string>();
    }
  }

  t.segments = parse_format(t.format, where);
  int question_count = 0;
  for (const auto& segment : t.segments) {
    if (!segment.is_placeholder) continue;
    const std::string& name = segment.text;
    if (fixed_placeholders().count(name) == 0 && t.special_tokens.count(name) == 0) {
      fail_at(where, "key 'format': unknown placeholder '{" + name +
                         "}' (built-in: question, instruction, system, bos, eos; or a key of 'special_tokens')");
    }
    if (segment.optional && !is_role(name)) {
      fail_at(where, "key 'format': only {bos?} and {eos?} may be optional, not '{" + name + "?}'");
    }
    if (name == "question") ++question_count;
    if (name == "system" && !system) fail_at(where, "key 'format' uses {system} but the template has no 'system'");
  }
  if (question_count != 1) {
    fail_at(where, "key 'format': expected {question} exactly once, found " + std::to_string(question_count));
  }
  return t;
}

PromptTemplate load_prompt_template(const std::string& name_or_path) {
  const bool is_path = name_or_path.find('/') != std::string::npos ||
                       (name_or_path.size() > 5 && name_or_path.compare(name_or_path.size() - 5, 5, ".json") == 0);
  std::string path = name_or_path;
  if (!is_path) {
    const auto repo = find_repo_dir();
    if (!repo) {
      fail_at("prompt template '" + name_or_path + "'",
              "cannot locate configs/templates/ (set LIL_REPO_DIR or give the template's path)");
    }
    path = (fs::path(*repo) / "configs" / "templates" / (name_or_path + ".json")).string();
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      std::string known;
      for (const auto& name : list_prompt_templates()) known += (known.empty() ? "" : ", ") + name;
      fail_at("prompt template '" + name_or_path + "'", "no file " + path + "; known templates: " + known);
    }
  }
  return parse_prompt_template(read_text_file(path), path);
}

std::vector<std::string> list_prompt_templates() {
  std::vector<std::string> names;
  const auto repo = find_repo_dir();
  if (!repo) return names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(*repo) / "configs" / "templates", ec)) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

SpecialTokenVocabulary tokens_of(const Tokenizer& tokenizer) {
  SpecialTokenVocabulary vocabulary;
  vocabulary.description = "tokenizer " + tokenizer.source_path();
  vocabulary.role_token = [&tokenizer](const std::string& role) -> std::optional<std::string> {
    const auto id = role == "bos" ? tokenizer.bos_id() : tokenizer.eos_id();
    if (!id) return std::nullopt;
    return tokenizer.id_to_piece(*id);
  };
  vocabulary.is_single_token = [&tokenizer](const std::string& token) {
    const auto id = tokenizer.token_to_id(token);
    if (!id) return false;
    // A special token is matched in text by construction; any other vocabulary entry only if the
    // tokenizer's added-token matching (or BPE) really yields it for the literal.
    if (tokenizer.is_special(*id)) return true;
    return tokenizer.encode(token, /*add_special_tokens=*/false) == std::vector<int32_t>{*id};
  };
  return vocabulary;
}

void validate_prompt_template(const PromptTemplate& t, const SpecialTokenVocabulary& vocabulary) {
  const std::string where = "prompt template '" + t.name + "' (" + t.source + ")";
  for (const auto& [name, token] : t.special_tokens) {
    if (!vocabulary.is_single_token(token)) {
      fail_at(where, "special token '" + token + "' ({" + name + "}) is not a special or added token of " +
                         vocabulary.description + "; this template does not fit this model");
    }
  }
  for (const auto& segment : t.segments) {
    if (!segment.is_placeholder || !is_role(segment.text) || segment.optional) continue;
    if (!vocabulary.role_token(segment.text)) {
      fail_at(where, "uses {" + segment.text + "} but " + vocabulary.description + " defines no " + segment.text +
                         "_token (use {" + segment.text + "?} if it is optional)");
    }
  }
}

std::string render_prompt(const PromptTemplate& t, const std::string& question,
                          const SpecialTokenVocabulary& vocabulary, const std::optional<std::string>& instruction) {
  validate_prompt_template(t, vocabulary);
  std::string prompt;
  for (const auto& segment : t.segments) {
    if (!segment.is_placeholder) {
      prompt += segment.text;
    } else if (segment.text == "question") {
      prompt += question;
    } else if (segment.text == "instruction") {
      prompt += instruction.value_or(t.instruction);
    } else if (segment.text == "system") {
      prompt += t.system;
    } else if (is_role(segment.text)) {
      prompt += vocabulary.role_token(segment.text).value_or("");
    } else {
      prompt += t.special_tokens.at(segment.text);
    }
  }
  return prompt;
}

std::string render_prompt(const PromptTemplate& t, const std::string& question, const Tokenizer& tokenizer,
                          const std::optional<std::string>& instruction) {
  return render_prompt(t, question, tokens_of(tokenizer), instruction);
}

}  // namespace lil

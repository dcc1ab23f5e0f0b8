// lil tokenize: encode text with a model directory's tokenizer.json, for checking ids against other tools.
//   --text T     prints the ids, then one "id<TAB>piece" line per token (pieces JSON-quoted)
//   --jsonl      reads one JSON string per stdin line and writes {"ids":[...]} per line
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace lil::cli {
namespace {

struct TokenizeOptions {
  std::string model_dir;
  std::string text;
  bool jsonl = false;
  bool no_special_tokens = false;
};

std::string text_of_line(const std::string& line, size_t line_number) {
  const std::string where = "stdin line " + std::to_string(line_number);
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {  // parse errors and out-of-range numbers
    fail_at(where, "malformed JSON: expected one JSON string per line (" + std::string(e.what()) + ")");
  }
  if (!value.is_string()) fail_at(where, "expected a JSON string, got " + std::string(value.type_name()));
  return value.get<std::string>();
}

int tokenize_jsonl(const Tokenizer& tokenizer, bool add_special_tokens) {
  std::string line;
  size_t line_number = 0;
  while (std::getline(std::cin, line)) {
    ++line_number;
    const std::string text = text_of_line(line, line_number);
    std::vector<int32_t> ids;
    try {
      ids = tokenizer.encode(text, add_special_tokens);
    } catch (const LilError& e) {
      fail_at("stdin line " + std::to_string(line_number), e.what());
    }
    std::cout << nlohmann::json{{"ids", ids}}.dump() << '\n';
  }
  std::cout.flush();
  return 0;
}

int tokenize_text(const Tokenizer& tokenizer, const std::string& text, bool add_special_tokens) {
  const std::vector<int32_t> ids = tokenizer.encode(text, add_special_tokens);
  std::cout << "tokens: " << ids.size() << "\n";
  std::cout << "ids: " << nlohmann::json(ids).dump() << "\n";
  for (int32_t id : ids) {
    // JSON quoting keeps pieces with spaces, tabs or newlines readable, one per line.
    std::cout << id << '\t' << nlohmann::json(tokenizer.id_to_piece(id)).dump() << "\n";
  }
  return 0;
}

Registrar registrar("tokenize", "Tokenize text with a model's tokenizer.json (Hugging Face compatible ids)", [](CLI::App& sub) {
  auto options = std::make_shared<TokenizeOptions>();
  sub.add_option("--model", options->model_dir, "Model directory with tokenizer.json (and tokenizer_config.json)")
      ->required();
  auto* jsonl = sub.add_flag("--jsonl", options->jsonl,
                             "Read one JSON string per stdin line, write {\"ids\":[...]} per line");
  auto* text = sub.add_option("--text", options->text, "Text to tokenize; prints ids and pieces");
  jsonl->excludes(text);
  sub.add_flag("--no-special-tokens", options->no_special_tokens,
               "Do not add the post-processor's special tokens (e.g. Llama-3's BOS)");
  return [options, text]() -> int {
    const Tokenizer tokenizer = Tokenizer::from_model_dir(options->model_dir);
    const bool add_special_tokens = !options->no_special_tokens;
    if (options->jsonl) return tokenize_jsonl(tokenizer, add_special_tokens);
    if (text->count() == 0) fail_at("lil tokenize", "give --text TEXT or --jsonl");
    return tokenize_text(tokenizer, options->text, add_special_tokens);
  };
});

}  // namespace
}  // namespace lil::cli

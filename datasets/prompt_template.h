#pragma once
// Prompt templates are data: configs/templates/<name>.json says how one model family wants a question
// (chat markers, system prompt, instruction, an opened think block). Rendering yields the prompt TEXT with
// the special-token strings in it; encode it with add_special_tokens=false. Every special token a template
// uses is looked up in the model's own tokenizer, so a template applied to the wrong model fails loudly
// instead of feeding the model "<|im_start|>" spelled out as ten ordinary tokens.
//
// Template JSON (keys other than these are rejected, to catch typos):
//   "name": "qwen-chatml",                      required
//   "description": "...",                       optional
//   "format": "{im_start}user\n{question}...",  required; placeholders below, "{{" and "}}" for braces
//   "special_tokens": {"im_start": "<|im_start|>", ...}  literal tokens, each usable as {im_start}
//   "system": "You are a helpful assistant.",   required when the format uses {system}
//   "instruction": "Please reason step by step, and put your final answer within \\boxed{}."  (default)
//   "think_end": "</think>",                    marks the end of the reasoning in outputs; "" = no think block
//   "final_answer_prompt": "\n\n**Final Answer**\n\\boxed{"  appended to force an answer (default)
//   "final_answer_prompt_in_think": "..."       the same while still thinking; default "\n" + think_end + it
// Placeholders: {question} (exactly once), {instruction}, {system}, {bos} / {eos} (the tokenizer's own BOS
// / EOS token; error when it has none), {bos?} / {eos?} (empty when it has none), and each special_tokens key.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lil {

class Tokenizer;

extern const char* const kDefaultInstruction;
extern const char* const kDefaultFinalAnswerPrompt;

struct PromptTemplate {
  struct Segment {
    bool is_placeholder = false;
    std::string text;  // literal text, or the placeholder name without braces and '?'
    bool optional = false;
  };

  std::string name;
  std::string source;  // file it was read from, for messages
  std::string description;
  std::string format;
  std::vector<Segment> segments;  // `format`, parsed
  std::map<std::string, std::string> special_tokens;
  std::string system;
  std::string instruction;
  std::string think_end;
  std::string final_answer_prompt;
  std::string final_answer_prompt_in_think;

  // Text to append to an output to force the final answer; `inside_think` when the think block is open.
  const std::string& forced_answer_text(bool inside_think) const {
    return inside_think ? final_answer_prompt_in_think : final_answer_prompt;
  }
};

// Parses template JSON text; LilError "<where>: key '...': ..." on any bad content.
PromptTemplate parse_prompt_template(const std::string& json_text, const std::string& where);
// A path (contains '/' or ends in ".json") or a name from configs/templates/ of the lil checkout.
PromptTemplate load_prompt_template(const std::string& name_or_path);
// Names of the templates in configs/templates/, sorted; empty when the checkout cannot be found.
std::vector<std::string> list_prompt_templates();

// What rendering needs from a tokenizer. Tests can supply their own; real code uses tokens_of(Tokenizer).
struct SpecialTokenVocabulary {
  std::string description;  // e.g. the tokenizer file, for messages
  std::function<std::optional<std::string>(const std::string& role)> role_token;  // "bos"/"eos" -> text
  std::function<bool(const std::string& token)> is_single_token;  // a special/added token of its own
};
// Roles from tokenizer_config.json (bos_token/eos_token). A literal counts as a token when it has an id
// and the tokenizer encodes the literal to exactly that id (so it is matched as an added token in text).
// The result refers to `tokenizer`: it must not outlive it.
SpecialTokenVocabulary tokens_of(const Tokenizer& tokenizer);

// Checks every declared special token and every role the format uses. LilError naming the template, the
// token and the tokenizer otherwise.
void validate_prompt_template(const PromptTemplate& prompt_template, const SpecialTokenVocabulary& vocabulary);

// The prompt text for `question`; `instruction` replaces the template's own when given. Validates first.
std::string render_prompt(const PromptTemplate& prompt_template, const std::string& question,
                          const SpecialTokenVocabulary& vocabulary,
                          const std::optional<std::string>& instruction = std::nullopt);
std::string render_prompt(const PromptTemplate& prompt_template, const std::string& question,
                          const Tokenizer& tokenizer, const std::optional<std::string>& instruction = std::nullopt);

}  // namespace lil

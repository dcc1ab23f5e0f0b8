#include "fuzz/entry_points.h"

#include <cstdint>
#include <cstring>
#include <string>

#include <unistd.h>

#include "core/error.h"
#include "core/json_util.h"
#include "core/model_config.h"
#include "core/safetensors.h"
#include "datasets/answer_normalization.h"
#include "datasets/dataset.h"
#include "datasets/grader.h"
#include "fuzz/scratch_file.h"
#include "runtime/sweep_config.h"
#include "tokenizer/tokenizer.h"

namespace lil::fuzz {
namespace {

const std::string kSourceDir = LIL_SOURCE_DIR;

// An input starting with '{' is taken as the JSON header and framed as a real file (length prefix +
// header + 256 data bytes), so mutations explore the header's fields; any other input is the whole file,
// length prefix included (absurd or truncated lengths).
void safetensors_header(std::string_view input) {
  std::string file;
  if (!input.empty() && input[0] == '{') {
    const uint64_t n = input.size();
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    file.append(input);
    file.append(256, '\x01');
  } else {
    file.assign(input);
  }
  const SafetensorsFile st(write_scratch("safetensors_header", "model.safetensors", file));
  for (const auto& [name, view] : st.tensors()) {
    // Touch the first and last byte: a view that points outside the mapping is caught by ASan.
    if (view.nbytes > 0) {
      volatile uint8_t first = static_cast<const uint8_t*>(view.data)[0];
      volatile uint8_t last = static_cast<const uint8_t*>(view.data)[view.nbytes - 1];
      (void)first;
      (void)last;
    }
  }
}

// The index may name the two real shards of tests/fixtures/models/tiny-llama, linked in once.
void safetensors_index(std::string_view input) {
  static const std::string dir = [] {
    const std::string scratch = scratch_dir("safetensors_index");
    for (const char* shard : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
      const std::string from = kSourceDir + "/tests/fixtures/models/tiny-llama/" + shard;
      const std::string to = scratch + "/" + shard;
      if (::symlink(from.c_str(), to.c_str()) != 0) std::abort();
    }
    return scratch;
  }();
  write_scratch("safetensors_index", "model.safetensors.index.json", input);
  const Checkpoint checkpoint = Checkpoint::open_dir(dir);
  for (const auto& name : checkpoint.names()) (void)checkpoint.get(name).nbytes;
  (void)checkpoint.total_bytes();
}

// config.json: parse, validate, and derive the expected tensor table from whatever validated.
void model_config(std::string_view input) {
  const ModelConfig config = parse_model_config(std::string(input), "config.json");
  for (int64_t layer = 0; layer < config.num_hidden_layers && layer < 4; ++layer) (void)config.layer_is_moe(layer);
  (void)expected_tensors(config);
}

// A tokenizer.json that loads must also encode and decode a fixed text.
void tokenizer_json(std::string_view input) {
  const Tokenizer tokenizer = Tokenizer::from_files(write_scratch("tokenizer_json", "tokenizer.json", input), "");
  const std::vector<int32_t> ids = tokenizer.encode("Hello wörld 123 <|im_end|>\n\tabc  ", true);
  (void)tokenizer.decode(ids, false);
  (void)tokenizer.decode(ids, true);
}

// The real Qwen3 tokenizer (the one tiny-qwen2 uses): the input is encoded as text, and read as
// little-endian int32 ids for decode and the streaming decoder. Each step runs whatever the others did.
void tokenizer_codec(std::string_view input) {
  static const Tokenizer tokenizer = Tokenizer::from_model_dir(kSourceDir + "/tests/fixtures/models/tiny-qwen2");
  const std::string text(input);
  for (bool special : {false, true}) {
    try {
      (void)tokenizer.decode(tokenizer.encode(text, special));
    } catch (const LilError&) {  // invalid UTF-8
    }
  }
  std::vector<int32_t> ids(input.size() / 4);
  if (!ids.empty()) std::memcpy(ids.data(), input.data(), ids.size() * 4);
  for (bool skip : {false, true}) {
    (void)tokenizer.decode(ids, skip);
    StreamDecoder stream(tokenizer, skip);
    for (int32_t id : ids) (void)stream.push(id);
    (void)stream.flush();
  }
}

// A data-set JSONL file, loaded as every data-set kind (each has its own fields and answer rules).
void dataset_jsonl(std::string_view input) {
  const std::string path = write_scratch("dataset_jsonl", "data.jsonl", input);
  for (const DatasetKind& kind : list_dataset_kinds()) {
    DatasetSpec spec;
    spec.name = kind.name;
    spec.path = path;
    try {
      (void)load_dataset(spec);
    } catch (const LilError&) {
    }
  }
}

// JSON -> validated config -> grid of cells. The vocabulary is fixed here (the registries live in torch
// code); relative model paths resolve against the repository's configs/ directory.
void sweep_config(std::string_view input) {
  static const SweepVocabulary vocabulary = [] {
    SweepVocabulary v;
    v.policies = {"full", "sink", "h2o", "quest", "snapkv", "tova"};
    v.controllers = {"none", "guardian", "entropy", "ngram"};
    for (const auto& kind : list_dataset_kinds()) v.dataset_kinds.push_back(kind.name);
    v.templates = {"plain", "qwen-chatml", "r1-distill"};
    return v;
  }();
  const nlohmann::json doc = parse_json_text(std::string(input), "sweep.json");
  const SweepConfig config = parse_sweep_config(doc, "sweep.json", kSourceDir + "/configs", vocabulary);
  (void)expand_grid(config);
}

// "<model output>\0<gold answer>" (no NUL: the gold is empty), graded under every data-set kind,
// lenient and strict.
void answer_grading(std::string_view input) {
  const size_t split = input.find('\0');
  const std::string output(input.substr(0, split));
  const std::string gold = split == std::string_view::npos ? "" : std::string(input.substr(split + 1));
  (void)normalize_answer(output);
  (void)extract_answer_detailed(output);
  (void)answers_equivalent(output, gold);
  for (const DatasetKind& kind : list_dataset_kinds()) {
    for (bool strict : {false, true}) (void)grade(kind, output, gold, strict);
  }
}

}  // namespace

const std::vector<EntryPoint>& entry_points() {
  static const std::vector<EntryPoint> all = {
      {"safetensors_header", "a safetensors file, or its JSON header", &safetensors_header},
      {"safetensors_index", "model.safetensors.index.json over two real shards", &safetensors_index},
      {"model_config", "config.json", &model_config},
      {"tokenizer_json", "tokenizer.json, then encode/decode of a fixed text", &tokenizer_json},
      {"tokenizer_codec", "bytes encoded and decoded with the real Qwen3 tokenizer", &tokenizer_codec},
      {"dataset_jsonl", "a data-set JSONL file, as every data-set kind", &dataset_jsonl},
      {"sweep_config", "a sweep config, validated and expanded to its grid", &sweep_config},
      {"answer_grading", "model output and gold answer, extracted, normalised and graded", &answer_grading},
  };
  return all;
}

const EntryPoint& entry_point(const std::string& name) {
  std::string known;
  for (const EntryPoint& entry : entry_points()) {
    if (entry.name == name) return entry;
    known += (known.empty() ? "" : ", ") + entry.name;
  }
  throw LilError("unknown fuzz entry point '" + name + "' (known: " + known + ")");
}

}  // namespace lil::fuzz

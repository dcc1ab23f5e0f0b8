// lil train: the batched training forward agrees with the inference prefill; a few CPU steps lower the loss; the
// checkpoint it writes loads through the normal loader and reproduces the trained model's logits; a run
// stopped and resumed ends where an uninterrupted one does; the schedule and the config checks.
#include "catch_torch.h"

#include <unistd.h>

#include <c10/core/GradMode.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/model_config.h"
#include "policies/policy.h"
#include "runtime/kv_cache.h"
#include "runtime/loaded_model.h"
#include "runtime/model.h"
#include "runtime/train.h"

namespace fs = std::filesystem;
using namespace lil;

namespace {

fs::path scratch_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("lil-train-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

// A two-step-per-second-on-one-core config: a 2-layer model on 3-4 variable chains.
std::string tiny_config_text(const fs::path& out) {
  return R"({"name": "test", "out_dir": ")" + out.string() + R"(", "seed": 3, "device": "cpu",
    "template": ")" + std::string(LIL_SOURCE_DIR) + R"(/configs/templates/varchain.json",
    "task": {"kind": "varchain", "seed": 9, "knobs": {"min_vars": 3, "max_vars": 4}},
    "model": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "max_position_embeddings": 256},
    "optimizer": {"steps": 40, "batch_size": 8, "lr": 0.01, "warmup_steps": 5, "min_lr_ratio": 0.1},
    "eval": {"every": 0, "problems": 4, "max_new_tokens": 48},
    "log_every": 10, "checkpoint_every": 0})";
}

TrainConfig tiny_config(const fs::path& out) { return parse_train_config(tiny_config_text(out), "test config", "."); }

at::Tensor probe_logits(const TrainSummary& s) {
  const auto rows = static_cast<int64_t>(s.probe_ids.size());
  return at::tensor(s.probe_logits, at::kFloat).view({rows, -1});
}

}  // namespace

TEST_CASE("train: the batched training forward equals prefill on every position, with padding", "[train]") {
  ModelConfig cfg = parse_model_config(
      R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 50, "hidden_size": 32, "intermediate_size": 48,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5})",
      "test");
  auto model = CausalLM::random(cfg, at::kFloat, c10::Device(c10::kCPU), 5);
  at::manual_seed(1);
  at::Tensor ids = at::randint(0, 50, {2, 13}, at::kLong);
  const int64_t lengths[2] = {13, 7};  // row 1: 7 real tokens, then padding the causal mask never lets them see
  at::Tensor batched = model->forward(ids);
  REQUIRE(batched.sizes() == at::IntArrayRef({2, 13, 50}));
  for (int64_t row = 0; row < 2; ++row) {
    KVCache cache(make_policy("full", 0, {}, {cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.num_attention_heads,
                                              cfg.head_dim}),
                  CacheShape{1, cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.num_attention_heads, cfg.head_dim, 13},
                  at::kFloat, c10::Device(c10::kCPU));
    at::Tensor single = model->prefill(ids[row].slice(0, 0, lengths[row]), 0, cache, /*all_logits=*/true);
    const double diff = (batched[row].slice(0, 0, lengths[row]) - single).abs().max().item<double>();
    INFO("row " << row);
    CHECK(diff < 1e-5);
  }
  // Parameters alias the model: changing one changes the output.
  auto params = model->named_parameters();
  REQUIRE(params.front().first == "model.embed_tokens.weight");
  CHECK(params.back().first == "lm_head.weight");
  CHECK(params.size() == 2 + 2 * 9 + 1);
  c10::NoGradGuard no_grad;
  params.back().second.mul_(2.0);
  CHECK((model->forward(ids) - batched).abs().max().item<double>() > 1e-3);
}

TEST_CASE("train: loss falls, the checkpoint reloads with the normal loader and reproduces the logits", "[train]") {
  const fs::path out = scratch_dir("run");
  const TrainConfig config = tiny_config(out);
  TrainOverrides quiet;
  quiet.quiet = true;
  const TrainSummary s = run_training(config, quiet);
  CHECK(s.steps == 40);
  INFO("loss " << s.first_loss << " -> " << s.last_loss);
  CHECK(s.last_loss < 0.7 * s.first_loss);
  CHECK(s.last_accuracy >= 0);
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                           "generation_config.json", "train_log.jsonl", "train_config.json"}) {
    CHECK(fs::exists(out / file));
  }

  LoadedModel loaded = load_model(out.string(), at::kFloat, c10::Device(c10::kCPU));
  CHECK(loaded.eos_ids == std::vector<int64_t>{257});
  CHECK(loaded.model->config().num_key_value_heads == 2);
  const auto& cfg = loaded.model->config();
  const auto n = static_cast<int64_t>(s.probe_ids.size());
  KVCache cache(make_policy("full", 0, {}, {cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.num_attention_heads,
                                            cfg.head_dim}),
                CacheShape{1, cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.num_attention_heads, cfg.head_dim, n},
                at::kFloat, c10::Device(c10::kCPU));
  std::vector<int64_t> ids(s.probe_ids.begin(), s.probe_ids.end());
  at::Tensor reloaded = loaded.model->prefill(at::tensor(ids, at::kLong), 0, cache, /*all_logits=*/true);
  CHECK((reloaded - probe_logits(s)).abs().max().item<double>() < 1e-5);

  // A second run into the same directory without --resume is refused.
  CHECK_THROWS_WITH(run_training(config, quiet), Catch::Contains("--resume"));
  fs::remove_all(out);
}

TEST_CASE("train: a run stopped at a checkpoint and resumed ends where an uninterrupted one does", "[train]") {
  const fs::path whole_dir = scratch_dir("whole"), sliced_dir = scratch_dir("sliced");
  TrainOverrides o;
  o.quiet = true;
  o.steps = 16;
  const TrainSummary whole = run_training(tiny_config(whole_dir), o);
  o.stop_at = 7;
  const TrainSummary first = run_training(tiny_config(sliced_dir), o);
  CHECK(first.steps == 7);
  o.stop_at = -1;
  o.resume = true;
  const TrainSummary rest = run_training(tiny_config(sliced_dir), o);
  CHECK(rest.steps == 16);
  CHECK((probe_logits(rest) - probe_logits(whole)).abs().max().item<double>() < 1e-5);
  CHECK((probe_logits(first) - probe_logits(whole)).abs().max().item<double>() > 1e-3);
  fs::remove_all(whole_dir);
  fs::remove_all(sliced_dir);
}

TEST_CASE("train: warm-up then cosine learning rate", "[train]") {
  TrainConfig c = tiny_config("/tmp/unused");
  c.lr = 1.0;
  c.warmup_steps = 10;
  c.steps = 110;
  c.min_lr_ratio = 0.1;
  CHECK(learning_rate_at(c, 0) == Approx(0.1));
  CHECK(learning_rate_at(c, 9) == Approx(1.0));
  CHECK(learning_rate_at(c, 10) == Approx(1.0));
  CHECK(learning_rate_at(c, 60) == Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 50.0 / 99.0))));
  CHECK(learning_rate_at(c, 61) < learning_rate_at(c, 60));
  CHECK(learning_rate_at(c, 109) == Approx(0.1));
}

TEST_CASE("train: config errors name the file and the key", "[train]") {
  auto parse = [](const std::string& text) { return parse_train_config(text, "cfg.json", "/base"); };
  CHECK_THROWS_WITH(parse(R"({"out_dir": "x", "optimiser": {}})"), Catch::Contains("unknown key 'optimiser'"));
  CHECK_THROWS_WITH(parse(R"({"out_dir": "x", "model": {"hidden_size": "big"}})"),
                    Catch::Contains("cfg.json: model: key 'hidden_size': expected an integer"));
  CHECK_THROWS_WITH(parse(R"({"out_dir": "x", "model": {"hidden_size": 30, "num_attention_heads": 4}})"),
                    Catch::Contains("must divide hidden_size"));
  CHECK_THROWS_WITH(parse(R"({"out_dir": "x", "task": {"knobs": {"max_vars": 30}}})"), Catch::Contains("max_vars"));
  CHECK_THROWS_WITH(parse(R"({"out_dir": "x", "device": "tpu"})"), Catch::Contains("key 'device'"));
  CHECK_THROWS_WITH(parse(R"({})"), Catch::Contains("key 'out_dir'"));
  CHECK(parse(R"({"out_dir": "rel/dir"})").out_dir == "/base/rel/dir");
}

#include "runtime/train.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <ATen/autocast_mode.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>
#include <torch/version.h>

#include "core/error.h"
#include "core/json_util.h"
#include "core/safetensors.h"
#include "datasets/grader.h"
#include "datasets/prompt_template.h"
#include "runtime/generate.h"
#include "runtime/loaded_model.h"
#include "runtime/model.h"
#include "tokenizer/byte_level_vocab.h"
#include "tokenizer/tokenizer.h"

namespace lil {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

nlohmann::json hf_config_json(const TrainConfig& c, const ByteLevelVocab& vocab) {
  const TrainModelShape& m = c.model;
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", vocab.vocab_size()},
          {"hidden_size", m.hidden_size},
          {"intermediate_size", m.intermediate_size},
          {"num_hidden_layers", m.num_hidden_layers},
          {"num_attention_heads", m.num_attention_heads},
          {"num_key_value_heads", m.num_key_value_heads},
          {"head_dim", m.hidden_size / m.num_attention_heads},
          {"hidden_act", "silu"},
          {"rms_norm_eps", m.rms_norm_eps},
          {"rope_theta", m.rope_theta},
          {"rope_scaling", nullptr},
          {"max_position_embeddings", m.max_position_embeddings},
          {"tie_word_embeddings", m.tie_word_embeddings},
          {"attention_bias", false},
          {"attention_dropout", 0.0},
          {"mlp_bias", false},
          {"initializer_range", 0.02},
          {"bos_token_id", vocab.bos_id()},
          {"eos_token_id", vocab.eos_id()},
          {"pad_token_id", vocab.eos_id()},
          {"torch_dtype", "float32"},
          {"use_cache", true}};
}

// One training example: token ids and, per position, whether the NEXT token is a solution token (trained on).
struct Example {
  std::vector<int32_t> ids;
  size_t prompt_tokens = 0;
};

class ExampleMaker {
 public:
  ExampleMaker(const TrainConfig& c, const Tokenizer& tokenizer, const ByteLevelVocab& vocab)
      : tokenizer_(tokenizer), template_(load_prompt_template(c.prompt_template)), eos_(vocab.eos_id()) {}

  std::string prompt(const SyntheticProblem& p) const { return render_prompt(template_, p.question, tokenizer_); }
  Example make(const SyntheticProblem& p) const {
    Example e;
    e.ids = tokenizer_.encode(prompt(p), /*add_special_tokens=*/false);
    e.prompt_tokens = e.ids.size();
    // One token per byte (byte_level_vocab.h), so encoding the parts apart equals encoding the whole.
    const std::vector<int32_t> answer = tokenizer_.encode(p.solution, false);
    e.ids.insert(e.ids.end(), answer.begin(), answer.end());
    e.ids.push_back(eos_);
    return e;
  }

 private:
  const Tokenizer& tokenizer_;
  PromptTemplate template_;
  int32_t eos_;
};

// inputs [B, T-1], targets [B, T-1] with -100 on prompt and padding positions.
std::pair<at::Tensor, at::Tensor> make_batch(const std::vector<Example>& examples, int32_t pad_id) {
  size_t longest = 0;
  for (const auto& e : examples) longest = std::max(longest, e.ids.size());
  const auto batch = static_cast<int64_t>(examples.size()), width = static_cast<int64_t>(longest) - 1;
  at::Tensor inputs = at::full({batch, width}, pad_id, at::kLong);
  at::Tensor targets = at::full({batch, width}, -100, at::kLong);
  auto in = inputs.accessor<int64_t, 2>();
  auto out = targets.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    const Example& e = examples[static_cast<size_t>(b)];
    for (size_t t = 0; t + 1 < e.ids.size(); ++t) {
      in[b][static_cast<int64_t>(t)] = e.ids[t];
      if (t + 1 >= e.prompt_tokens) out[b][static_cast<int64_t>(t)] = e.ids[t + 1];
    }
  }
  return {inputs, targets};
}

void write_tokenizer_files(const std::string& dir, const TrainConfig& c, const ByteLevelVocab& vocab) {
  fs::create_directories(dir);
  write_text_file_atomic(dir + "/tokenizer.json", byte_level_tokenizer_json(vocab).dump(2) + "\n");
  write_text_file_atomic(dir + "/tokenizer_config.json",
                         byte_level_tokenizer_config_json(vocab, static_cast<int>(c.model.max_position_embeddings)).dump(2) + "\n");
}

void write_checkpoint(const std::string& dir, const TrainConfig& c, CausalLM& model, const ByteLevelVocab& vocab,
                      int64_t step) {
  fs::create_directories(dir);
  const auto params = model.named_parameters();
  std::vector<at::Tensor> host;  // keeps the float32 CPU copies alive while writing
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, tensor] : params) {
    host.push_back(tensor.detach().to(at::kCPU, at::kFloat).contiguous());
    const at::Tensor& t = host.back();
    tensors.push_back({name, DType::F32, t.sizes().vec(), t.data_ptr(), t.nbytes()});
  }
  write_safetensors(dir + "/model.safetensors", tensors,
                    {{"format", "pt"}, {"lil_train_step", std::to_string(step)}, {"lil_train_config", c.name}});
  write_text_file_atomic(dir + "/config.json", hf_config_json(c, vocab).dump(2) + "\n");
  write_text_file_atomic(dir + "/generation_config.json",
                         nlohmann::json{{"bos_token_id", vocab.bos_id()},
                                        {"eos_token_id", vocab.eos_id()},
                                        {"pad_token_id", vocab.eos_id()},
                                        {"do_sample", false}}
                                 .dump(2) + "\n");
  write_tokenizer_files(dir, c, vocab);
  write_text_file_atomic(dir + "/train_config.json", c.text);
}

struct EvalResult {
  double accuracy = 0;
  double mean_output_tokens = 0;
  int64_t correct = 0, problems = 0;
};

EvalResult evaluate(CausalLM& model, const TrainConfig& c, const ExampleMaker& maker, const Tokenizer& tokenizer,
                    const ByteLevelVocab& vocab) {
  c10::NoGradGuard no_grad;
  const auto problems = make_varchain_problems(c.task, SynthSplit::Test, c.task_seed, 0,
                                               static_cast<uint64_t>(c.eval_problems));
  std::vector<GenerationRequest> requests;
  for (const auto& p : problems) {
    GenerationRequest r;
    r.prompt_ids = tokenizer.encode(maker.prompt(p), false);
    r.max_new_tokens = c.eval_max_new_tokens;
    requests.push_back(std::move(r));
  }
  GenerationOptions options;
  options.eos_ids = {vocab.eos_id()};
  EvalResult result;
  result.problems = static_cast<int64_t>(problems.size());
  if (problems.empty()) return result;
  const auto outputs = generate(model, requests, options);
  double tokens = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    tokens += static_cast<double>(outputs[i].token_ids.size());
    const std::string text = tokenizer.decode(outputs[i].token_ids, /*skip_special_tokens=*/true);
    if (grade("jsonl", text, problems[i].answer, /*strict=*/true).correct) ++result.correct;
  }
  result.accuracy = static_cast<double>(result.correct) / static_cast<double>(problems.size());
  result.mean_output_tokens = tokens / static_cast<double>(problems.size());
  return result;
}

// Global L2 norm of all gradients; scales them down to `max_norm` when above it (0: measure only).
double clip_gradients(const std::vector<at::Tensor>& params, double max_norm) {
  std::vector<at::Tensor> norms;
  for (const auto& p : params) {
    if (p.grad().defined()) norms.push_back(p.grad().detach().norm(2).to(at::kFloat));
  }
  if (norms.empty()) return 0;
  const double total = at::stack(norms).norm(2).item<double>();
  if (max_norm > 0 && total > max_norm) {
    for (const auto& p : params) {
      if (p.grad().defined()) p.grad().detach().mul_(max_norm / (total + 1e-6));
    }
  }
  return total;
}

// bf16 autocast for CUDA matmuls (master weights, norms, softmax and the loss stay float32).
void set_cuda_autocast(bool on) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, on);
  if (on) at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
  at::autocast::set_enabled(on);
  if (on) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
  if (!on) at::autocast::clear_cache();
}

c10::Device pick_device(const std::string& name) {
  if (name == "auto") return at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  return parse_device(name);
}

}  // namespace

TrainSummary run_training(const TrainConfig& config_in, const TrainOverrides& overrides) {
  TrainConfig c = config_in;
  if (!overrides.out_dir.empty()) c.out_dir = overrides.out_dir;
  if (overrides.steps >= 0) c.steps = overrides.steps;
  if (!overrides.device.empty()) c.device = overrides.device;
  const c10::Device device = pick_device(c.device);
  const ByteLevelVocab vocab;
  // The trained model's tokenizer files are written first and read back through the normal loader.
  write_tokenizer_files(c.out_dir, c, vocab);
  const Tokenizer tokenizer = Tokenizer::from_model_dir(c.out_dir);
  const ExampleMaker maker(c, tokenizer, vocab);
  const std::string state_dir = c.out_dir + "/trainer_state";
  const std::string log_path = c.out_dir + "/train_log.jsonl";

  // The model: fresh (seeded) or the checkpoint being resumed. Master weights are float32 everywhere.
  std::unique_ptr<CausalLM> model;
  int64_t start_step = 0;
  const bool resuming = overrides.resume && path_exists(state_dir + "/state.json", c.out_dir);
  if (resuming) {
    const json state = read_json_file(state_dir + "/state.json");
    start_step = require_int(state, "step", state_dir + "/state.json");
    model = CausalLM::load(c.out_dir, at::kFloat, device, /*fuse=*/false);
  } else {
    if (path_exists(log_path, c.out_dir) && !overrides.resume) {
      fail_at(c.out_dir, "already holds a training run (train_log.jsonl); pass --resume to continue it or choose "
                         "another --out");
    }
    model = CausalLM::random(parse_model_config(hf_config_json(c, vocab).dump(), "lil train model shape"), at::kFloat,
                             device, c.seed, /*fuse=*/false);
  }
  model->set_fused_decode(false);
  fs::create_directories(state_dir);

  std::vector<at::Tensor> decayed, not_decayed;
  int64_t parameter_count = 0;
  for (auto& [name, tensor] : model->named_parameters()) {
    tensor.requires_grad_(true);
    parameter_count += tensor.numel();
    (tensor.dim() >= 2 && name.find("embed_tokens") == std::string::npos ? decayed : not_decayed).push_back(tensor);
  }
  std::vector<at::Tensor> all_params = decayed;
  all_params.insert(all_params.end(), not_decayed.begin(), not_decayed.end());
  auto options = torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).weight_decay(c.weight_decay).eps(1e-8);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, std::make_unique<torch::optim::AdamWOptions>(options));
  groups.emplace_back(not_decayed,
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(options).weight_decay(0.0)));
  torch::optim::AdamW optimizer(std::move(groups), options);
  if (resuming) torch::load(optimizer, state_dir + "/optimizer.pt");

  std::ofstream log(log_path, std::ios::app);
  if (!log) fail_at(log_path, "cannot open the training log for writing");
  auto log_line = [&](const json& entry) {
    log << entry.dump() << "\n";
    log.flush();
    if (!overrides.quiet) std::cout << entry.dump() << "\n" << std::flush;
  };
  if (!resuming) {
    log_line({{"event", "start"}, {"config", c.name}, {"parameters", parameter_count}, {"device", device.str()},
              {"steps", c.steps}, {"batch_size", c.batch_size}, {"task", varchain_options_json(c.task)}});
  } else {
    log_line({{"event", "resume"}, {"step", start_step}});
  }

  TrainSummary summary;
  summary.parameters = parameter_count;
  summary.out_dir = c.out_dir;
  const auto started = Clock::now();
  double window_loss = 0, window_tokens = 0;
  int64_t window_steps = 0;
  bool first_window = true;
  const bool autocast = device.is_cuda();
  auto save = [&](int64_t step) {
    write_checkpoint(c.out_dir, c, *model, vocab, step);
    torch::save(optimizer, state_dir + "/optimizer.pt");
    write_text_file_atomic(state_dir + "/state.json", json{{"step", step}}.dump() + "\n");
  };
  auto run_eval = [&](int64_t step) {
    const EvalResult r = evaluate(*model, c, maker, tokenizer, vocab);
    summary.last_accuracy = r.accuracy;
    log_line({{"event", "eval"}, {"step", step}, {"accuracy", r.accuracy}, {"correct", r.correct},
              {"problems", r.problems}, {"mean_output_tokens", r.mean_output_tokens},
              {"elapsed_s", std::chrono::duration<double>(Clock::now() - started).count()}});
  };

  const int64_t last_step = overrides.stop_at >= 0 ? std::min(c.steps, overrides.stop_at) : c.steps;
  for (int64_t step = start_step; step < last_step; ++step) {
    std::vector<Example> examples;
    for (const auto& p : make_varchain_problems(c.task, SynthSplit::Train, c.task_seed,
                                                static_cast<uint64_t>(step * c.batch_size),
                                                static_cast<uint64_t>(c.batch_size))) {
      examples.push_back(maker.make(p));
    }
    auto [inputs, targets] = make_batch(examples, vocab.eos_id());
    inputs = inputs.to(device);
    targets = targets.to(device);
    const double lr = learning_rate_at(c, step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);

    set_cuda_autocast(autocast);
    at::Tensor logits = model->forward(inputs).to(at::kFloat);  // [B, T, V] (bf16 under autocast)
    if (autocast) set_cuda_autocast(false);
    at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
                                             /*weight=*/{}, at::Reduction::Mean, /*ignore_index=*/-100);
    optimizer.zero_grad();
    loss.backward();
    const double grad_norm = clip_gradients(all_params, c.grad_clip);
    optimizer.step();

    const double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) fail_at(c.out_dir, "training diverged at step " + std::to_string(step) + " (loss " +
                                                           std::to_string(loss_value) + "); lower optimizer.lr");
    window_loss += loss_value;
    window_tokens += static_cast<double>(targets.ne(-100).sum().item<int64_t>());
    ++window_steps;
    const int64_t done = step + 1;
    if (done % c.log_every == 0 || done == c.steps) {
      const double mean = window_loss / static_cast<double>(window_steps);
      if (first_window) summary.first_loss = mean;
      first_window = false;
      summary.last_loss = mean;
      log_line({{"event", "train"}, {"step", done}, {"loss", mean}, {"lr", lr}, {"grad_norm", grad_norm},
                {"target_tokens", window_tokens},
                {"elapsed_s", std::chrono::duration<double>(Clock::now() - started).count()}});
      window_loss = window_tokens = 0;
      window_steps = 0;
    }
    if (c.eval_every > 0 && done % c.eval_every == 0 && done != c.steps) run_eval(done);
    if (c.checkpoint_every > 0 && done % c.checkpoint_every == 0 && done != c.steps) save(done);
  }
  const bool finished = last_step == c.steps;
  if (finished && c.eval_problems > 0) run_eval(c.steps);
  save(last_step);
  summary.steps = last_step;
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  {
    c10::NoGradGuard no_grad;
    const Example probe = maker.make(make_varchain_problem(c.task, SynthSplit::Test, c.task_seed, 0));
    summary.probe_ids = probe.ids;
    at::Tensor ids = at::tensor(std::vector<int64_t>(probe.ids.begin(), probe.ids.end()), at::kLong).unsqueeze(0);
    at::Tensor logits = model->forward(ids.to(device))[0].to(at::kCPU).contiguous();
    summary.probe_logits.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
  }
  log_line({{"event", finished ? "done" : "paused"}, {"step", last_step}, {"elapsed_s", summary.seconds},
            {"out_dir", c.out_dir}});
  return summary;
}

}  // namespace lil

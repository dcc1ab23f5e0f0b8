#pragma once
// `lil train CONFIG.json`: trains a small Llama-architecture model from scratch on the synthetic varchain task
// (datasets/synthetic_varchain.h) with LibTorch autograd, and writes a Hugging Face checkpoint directory that
// lil (and transformers) load like any other: config.json, model.safetensors (float32), tokenizer.json /
// tokenizer_config.json (byte-level, src/tokenizer/byte_level_vocab.h), generation_config.json.
//
// The loop: each step draws `batch_size` fresh problems from the train stream (problem index = step x
// batch_size + row, so a resumed run sees exactly the data an uninterrupted one would), renders the prompt
// with the named template, appends the solution and EOS, and takes the cross-entropy of the solution tokens
// only. AdamW (decoupled weight decay on matrices only), linear warm-up then cosine decay to
// min_lr_ratio x lr, global gradient-norm clipping, bf16 autocast on CUDA / float32 on CPU. Every
// eval_every steps: greedy decoding of eval_problems held-out (test split) problems through the normal engine
// and grader. Every checkpoint_every steps and at the end: the checkpoint directory plus
// trainer_state/ (optimizer moments, step) for --resume. Log: one JSON object per line in <out>/train_log.jsonl.
// This header and train_config.cpp are torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/synthetic_varchain.h"

namespace lil {

struct TrainModelShape {
  int64_t hidden_size = 128, intermediate_size = 384, num_hidden_layers = 4;
  int64_t num_attention_heads = 4, num_key_value_heads = 0;  // 0: as many as attention heads (no GQA)
  double rope_theta = 10000.0, rms_norm_eps = 1e-5;
  int64_t max_position_embeddings = 1024;
  bool tie_word_embeddings = false;
};

struct TrainConfig {
  std::string source_path;     // the config file
  std::string text;            // its JSON, copied into the checkpoint directory
  std::string name;
  std::string out_dir;         // resolved against the config file's folder
  uint64_t seed = 0;           // weight init
  std::string device = "auto"; // cpu | cuda | auto (cuda when available)
  // Task
  VarchainOptions task;
  uint64_t task_seed = 0;      // seed of the train and test problem streams
  std::string prompt_template = "varchain";
  // Model
  TrainModelShape model;
  // Optimisation
  int64_t steps = 1000, batch_size = 32;
  double lr = 1e-3, min_lr_ratio = 0.1, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, grad_clip = 1.0;
  int64_t warmup_steps = 100;
  // Evaluation, logging, checkpoints
  int64_t eval_every = 250, eval_problems = 64, eval_max_new_tokens = 512;
  int64_t log_every = 10, checkpoint_every = 250;
};

// LilError naming the file and key for unknown keys, wrong types and out-of-range values.
TrainConfig load_train_config(const std::string& path);
TrainConfig parse_train_config(const std::string& json_text, const std::string& where, const std::string& base_dir);

struct TrainOverrides {
  std::string out_dir;       // replaces the config's when non-empty
  int64_t steps = -1;        // replaces the config's when >= 0
  std::string device;        // replaces the config's when non-empty
  bool resume = false;       // continue from <out>/trainer_state
  int64_t stop_at = -1;      // when >= 0: checkpoint and return after this step (a time-boxed slice; --resume goes on)
  bool quiet = false;
};

struct TrainSummary {
  int64_t steps = 0;
  double first_loss = 0, last_loss = 0;  // mean loss of the first and last logged windows
  double last_accuracy = -1;             // last eval (-1 when none ran)
  double seconds = 0;
  int64_t parameters = 0;
  std::string out_dir;
  // The trained model's float32 logits [probe_ids.size(), vocab] (row-major) on the prompt of test problem 0
  // plus its solution, taken in memory after the last step: a reloaded checkpoint must reproduce them.
  std::vector<int32_t> probe_ids;
  std::vector<float> probe_logits;
};

TrainSummary run_training(const TrainConfig& config, const TrainOverrides& overrides);

// Learning rate at `step` (0-based): linear warm-up to lr over warmup_steps, then cosine to min_lr_ratio x lr
// at the last step.
double learning_rate_at(const TrainConfig& config, int64_t step);

}  // namespace lil

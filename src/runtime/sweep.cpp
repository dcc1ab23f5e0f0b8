#include "runtime/sweep.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <sys/resource.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "core/error.h"
#include "core/json_util.h"
#include "core/version.h"
#include "datasets/dataset.h"
#include "datasets/grader.h"
#include "datasets/prompt_template.h"
#include "runtime/generate.h"
#include "runtime/loaded_model.h"
#include "runtime/results_db.h"
#include "runtime/sweep_config.h"
#include "build_info.h"

namespace lil {

namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted.store(true); }

using Clock = std::chrono::steady_clock;

struct Unit {
  const SweepCell* cell;
  const Problem* problem;
  int64_t sample;
  std::string key;
};

std::string unit_key(const SweepCell& cell, const Problem& p, int64_t sample) {
  return cell.key + "|" + p.id + "|" + std::to_string(sample);
}

// Reference key for the length cap: the same model, data set, problem and sample under full attention.
std::string reference_key(const SweepConfig& c, const SweepCell& cell, const Problem& p, int64_t sample) {
  return c.models[cell.model].name + "|" + c.datasets[cell.dataset].name + "|" + p.id + "|" + std::to_string(sample);
}

int64_t peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

uint64_t request_seed(uint64_t base, const Problem& p, int64_t sample) {
  uint64_t h = std::stoull(stable_hash(p.id), nullptr, 16);
  return base ^ (h + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(sample + 1));
}

class Progress {
 public:
  Progress(bool quiet, int64_t total_units) : quiet_(quiet), tty_(isatty(2)), total_(total_units), start_(Clock::now()) {}
  void update(int64_t done_units, int64_t cells_done, int64_t cells_total, int64_t tokens, const std::string& cell) {
    if (quiet_) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(tokens) / elapsed : 0.0;
    const double per_unit = done_units > 0 ? elapsed / static_cast<double>(done_units) : 0.0;
    const double eta = per_unit * static_cast<double>(total_ - done_units);
    char line[512];
    std::snprintf(line, sizeof line, "[lil] cells %lld/%lld  generations %lld/%lld  %.1f tok/s  ETA %.0fs  %s",
                  static_cast<long long>(cells_done), static_cast<long long>(cells_total),
                  static_cast<long long>(done_units), static_cast<long long>(total_), rate, eta, cell.c_str());
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s", line);
    } else if (elapsed - last_log_ >= 10.0 || done_units == total_) {
      std::fprintf(stderr, "%s\n", line);
      last_log_ = elapsed;
    }
  }
  void finish() {
    if (!quiet_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool quiet_, tty_;
  int64_t total_;
  Clock::time_point start_;
  double last_log_ = -1e9;
};

bool is_out_of_memory(const std::string& what) {
  return what.find("out of memory") != std::string::npos || what.find("CUDA out of memory") != std::string::npos ||
         what.find("OutOfMemory") != std::string::npos;
}

// Test hook: LIL_FAULT_INJECT=oom:<substring> makes every batch of a cell whose key contains <substring>
// fail the way c10 reports an exhausted GPU, so the failed-cell path is tested on CPU (tests/cli/test_faults.sh).
void inject_fault(const std::string& cell_key) {
  const char* spec = std::getenv("LIL_FAULT_INJECT");
  if (spec == nullptr) return;
  const std::string text(spec);
  const std::string prefix = "oom:";
  if (text.compare(0, prefix.size(), prefix) == 0 && cell_key.find(text.substr(prefix.size())) != std::string::npos) {
    throw std::runtime_error("CUDA out of memory. Tried to allocate 2.00 GiB (injected by LIL_FAULT_INJECT)");
  }
}

// Expected tokens of one generation, for balancing shards: the prompt (4 characters a token plus the
// template) and the output budget. Outputs dominate for reasoning models, so this tracks GPU time well enough.
int64_t expected_tokens(const SweepConfig& config, const Unit& u) {
  return static_cast<int64_t>(u.problem->question.size()) / 4 + 60 + config.max_new_tokens;
}

// The units of shard `shard` of a deterministic partition. Units are grouped by problem (model, data set,
// problem, sample): every cell of one problem, its full-attention reference included, lands in the same
// shard, so the length cap never needs a result from another shard. Groups go heaviest first (expected
// tokens summed over their cells; ties by key) to the least-loaded shard (ties to the lowest index), which
// keeps the shards within one group's weight of each other and depends on nothing but the config.
std::vector<Unit> shard_units(const SweepConfig& config, const std::vector<Unit>& units, const ShardSpec& shard) {
  std::map<std::string, int64_t> group_weight;
  auto group_of = [&](const Unit& u) {
    return config.models[u.cell->model].name + "|" + config.datasets[u.cell->dataset].name + "|" + u.problem->id +
           "|" + std::to_string(u.sample);
  };
  for (const auto& u : units) group_weight[group_of(u)] += expected_tokens(config, u);
  std::vector<std::pair<std::string, int64_t>> groups(group_weight.begin(), group_weight.end());
  std::stable_sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<int64_t> load(static_cast<size_t>(shard.count), 0);
  std::set<std::string> mine;
  for (const auto& [group, weight] : groups) {
    const auto lightest = static_cast<int64_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[static_cast<size_t>(lightest)] += weight;
    if (lightest == shard.index) mine.insert(group);
  }
  std::vector<Unit> out;
  for (const auto& u : units) {
    if (mine.count(group_of(u))) out.push_back(u);
  }
  return out;
}

}  // namespace

SweepVocabulary sweep_vocabulary() {
  SweepVocabulary v;
  for (const auto& p : policy_registry()) v.policies.push_back(p.name);
  for (const auto& c : controller_registry()) v.controllers.push_back(c.name);
  for (const auto& d : list_dataset_kinds()) v.dataset_kinds.push_back(d.name);
  v.templates = list_prompt_templates();
  return v;
}

int run_sweep(const SweepRunOptions& options) {
  const SweepConfig config = load_sweep_config(options.config_path, sweep_vocabulary());
  if (options.shard && (options.shard->count < 1 || options.shard->index < 0 || options.shard->index >= options.shard->count)) {
    fail_at("--shard", "expected I/N with 0 <= I < N");
  }
  // The partition keeps one load counter a shard; more shards than this is a typo, not a cluster.
  constexpr int64_t kMaxShards = 100000;
  if (options.shard && options.shard->count > kMaxShards) {
    fail_at("--shard", "at most " + std::to_string(kMaxShards) + " shards, got " + std::to_string(options.shard->count));
  }

  // Load every data set before any work, so a missing file is reported up front.
  std::vector<std::vector<Problem>> problems;
  for (const auto& d : config.datasets) {
    DatasetSpec spec;
    spec.name = d.kind;
    spec.path = d.path;
    spec.limit = d.limit;
    spec.offset = d.offset;
    spec.use_sample = d.sample;
    spec.question_field = d.question_field;
    spec.answer_field = d.answer_field;
    spec.id_field = d.id_field;
    problems.push_back(load_dataset(spec));
  }
  const std::vector<SweepCell> cells = expand_grid(config);
  std::vector<Unit> units;
  for (const auto& cell : cells) {
    for (const auto& p : problems[cell.dataset]) {
      for (int64_t s = 0; s < config.sampling.n; ++s) units.push_back(Unit{&cell, &p, s, unit_key(cell, p, s)});
    }
  }
  if (options.shard) units = shard_units(config, units, *options.shard);

  if (options.dry_run) {
    std::cout << "sweep " << (config.name.empty() ? options.config_path : config.name) << " (config hash "
              << config.hash << ")\n";
    std::cout << "cells: " << cells.size() << "\n";
    for (const auto& cell : cells) std::cout << "  " << cell.key << "\n";
    int64_t question_chars = 0;
    for (const auto& u : units) question_chars += static_cast<int64_t>(u.problem->question.size());
    const int64_t prompt_tokens_estimate = question_chars / 4 + static_cast<int64_t>(units.size()) * 60;
    std::cout << "generations: " << units.size() << "\n";
    if (options.shard) {
      int64_t shard_tokens = 0;
      for (const auto& u : units) shard_tokens += expected_tokens(config, u);
      std::cout << "shard " << options.shard->index << "/" << options.shard->count << ": expected tokens "
                << shard_tokens << "\n";
    }
    std::cout << "tokens: prompts ~" << prompt_tokens_estimate << " (4 characters per token + template), outputs <= "
              << static_cast<int64_t>(units.size()) * config.max_new_tokens << " (max_new_tokens per generation)\n";
    return 0;
  }

  if (options.out_path.empty()) fail_at("--out", "a results database path is required");
  const bool existed = ::access(options.out_path.c_str(), F_OK) == 0;
  if (options.resume && !existed) fail_at(options.out_path, "--resume needs an existing results database");
  ResultsDb db(options.out_path, /*writer=*/true);
  for (const auto& run : db.runs()) {
    if (run.config_hash != config.hash) {
      fail_at(options.out_path, "holds results of another config (hash " + run.config_hash + ", this one is " +
                                    config.hash + "); use another --out");
    }
  }
  const std::set<std::string> finished = db.finished_units();
  // Full-attention output lengths already known (for the cap).
  std::map<std::string, int64_t> reference_length;
  for (const auto& row : db.rows()) {
    if (row.policy == "full" && row.controller == "none" && row.error.empty()) {
      reference_length[row.model + "|" + row.dataset + "|" + row.record_id + "|" + std::to_string(row.sample)] =
          row.output_tokens;
    }
  }

  RunInfo info;
  info.config_hash = config.hash;
  info.config_text = config.text;
  info.lil_version = LIL_VERSION;
  info.git_commit = LIL_GIT_COMMIT;
  info.libtorch_version = libtorch_version();
  info.host = host_name();
  info.command = options.command_line;
  std::set<std::string> devices;
  for (const auto& m : config.models) devices.insert(m.device);
  for (const auto& d : devices) info.device_name += (info.device_name.empty() ? "" : ",") + d;
  if (options.shard) info.shard = std::to_string(options.shard->index) + "/" + std::to_string(options.shard->count);
  for (const auto& run : db.runs()) {
    if (run.shard != info.shard) {
      fail_at(options.out_path, "holds shard '" + run.shard + "' of this sweep, not '" + info.shard + "'; use another --out");
    }
  }
  const int64_t run_id = db.begin_run(info);
  {
    std::vector<std::string> keys;
    for (const auto& u : units) keys.push_back(u.key);
    db.plan_units(keys);
  }

  auto previous_handler = std::signal(SIGINT, on_sigint);
  g_interrupted.store(false);
  int64_t done_units = 0;
  for (const auto& u : units) done_units += finished.count(u.key) ? 1 : 0;
  Progress progress(options.quiet, static_cast<int64_t>(units.size()));
  int64_t tokens_generated = 0;
  int64_t cells_done = 0;
  int failed_units = 0;

  std::unique_ptr<LoadedModel> loaded;
  size_t loaded_model = static_cast<size_t>(-1);
  for (size_t ci = 0; ci < cells.size() && !g_interrupted.load(); ++ci) {
    const SweepCell& cell = cells[ci];
    std::vector<const Unit*> pending;
    for (const auto& u : units) {
      if (u.cell == &cell && !finished.count(u.key)) pending.push_back(&u);
    }
    if (pending.empty()) {
      ++cells_done;
      continue;
    }
    const SweepModel& model_cfg = config.models[cell.model];
    if (loaded_model != cell.model) {
      loaded.reset();
      const c10::Device device = parse_device(model_cfg.device);
      loaded = std::make_unique<LoadedModel>(load_model(model_cfg.path, parse_dtype(model_cfg.dtype, device), device));
      loaded_model = cell.model;
    }
    const PromptTemplate prompt_template = load_prompt_template(model_cfg.prompt_template);
    const SweepPolicy& policy = config.policies[cell.policy];
    const SweepController& controller_cfg = config.controllers[cell.controller];
    const DatasetKind& dataset_kind = find_dataset_kind(config.datasets[cell.dataset].kind);

    GenerationOptions gen;
    gen.policy = PolicySpec{policy.name, cell.budget, policy.args};
    gen.sampling = SamplingOptions{config.sampling.temperature, config.sampling.top_p, config.sampling.top_k, 0};
    gen.eos_ids = loaded->eos_ids;
    gen.tokenizer = loaded->tokenizer.get();
    gen.on_stop = config.on_stop == "force_answer" ? OnStop::ForceAnswer : OnStop::Truncate;
    gen.force_answer_ids = loaded->tokenizer->encode(prompt_template.forced_answer_text(false), false);
    gen.force_answer_ids_in_think = loaded->tokenizer->encode(prompt_template.forced_answer_text(true), false);
    if (!prompt_template.think_end.empty()) gen.think_end_ids = loaded->tokenizer->encode(prompt_template.think_end, false);
    gen.force_answer_max_tokens = config.force_answer_max_tokens;
    const std::string cell_label = model_cfg.name + " " + config.datasets[cell.dataset].name + " " + policy.name +
                                   (policy.name == "full" ? "" : "@" + std::to_string(cell.budget)) + " " +
                                   controller_cfg.name;

    for (size_t start = 0; start < pending.size() && !g_interrupted.load(); start += static_cast<size_t>(config.batch_size)) {
      const size_t end = std::min(pending.size(), start + static_cast<size_t>(config.batch_size));
      std::vector<GenerationRequest> requests;
      std::vector<std::string> cap_sources;
      for (size_t k = start; k < end; ++k) {
        const Unit& u = *pending[k];
        GenerationRequest r;
        r.prompt_ids = loaded->tokenizer->encode(render_prompt(prompt_template, u.problem->question, *loaded->tokenizer),
                                                 /*add_special_tokens=*/false);
        r.max_new_tokens = config.max_new_tokens;
        r.seed = request_seed(config.sampling.seed, *u.problem, u.sample);
        std::string cap_source = "max_new_tokens";
        if (config.length_cap.enabled && !cell.is_reference()) {
          if (config.length_cap.ceiling > 0 && config.length_cap.ceiling < r.max_new_tokens) {
            r.max_new_tokens = config.length_cap.ceiling;
            cap_source = "ceiling";
          }
          auto it = reference_length.find(reference_key(config, cell, *u.problem, u.sample));
          if (it != reference_length.end()) {
            const auto capped = static_cast<int64_t>(std::ceil(config.length_cap.multiple * static_cast<double>(it->second)));
            if (capped < r.max_new_tokens) {
              r.max_new_tokens = std::max<int64_t>(1, capped);
              cap_source = "full_multiple";
            }
          }
          if (cap_source != "max_new_tokens") r.limit_reason = "cap";
        }
        cap_sources.push_back(cap_source);
        requests.push_back(std::move(r));
      }
      std::unique_ptr<StopController> controller = make_controller(controller_cfg.name, controller_cfg.args);
      gen.controller = controller.get();
      std::vector<GenerationResult> results;
      std::string error;
      try {
        inject_fault(cell.key);
        results = generate(*loaded->model, requests, gen);
      } catch (const LilError&) {
        throw;
      } catch (const BudgetViolation& e) {
        error = std::string("budget violation: ") + e.what();
      } catch (const std::exception& e) {
        if (!is_out_of_memory(e.what())) throw;
        error = std::string("out of memory: ") + e.what();
      }
      std::vector<ResultRow> rows;
      for (size_t k = start; k < end; ++k) {
        const Unit& u = *pending[k];
        ResultRow row;
        row.unit_key = u.key;
        row.cell_key = cell.key;
        row.model = model_cfg.name;
        row.dataset = config.datasets[cell.dataset].name;
        row.record_id = u.problem->id;
        row.record_index = static_cast<int64_t>(u.problem->index);
        row.sample = u.sample;
        row.policy = policy.name;
        row.budget = cell.budget;
        row.policy_args = canonical_args(policy.args);
        row.controller = controller_cfg.name;
        row.controller_args = canonical_args(controller_cfg.args);
        row.gold_answer = u.problem->gold_answer;
        row.prompt_tokens = static_cast<int64_t>(requests[k - start].prompt_ids.size());
        row.max_new_tokens = requests[k - start].max_new_tokens;
        row.cap_source = cap_sources[k - start];
        if (!error.empty()) {
          row.error = error;
          ++failed_units;
          rows.push_back(std::move(row));
          continue;
        }
        const GenerationResult& r = results[k - start];
        row.output_tokens = static_cast<int64_t>(r.token_ids.size());
        row.output_text = loaded->tokenizer->decode(r.token_ids);
        row.answer_text = r.answer_ids.empty() ? "" : loaded->tokenizer->decode(r.answer_ids);
        row.answer_tokens = static_cast<int64_t>(r.answer_ids.size());
        const Verdict verdict = grade(dataset_kind, row.output_text + row.answer_text, u.problem->gold_answer);
        row.extracted_answer = verdict.extracted.value_or("");
        row.correct = verdict.correct;
        row.stop_reason = r.stop_reason;
        row.stop_step = r.stop_step;
        row.ttft_s = r.timings.ttft_s;
        row.tbt_mean_s = r.timings.tbt_mean_s;
        row.tbt_p50_s = r.timings.tbt_p50_s;
        row.tbt_p99_s = r.timings.tbt_p99_s;
        row.jct_s = r.timings.jct_s;
        row.peak_memory_bytes = peak_rss_bytes();
        row.kv_allocated_bytes = r.kv_allocated_bytes;
        row.kv_resident_bytes_peak = r.kv.resident_bytes_peak;
        row.kv_resident_mean_tokens = r.kv.resident_mean;
        row.kv_attended_mean_tokens = r.kv.attended_mean;
        row.kv_attended_bytes_mean = r.kv.attended_bytes_mean;
        json checks = json::array();
        for (const auto& c : r.checks) {
          checks.push_back({{"step", c.step}, {"signal", c.signal}, {"fired", c.fired}, {"seconds", c.seconds}});
        }
        row.controller_checks = checks.dump();
        row.token_ids = json(r.token_ids).dump();
        tokens_generated += row.output_tokens + row.answer_tokens;
        if (cell.is_reference()) reference_length[reference_key(config, cell, *u.problem, u.sample)] = row.output_tokens;
        rows.push_back(std::move(row));
      }
      db.insert_batch(rows);
      done_units += static_cast<int64_t>(end - start);
      progress.update(done_units, cells_done, static_cast<int64_t>(cells.size()), tokens_generated, cell_label);
    }
    ++cells_done;
  }
  progress.finish();
  std::signal(SIGINT, previous_handler);
  if (g_interrupted.load()) {
    db.finish_run(run_id, "interrupted");
    std::cerr << "[lil] interrupted after the batch in flight; finished rows are saved in " << options.out_path
              << ".\n[lil] resume with: lil sweep " << options.config_path << " --out " << options.out_path
              << " --resume\n";
    return 130;
  }
  db.finish_run(run_id, failed_units ? "finished_with_failures" : "finished");
  if (!options.quiet) {
    std::cerr << "[lil] sweep done: " << units.size() << " generations in " << cells.size() << " cells"
              << (failed_units ? ", " + std::to_string(failed_units) + " failed (see the error column)" : "")
              << "; results in " << options.out_path << "\n";
  }
  return 0;
}

}  // namespace lil

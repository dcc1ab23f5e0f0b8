// The controller registry: one entry per early-stop controller. Each factory reads and validates its knobs
// (`--controller-arg key=value`, LilError naming the knob and what was expected). docs/controllers.md
// specifies each controller.
#include <set>
#include <string>

#include "core/error.h"
#include "runtime/controller.h"
#include "runtime/controller_answer.h"
#include "runtime/controller_entropy.h"
#include "runtime/controller_guardian.h"
#include "runtime/controller_guardian_text.h"
#include "runtime/controller_ngram.h"

namespace lil {
namespace {

constexpr int64_t kLargestKnob = int64_t{1} << 30;
constexpr double kLargestThreshold = 1e12;

int64_t read_every(PolicyArgs& args) { return args.get_int("every", 250, 1, kLargestKnob); }

// A knob that only means something in another mode is an error rather than silently ignored.
void reject_knobs(const PolicyArgs& args, const std::set<std::string>& keys, const std::string& mode) {
  for (const auto& key : keys) {
    if (args.values().count(key)) fail_at(args.where(key), "applies only to " + mode);
  }
}

bool read_flag(PolicyArgs& args, const std::string& key, bool default_value) {
  return args.get_int(key, default_value ? 1 : 0, 0, 1) == 1;
}

std::unique_ptr<StopController> make_guardian(PolicyArgs& args) {
  const std::set<std::string> token_knobs = {"device", "min_match", "max_match", "literal_cost", "match_cost"};
  const std::set<std::string> text_knobs = {"codec", "level"};
  // The study's names: check every f generated tokens, stop when C grew by less than t.
  const int64_t every = args.get_int("f", 250, 1, kLargestKnob);
  const double threshold = args.get_double("t", 20, 0, kLargestThreshold);
  if (args.get_string("signal", "tokens", {"tokens", "text"}) == "text") {
    reject_knobs(args, token_knobs, "signal=tokens");
    GuardianTextOptions options;
    options.every = every;
    options.threshold = threshold;
    const bool zstd = args.get_string("codec", "zstd", {"zstd", "zlib"}) == "zstd";
    options.codec = zstd ? TextCodec::Zstd : TextCodec::Zlib;
    options.level = static_cast<int>(zstd ? args.get_int("level", 3, 1, 19) : args.get_int("level", 6, 1, 9));
    return std::make_unique<GuardianTextController>(options);
  }
  reject_knobs(args, text_knobs, "signal=text");
  GuardianOptions options;
  options.every = every;
  options.threshold = threshold;
  const std::string device = args.get_string("device", "auto", {"auto", "cpu", "cuda"});
  options.device = device == "cpu" ? ComputeDevice::Cpu : device == "cuda" ? ComputeDevice::Cuda : ComputeDevice::Auto;
  options.lz77.min_match = args.get_int("min_match", 3, 1, kLargestKnob);
  options.lz77.max_match = args.get_int("max_match", 255, 1, kLargestKnob);
  options.lz77.literal_cost = args.get_int("literal_cost", 2, 0, kLargestKnob);
  options.lz77.match_cost = args.get_int("match_cost", 3, 0, kLargestKnob);
  if (options.lz77.max_match < options.lz77.min_match) {
    fail_at(args.where("max_match"), "must be at least min_match (" + std::to_string(options.lz77.min_match) +
                                         "), got " + std::to_string(options.lz77.max_match));
  }
  return std::make_unique<GuardianController>(options);
}

std::unique_ptr<StopController> make_entropy(PolicyArgs& args) {
  EntropyOptions options;
  options.every = read_every(args);
  options.window = args.get_int("window", options.every, 1, kLargestKnob);
  const bool below = args.get_string("rule", "below", {"below", "plateau"}) == "below";
  options.rule = below ? EntropyRule::Below : EntropyRule::Plateau;
  if (below) {
    reject_knobs(args, {"epsilon"}, "rule=plateau");
    options.threshold = args.get_double("threshold", 0.1, 0, kLargestThreshold);
  } else {
    reject_knobs(args, {"threshold"}, "rule=below");
    options.epsilon = args.get_double("epsilon", 0.01, 0, kLargestThreshold);
  }
  options.patience = args.get_int("patience", 2, 1, kLargestKnob);
  return std::make_unique<EntropyPlateauController>(options);
}

std::unique_ptr<StopController> make_ngram(PolicyArgs& args) {
  NgramOptions options;
  options.every = read_every(args);
  options.n = args.get_int("n", 16, 1, kLargestKnob);
  options.repeats = args.get_int("repeats", 4, 2, kLargestKnob);
  options.window = args.get_int("window", 1024, 1, kLargestKnob);
  if (options.window < options.n) {
    fail_at(args.where("window"), "must hold at least one n-gram (n = " + std::to_string(options.n) + "), got " +
                                      std::to_string(options.window));
  }
  return std::make_unique<NgramRepetitionController>(options);
}

std::unique_ptr<StopController> make_answer(PolicyArgs& args) {
  AnswerConvergenceOptions options;
  options.every = read_every(args);
  options.checks = args.get_int("checks", 3, 1, kLargestKnob);
  options.extract.think_end = args.get_string("think_end", options.extract.think_end, {});
  options.extract.allow_answer_phrase = read_flag(args, "answer_phrase", true);
  options.extract.allow_hash_marker = read_flag(args, "hash_marker", false);
  options.extract.last_number_fallback = read_flag(args, "last_number", false);
  return std::make_unique<AnswerConvergenceController>(options);
}

}  // namespace

const std::vector<ControllerInfo>& controller_registry() {
  static const std::vector<ControllerInfo> registry = {
      {"guardian",
       "Guardian: stop when the compressed length of the output grows by less than `threshold` between checks "
       "(the study's LZ77 information-gain proxy)",
       "f=250: tokens between checks; t=20: least growth of C per check; signal=tokens "
       "(tokens|text); device=auto (auto|cpu|cuda; signal=tokens): where the LZ77 parse runs; min_match=3, "
       "max_match=255, literal_cost=2, match_cost=3 (signal=tokens): the LZ77 variant; codec=zstd (zstd|zlib), "
       "level=3 for zstd or 6 for zlib (signal=text)",
       make_guardian},
      {"entropy_plateau",
       "mean next-token entropy over a recent window, computed on the device; stop when it stays low or stops "
       "moving (in the spirit of DEER, Yang et al. 2025)",
       "every=250: tokens between checks; window=every: tokens averaged; rule=below (below|plateau); "
       "threshold=0.1 nats (rule=below); epsilon=0.01 nats (rule=plateau); patience=2: consecutive checks",
       make_entropy},
      {"ngram_repetition", "stop when one n-gram of token ids recurs `repeats` times within the last `window` tokens",
       "every=250: tokens between checks; n=16: n-gram length; repeats=4: occurrences that stop; window=1024: tokens "
       "searched",
       make_ngram},
      {"answer_convergence",
       "stop when the extracted answer (the grader's extraction) is present and unchanged for `checks` checks",
       "every=250: tokens between checks; checks=3: consecutive checks with the same answer (m); "
       "answer_phrase=1, hash_marker=0, last_number=0: which extractions count; think_end=</think>",
       make_answer},
  };
  return registry;
}

std::unique_ptr<StopController> make_controller(const std::string& name,
                                                const std::map<std::string, std::string>& args) {
  PolicyArgs knobs(args, "--controller-arg");
  if (name == "none") {
    knobs.check_all_used("none");
    return nullptr;
  }
  std::string known = "none";
  for (const auto& info : controller_registry()) {
    if (info.name == name) {
      std::unique_ptr<StopController> controller = info.make(knobs);
      knobs.check_all_used(name);
      return controller;
    }
    known += ", " + info.name;
  }
  fail_at("--controller", "unknown controller '" + name + "' (known: " + known + ")");
}

}  // namespace lil

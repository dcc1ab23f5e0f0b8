#pragma once
// The hand-written sample files of datasets/samples/, compiled into lil so that `--sample` works from any
// directory (smoke tests, documentation). A unit test keeps each copy byte-identical to its file.
#include <optional>
#include <string>

namespace lil {

// Repository-relative path of a kind's sample file, e.g. "datasets/samples/gsm8k.jsonl".
std::string sample_file_path(const std::string& kind_name);
// The compiled-in text of that file; nullopt when the kind ships no sample.
std::optional<std::string> embedded_sample_text(const std::string& kind_name);

}  // namespace lil

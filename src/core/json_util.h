#pragma once
// Reading JSON files and typed keys with errors that name the file and the key.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lil {

using json = nlohmann::json;

// Whether `path` exists. A path the file system cannot even look up (a name too long, a component that is not a
// directory, no permission) is a LilError at `where` instead of an escaping std::filesystem_error.
bool path_exists(const std::string& path, const std::string& where);

// Reads a whole file; LilError naming the path when it is missing or unreadable.
std::string read_text_file(const std::string& path);
// The same for files lil only ever expects to be small (tokenizers, configs): a file (or device, or pipe)
// longer than `max_bytes` is refused with a LilError naming the path and the limit, after reading at most
// max_bytes + 1 bytes, so a corrupt or hostile file cannot make lil allocate its whole size.
std::string read_text_file(const std::string& path, uint64_t max_bytes);

// Parses a JSON document; LilError "<path>: malformed JSON at byte N: ..." on failure.
json parse_json_text(const std::string& text, const std::string& where);
json read_json_file(const std::string& path);
// Calls `fn(record, where, line_number)` for each non-blank line of a JSONL text (`where` = "<path>:<line>";
// a trailing \r is ignored). A line that is not valid JSON (numbers past a double's range included) is a
// LilError naming the file and line.
void for_each_jsonl_record(const std::string& text, const std::string& path,
                           const std::function<void(const json& record, const std::string& where, size_t line)>& fn);
json read_json_file(const std::string& path, uint64_t max_bytes);

// Atomic write: temp file in the same directory, fsync, rename. Never leaves a half-written file.
void write_text_file_atomic(const std::string& path, const std::string& text);

// Human-readable JSON type name for error messages ("a string", "an integer", ...).
std::string json_type_name(const json& value);

// Typed accessors. `where` is the file (and optional object path) used in messages.
const json& require_key(const json& object, const std::string& key, const std::string& where);
std::string require_string(const json& object, const std::string& key, const std::string& where);
int64_t require_int(const json& object, const std::string& key, const std::string& where);
double require_number(const json& object, const std::string& key, const std::string& where);
bool require_bool(const json& object, const std::string& key, const std::string& where);

std::optional<std::string> optional_string(const json& object, const std::string& key, const std::string& where);
std::optional<int64_t> optional_int(const json& object, const std::string& key, const std::string& where);
std::optional<double> optional_number(const json& object, const std::string& key, const std::string& where);
std::optional<bool> optional_bool(const json& object, const std::string& key, const std::string& where);

// An int or a list of ints (e.g. eos_token_id); empty when absent or null.
std::vector<int64_t> int_or_int_list(const json& object, const std::string& key, const std::string& where);

}  // namespace lil

#pragma once
// Typed access to tokenizer.json values with errors that name the file and the full key path,
// e.g. "<file>: key 'pre_tokenizer.pretokenizers[0].behavior': expected a string, got null".
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace lil {

class JsonPath {
 public:
  explicit JsonPath(std::string file, std::string key_path = "") : file_(std::move(file)), key_path_(std::move(key_path)) {}

  JsonPath operator/(const std::string& key) const { return JsonPath(file_, key_path_.empty() ? key : key_path_ + "." + key); }
  JsonPath operator[](size_t index) const { return JsonPath(file_, key_path_ + "[" + std::to_string(index) + "]"); }

  const std::string& file() const { return file_; }
  std::string describe() const;  // "<file>: key 'a.b'" (or just the file at the root)
  [[noreturn]] void fail(const std::string& what) const;

  // Lookups of `key` in `object`, the JSON value this path points at; errors name "<path>.<key>".
  const nlohmann::json& require(const nlohmann::json& object, const std::string& key) const;
  const nlohmann::json& require_object(const nlohmann::json& object, const std::string& key) const;
  const nlohmann::json& require_array(const nlohmann::json& object, const std::string& key) const;
  std::string require_string(const nlohmann::json& object, const std::string& key) const;
  bool optional_bool(const nlohmann::json& object, const std::string& key, bool fallback) const;
  std::optional<std::string> optional_string(const nlohmann::json& object, const std::string& key) const;
  int64_t require_int(const nlohmann::json& object, const std::string& key) const;

 private:
  std::string file_;
  std::string key_path_;
};

}  // namespace lil

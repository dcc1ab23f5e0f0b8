#include "tokenizer/json_path.h"

#include "core/error.h"
#include "core/json_util.h"

namespace lil {

std::string JsonPath::describe() const { return key_path_.empty() ? file_ : file_ + ": key '" + key_path_ + "'"; }

void JsonPath::fail(const std::string& what) const { throw LilError(describe() + ": " + what); }

const nlohmann::json& JsonPath::require(const nlohmann::json& object, const std::string& key) const {
  if (!object.is_object()) fail("expected a JSON object, got " + json_type_name(object));
  auto it = object.find(key);
  if (it == object.end()) (*this / key).fail("missing");
  return *it;
}

const nlohmann::json& JsonPath::require_object(const nlohmann::json& object, const std::string& key) const {
  const nlohmann::json& value = require(object, key);
  if (!value.is_object()) (*this / key).fail("expected a JSON object, got " + json_type_name(value));
  return value;
}

const nlohmann::json& JsonPath::require_array(const nlohmann::json& object, const std::string& key) const {
  const nlohmann::json& value = require(object, key);
  if (!value.is_array()) (*this / key).fail("expected an array, got " + json_type_name(value));
  return value;
}

std::string JsonPath::require_string(const nlohmann::json& object, const std::string& key) const {
  const nlohmann::json& value = require(object, key);
  if (!value.is_string()) (*this / key).fail("expected a string, got " + json_type_name(value));
  return value.get<std::string>();
}

bool JsonPath::optional_bool(const nlohmann::json& object, const std::string& key, bool fallback) const {
  if (!object.is_object()) fail("expected a JSON object, got " + json_type_name(object));
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) (*this / key).fail("expected a boolean, got " + json_type_name(*it));
  return it->get<bool>();
}

std::optional<std::string> JsonPath::optional_string(const nlohmann::json& object, const std::string& key) const {
  if (!object.is_object()) fail("expected a JSON object, got " + json_type_name(object));
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) (*this / key).fail("expected a string, got " + json_type_name(*it));
  return it->get<std::string>();
}

int64_t JsonPath::require_int(const nlohmann::json& object, const std::string& key) const {
  const nlohmann::json& value = require(object, key);
  if (!value.is_number_integer() && !value.is_number_unsigned()) {
    (*this / key).fail("expected an integer, got " + json_type_name(value));
  }
  return value.get<int64_t>();
}

}  // namespace lil

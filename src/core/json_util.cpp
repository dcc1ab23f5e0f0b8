#include "core/json_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace lil {

bool path_exists(const std::string& path, const std::string& where) {
  std::error_code error;
  const bool found = std::filesystem::exists(path, error);
  if (error) fail_at(where, "cannot look up '" + path + "': " + error.message());
  return found;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_at(path, std::string("cannot open file (") + std::strerror(errno) + ")");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail_at(path, "read error");
  return buffer.str();
}

std::string read_text_file(const std::string& path, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_at(path, std::string("cannot open file (") + std::strerror(errno) + ")");
  const auto limit_text = [&] {
    return "the limit for this file is " + std::to_string(max_bytes) + " bytes (" +
           std::to_string(max_bytes >> 20) + " MiB); a corrupt file?";
  };
  std::error_code size_error;
  const uint64_t size = std::filesystem::file_size(path, size_error);
  if (!size_error && size > max_bytes) fail_at(path, "file is " + std::to_string(size) + " bytes; " + limit_text());
  // The size may be unknown (a pipe, a device) or grow while reading: the read itself stops at the limit.
  std::string text;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes) fail_at(path, "file is longer than " + std::to_string(max_bytes) + " bytes; " + limit_text());
  }
  if (in.bad()) fail_at(path, "read error");
  return text;
}

json parse_json_text(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail_at(where, "malformed JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const json::exception& e) {  // e.g. a number that overflows a double (1e999)
    fail_at(where, std::string("unsupported JSON: ") + e.what());
  }
}

json read_json_file(const std::string& path) { return parse_json_text(read_text_file(path), path); }

json read_json_file(const std::string& path, uint64_t max_bytes) {
  return parse_json_text(read_text_file(path, max_bytes), path);
}

void write_text_file_atomic(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail_at(path, std::string("cannot create file (") + std::strerror(errno) + ")");
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      fail_at(path, std::string("write failed (") + std::strerror(saved) + ")");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(temp.c_str());
    fail_at(path, "could not flush file to disk");
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    fail_at(path, std::string("cannot rename temporary file (") + std::strerror(errno) + ")");
  }
}

std::string json_type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

const json& require_key(const json& object, const std::string& key, const std::string& where) {
  if (!object.is_object()) fail_at(where, "expected a JSON object, got " + json_type_name(object));
  auto it = object.find(key);
  if (it == object.end()) fail_at(where, "missing key '" + key + "'");
  return *it;
}

namespace {
[[noreturn]] void wrong_type(const std::string& key, const std::string& where, const char* expected, const json& got) {
  fail_at(where, "key '" + key + "': expected " + expected + ", got " + json_type_name(got));
}
bool is_integral(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }
}  // namespace

std::string require_string(const json& object, const std::string& key, const std::string& where) {
  const json& v = require_key(object, key, where);
  if (!v.is_string()) wrong_type(key, where, "a string", v);
  return v.get<std::string>();
}

int64_t require_int(const json& object, const std::string& key, const std::string& where) {
  const json& v = require_key(object, key, where);
  if (!is_integral(v)) wrong_type(key, where, "an integer", v);
  return v.get<int64_t>();
}

double require_number(const json& object, const std::string& key, const std::string& where) {
  const json& v = require_key(object, key, where);
  if (!v.is_number()) wrong_type(key, where, "a number", v);
  return v.get<double>();
}

bool require_bool(const json& object, const std::string& key, const std::string& where) {
  const json& v = require_key(object, key, where);
  if (!v.is_boolean()) wrong_type(key, where, "a boolean", v);
  return v.get<bool>();
}

std::optional<std::string> optional_string(const json& object, const std::string& key, const std::string& where) {
  if (!object.is_object() || !object.contains(key) || object.at(key).is_null()) return std::nullopt;
  return require_string(object, key, where);
}
std::optional<int64_t> optional_int(const json& object, const std::string& key, const std::string& where) {
  if (!object.is_object() || !object.contains(key) || object.at(key).is_null()) return std::nullopt;
  return require_int(object, key, where);
}
std::optional<double> optional_number(const json& object, const std::string& key, const std::string& where) {
  if (!object.is_object() || !object.contains(key) || object.at(key).is_null()) return std::nullopt;
  return require_number(object, key, where);
}
std::optional<bool> optional_bool(const json& object, const std::string& key, const std::string& where) {
  if (!object.is_object() || !object.contains(key) || object.at(key).is_null()) return std::nullopt;
  return require_bool(object, key, where);
}

std::vector<int64_t> int_or_int_list(const json& object, const std::string& key, const std::string& where) {
  std::vector<int64_t> out;
  if (!object.is_object() || !object.contains(key) || object.at(key).is_null()) return out;
  const json& v = object.at(key);
  if (is_integral(v)) {
    out.push_back(v.get<int64_t>());
  } else if (v.is_array()) {
    for (const json& item : v) {
      if (!is_integral(item)) wrong_type(key, where, "an integer or a list of integers", v);
      out.push_back(item.get<int64_t>());
    }
  } else {
    wrong_type(key, where, "an integer or a list of integers", v);
  }
  return out;
}

void for_each_jsonl_record(const std::string& text, const std::string& path,
                           const std::function<void(const json& record, const std::string& where, size_t line)>& fn) {
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Blank lines (a trailing newline, hand-edited files) carry no record.
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_number);
    json record;
    try {
      record = json::parse(line);
    } catch (const json::exception& e) {  // parse errors, and numbers that overflow a double (1e999)
      fail_at(where, std::string("malformed JSON: ") + e.what());
    }
    fn(record, where, line_number);
  }
}

}  // namespace lil

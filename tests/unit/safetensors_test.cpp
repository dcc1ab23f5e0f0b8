// safetensors files and checkpoint directories: a write/read round trip, sharded checkpoints, the
// committed tiny fixtures, and one test per malformed input with the message it must produce. The
// malformed files are built byte by byte here, so each test shows exactly what is wrong with its file.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/safetensors.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

const std::string kSourceDir = LIL_SOURCE_DIR;

// A scratch directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = (fs::temp_directory_path() /
             ("lil_safetensors_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
                .string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string le64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file with the given header text and `buffer_bytes` zero bytes of data.
std::string raw_file(const TempDir& dir, const std::string& header, size_t buffer_bytes, const std::string& name = "t.safetensors") {
  const std::string path = dir.file(name);
  write_bytes(path, le64(header.size()) + header + std::string(buffer_bytes, '\0'));
  return path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string bytes_of(const lil::TensorView& t) { return std::string(static_cast<const char*>(t.data), t.nbytes); }

// Writes one small F32 tensor per name.
void write_shard(const std::string& path, const std::vector<std::string>& names, float fill) {
  std::vector<std::vector<float>> data;
  std::vector<lil::TensorToWrite> tensors;
  for (size_t i = 0; i < names.size(); ++i) data.push_back({fill, fill + 1.0f + static_cast<float>(i)});
  for (size_t i = 0; i < names.size(); ++i) {
    tensors.push_back({names[i], lil::DType::F32, {2}, data[i].data(), 2 * sizeof(float)});
  }
  lil::write_safetensors(path, tensors);
}

void write_index(const TempDir& dir, const std::string& weight_map_json) {
  write_bytes(dir.file("model.safetensors.index.json"),
              "{\"metadata\": {\"total_size\": 0}, \"weight_map\": " + weight_map_json + "}");
}

int open_fd_count() {
  int n = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

bool is_mapped(const std::string& path) {
  return read_bytes("/proc/self/maps").find(fs::canonical(path).string()) != std::string::npos;
}

}  // namespace

TEST_CASE("safetensors round trip keeps every dtype, 0-d and empty tensors and the metadata", "[safetensors]") {
  TempDir dir;
  const std::vector<lil::DType> dtypes = {lil::DType::F64, lil::DType::F32, lil::DType::F16, lil::DType::BF16,
                                          lil::DType::I64, lil::DType::I32, lil::DType::I16, lil::DType::I8,
                                          lil::DType::U8,  lil::DType::BOOL};
  // A distinct byte pattern per tensor so a mixed-up offset cannot go unnoticed.
  std::vector<std::string> payloads;
  std::vector<lil::TensorToWrite> tensors;
  for (size_t i = 0; i < dtypes.size(); ++i) {
    const size_t nbytes = 2 * 3 * lil::dtype_size(dtypes[i]);
    std::string payload(nbytes, '\0');
    for (size_t b = 0; b < nbytes; ++b) payload[b] = static_cast<char>(i * 31 + b + 1);
    payloads.push_back(payload);
  }
  for (size_t i = 0; i < dtypes.size(); ++i) {
    tensors.push_back({"t_" + lil::dtype_name(dtypes[i]), dtypes[i], {2, 3}, payloads[i].data(), payloads[i].size()});
  }
  const double scalar = 2.5;
  tensors.push_back({"scalar", lil::DType::F64, {}, &scalar, sizeof scalar});
  tensors.push_back({"empty", lil::DType::F32, {0, 4}, nullptr, 0});
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "ünïcode ok"}};
  const std::string path = dir.file("model.safetensors");
  lil::write_safetensors(path, tensors, metadata);

  // Header length is padded to a multiple of 8, as the reference writer does.
  const std::string raw = read_bytes(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(raw[i]);
  CHECK(header_len % 8 == 0);
  CHECK(raw.substr(8, header_len).find("__metadata__") != std::string::npos);
  // The temporary file was renamed away.
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);

  lil::SafetensorsFile file(path);
  CHECK(file.metadata() == metadata);
  REQUIRE(file.tensors().size() == dtypes.size() + 2);
  for (size_t i = 0; i < dtypes.size(); ++i) {
    const lil::TensorView& t = file.tensors().at("t_" + lil::dtype_name(dtypes[i]));
    CHECK(t.dtype == dtypes[i]);
    CHECK(t.shape == std::vector<int64_t>{2, 3});
    CHECK(t.numel() == 6);
    CHECK(t.file == path);
    CHECK(bytes_of(t) == payloads[i]);
    // Widest dtypes first keeps every tensor naturally aligned in the map.
    CHECK(reinterpret_cast<uintptr_t>(t.data) % lil::dtype_size(dtypes[i]) == 0);
  }
  const lil::TensorView& s = file.tensors().at("scalar");
  CHECK(s.shape.empty());
  CHECK(s.numel() == 1);
  double read_back = 0;
  std::memcpy(&read_back, s.data, sizeof read_back);
  CHECK(read_back == 2.5);
  const lil::TensorView& e = file.tensors().at("empty");
  CHECK(e.shape == std::vector<int64_t>{0, 4});
  CHECK(e.numel() == 0);
  CHECK(e.nbytes == 0);
}

TEST_CASE("dtype names and sizes follow the safetensors spelling", "[safetensors]") {
  CHECK(lil::dtype_name(lil::DType::BF16) == "BF16");
  CHECK(lil::dtype_name(lil::DType::BOOL) == "BOOL");
  CHECK(lil::dtype_size(lil::DType::F64) == 8);
  CHECK(lil::dtype_size(lil::DType::BF16) == 2);
  CHECK(lil::dtype_size(lil::DType::BOOL) == 1);
}

TEST_CASE("write_safetensors replaces an existing file and refuses inconsistent input", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  write_bytes(path, "old contents");
  const float values[2] = {1.0f, -2.0f};
  lil::write_safetensors(path, {{"w", lil::DType::F32, {2}, values, sizeof values}});
  CHECK(lil::SafetensorsFile(path).tensors().at("w").nbytes == sizeof values);

  REQUIRE_THROWS_WITH(lil::write_safetensors(path, {{"w", lil::DType::F32, {3}, values, sizeof values}}),
                      Contains(path + ": tensor 'w'") && Contains("needs 12 bytes, but 8 were given"));
  REQUIRE_THROWS_WITH(lil::write_safetensors(path, {{"w", lil::DType::F32, {2}, values, sizeof values},
                                                    {"w", lil::DType::F32, {2}, values, sizeof values}}),
                      Contains("tensor 'w': appears twice"));
  REQUIRE_THROWS_WITH(lil::write_safetensors(path, {{"__metadata__", lil::DType::F32, {2}, values, sizeof values}}),
                      Contains("reserved"));
  REQUIRE_THROWS_WITH(lil::write_safetensors(path, {{"w", lil::DType::F32, {-1}, values, 0}}),
                      Contains("negative dimension"));
  REQUIRE_THROWS_WITH(lil::write_safetensors(dir.file("no_such_dir/x.safetensors"), {}),
                      Contains(dir.file("no_such_dir/x.safetensors") + ": cannot create temporary file"));
  // The failed writes left the earlier file intact and no temporary files behind.
  CHECK(lil::SafetensorsFile(path).tensors().at("w").shape == std::vector<int64_t>{2});
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("safetensors files may leave gaps in the buffer and hold only metadata", "[safetensors]") {
  TempDir dir;
  // Tensor 'a' at [8, 16) leaves an unused gap before it and after it; 'z' is empty inside 'a''s range.
  const std::string path = raw_file(dir,
                                    R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                                    R"("z":{"dtype":"F32","shape":[0],"data_offsets":[12,12]}})",
                                    24);
  lil::SafetensorsFile file(path);
  CHECK(file.tensors().size() == 2);
  CHECK(file.metadata().empty());

  const std::string only_metadata = raw_file(dir, R"({"__metadata__":{"format":"pt"}})", 0, "m.safetensors");
  CHECK(lil::SafetensorsFile(only_metadata).tensors().empty());
  CHECK(lil::SafetensorsFile(only_metadata).metadata().at("format") == "pt");
}

TEST_CASE("safetensors maps the file, closes the descriptor and unmaps on destruction or error", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  const float values[2] = {1.0f, 2.0f};
  lil::write_safetensors(path, {{"w", lil::DType::F32, {2}, values, sizeof values}});
  const int fds_before = open_fd_count();
  {
    lil::SafetensorsFile file(path);
    CHECK(open_fd_count() == fds_before);
    CHECK(is_mapped(path));
  }
  CHECK_FALSE(is_mapped(path));

  const std::string bad = raw_file(dir, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "bad.safetensors");
  CHECK_THROWS_AS(lil::SafetensorsFile(bad), lil::LilError);
  CHECK_FALSE(is_mapped(bad));
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("safetensors refuses a missing, short or oversized-header file", "[safetensors]") {
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(missing), Contains(missing + ": cannot open file"));

  REQUIRE_THROWS_WITH(lil::SafetensorsFile(dir.path()), Contains(dir.path() + ": not a regular file"));

  const std::string short_file = dir.file("short.safetensors");
  write_bytes(short_file, "abc");
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(short_file),
                      Contains(short_file + ": header: file is 3 bytes, shorter than the 8-byte"));

  const std::string long_header = dir.file("long.safetensors");
  write_bytes(long_header, le64(1000) + "{}");
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(long_header),
                      Contains(long_header + ": header length 1000 is larger than the rest of the file (2 bytes)"));

  const std::string huge_header = dir.file("huge.safetensors");
  write_bytes(huge_header, le64(uint64_t{1} << 40) + "{}");
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(huge_header), Contains(huge_header + ": header length 1099511627776 exceeds"));
}

TEST_CASE("safetensors refuses a header that is not a JSON object", "[safetensors]") {
  TempDir dir;
  const std::string not_json = raw_file(dir, "{\"w\": [1, 2", 0, "a.safetensors");
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(not_json), Contains(not_json + ": header is not valid JSON"));

  const std::string bad_utf8 = raw_file(dir, "{\"w\xff\": {}}", 0, "b.safetensors");
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(bad_utf8), Contains(bad_utf8 + ": header is not valid JSON"));

  const std::string array = raw_file(dir, "[1, 2, 3]", 0, "c.safetensors");
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(array), Contains(array + ": header is not a JSON object, got an array"));

  const std::string metadata = raw_file(dir, R"({"__metadata__":{"step":5}})", 0, "d.safetensors");
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(metadata),
                      Contains(metadata + ": header key '__metadata__.step': expected a string, got an integer"));
}

TEST_CASE("safetensors names the tensor whose entry is malformed", "[safetensors]") {
  TempDir dir;
  struct Case {
    std::string entry;
    size_t buffer;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"([1])", 0, "tensor 'w': expected an object {dtype, shape, data_offsets}, got an array"},
      {R"({"shape":[1],"data_offsets":[0,4]})", 4, "tensor 'w': missing key 'dtype'"},
      {R"({"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]})", 1, "tensor 'w': unsupported dtype 'F8_E4M3'"},
      {R"({"dtype":"U32","shape":[1],"data_offsets":[0,4]})", 4, "tensor 'w': unsupported dtype 'U32'"},
      {R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})", 16,
       "tensor 'w': key 'shape': expected a list of non-negative integers, got an integer"},
      {R"({"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]})", 16,
       "tensor 'w': key 'shape': expected a list of non-negative integers, got [2,-2]"},
      {R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,16]})", 16,
       "tensor 'w': key 'shape': expected a list of non-negative integers, got [2.5]"},
      {R"({"dtype":"F32","shape":[4]})", 16, "tensor 'w': missing key 'data_offsets'"},
      {R"({"dtype":"F32","shape":[4],"data_offsets":[0,8,16]})", 16,
       "tensor 'w': key 'data_offsets': expected [begin, end] (two non-negative integers), got [0,8,16]"},
      {R"({"dtype":"F32","shape":[4],"data_offsets":[0,12]})", 16,
       "tensor 'w': shape [4] of F32 needs 16 bytes, but data_offsets [0, 12] hold 12"},
      {R"({"dtype":"F32","shape":[0],"data_offsets":[8,4]})", 16, "tensor 'w': data_offsets [8, 4]: begin is after end"},
      {R"({"dtype":"F32","shape":[4],"data_offsets":[8,24]})", 16,
       "tensor 'w': data_offsets [8, 24] run past the end of the data buffer (16 bytes)"},
      // 2^32 * 2^32 wraps to 0 in 64 bits: it must not pass as an empty tensor.
      {R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]})", 0,
       "tensor 'w': shape [4294967296,4294967296] has more elements than 64-bit sizes can hold"},
      {R"({"dtype":"F64","shape":[1152921504606846976,4],"data_offsets":[0,0]})", 0,
       "tensor 'w': shape [1152921504606846976,4] has more elements than 64-bit sizes can hold"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    CAPTURE(c.entry);
    const std::string path = raw_file(dir, "{\"w\":" + c.entry + "}", c.buffer, "case" + std::to_string(i) + ".safetensors");
    REQUIRE_THROWS_WITH(lil::SafetensorsFile(path), Contains(path + ": " + c.message));
  }
}

TEST_CASE("safetensors refuses overlapping tensors", "[safetensors]") {
  TempDir dir;
  const std::string path = raw_file(dir,
                                    R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                    R"("b":{"dtype":"F32","shape":[1],"data_offsets":[20,24]},)"
                                    R"("c":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                    24);
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(path),
                      Contains(path + ": tensor 'c': data_offsets [8, 16] overlap tensor 'a' at [0, 16]"));

  // Two tensors at the same offsets would alias each other's weights.
  const std::string aliased = raw_file(dir,
                                       R"({"k":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                                       R"("v":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})",
                                       8, "aliased.safetensors");
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(aliased), Contains(aliased + ": tensor 'v': data_offsets [0, 8] overlap tensor 'k' at [0, 8]"));
}

TEST_CASE("safetensors detects a file cut short after a valid header", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("cut.safetensors");
  std::vector<float> values(64, 1.0f);
  lil::write_safetensors(path, {{"w", lil::DType::F32, {64}, values.data(), values.size() * sizeof(float)}});
  fs::resize_file(path, fs::file_size(path) - 10);
  REQUIRE_THROWS_WITH(lil::SafetensorsFile(path),
                      Contains(path + ": tensor 'w': data_offsets [0, 256] run past the end of the data buffer (246 bytes)") &&
                          Contains("truncated"));
}

TEST_CASE("safetensors answers every truncation and header corruption with a LilError or a valid file", "[safetensors]") {
  TempDir dir;
  const std::string good = dir.file("good.safetensors");
  const uint16_t half[3] = {1, 2, 3};
  const int32_t ints[2] = {7, 8};
  lil::write_safetensors(good, {{"h", lil::DType::F16, {3}, half, sizeof half}, {"i", lil::DType::I32, {1, 2}, ints, sizeof ints}},
                         {{"format", "pt"}});
  const std::string original = read_bytes(good);
  const std::string path = dir.file("mutated.safetensors");
  // Anything else escaping (a JSON library exception, std::out_of_range) or a crash fails the test.
  auto opens_or_lil_error = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    try {
      lil::SafetensorsFile file(path);
      for (const auto& item : file.tensors()) {
        CHECK(item.second.nbytes == static_cast<size_t>(item.second.numel()) * lil::dtype_size(item.second.dtype));
      }
    } catch (const lil::LilError& e) {
      CHECK_THAT(e.what(), Contains(path + ": "));
    }
  };
  for (size_t length = 0; length < original.size(); ++length) opens_or_lil_error(original.substr(0, length));
  for (size_t i = 0; i < original.size(); ++i) {
    for (unsigned char value : {0x00, 0x22, 0x2c, 0x5d, 0x7d, 0x39, 0xff}) {
      std::string bytes = original;
      bytes[i] = static_cast<char>(value);
      opens_or_lil_error(bytes);
    }
  }
}

TEST_CASE("Checkpoint opens model.safetensors and reports missing tensors by name", "[safetensors]") {
  TempDir dir;
  write_shard(dir.file("model.safetensors"), {"a", "b"}, 1.0f);
  lil::Checkpoint checkpoint = lil::Checkpoint::open_dir(dir.path());
  CHECK(checkpoint.dir() == dir.path());
  CHECK(checkpoint.names() == std::vector<std::string>{"a", "b"});
  CHECK(checkpoint.has("a"));
  CHECK_FALSE(checkpoint.has("c"));
  CHECK(checkpoint.total_bytes() == 16);
  REQUIRE_THROWS_WITH(checkpoint.get("c"), dir.path() + ": tensor 'c' is missing");

  // Views stay valid when the checkpoint is moved: the maps are shared, not copied.
  lil::Checkpoint moved = std::move(checkpoint);
  float b[2];
  std::memcpy(b, moved.get("b").data, sizeof b);
  CHECK(b[0] == 1.0f);
  CHECK(b[1] == 3.0f);
}

TEST_CASE("Checkpoint refuses a directory without weights", "[safetensors]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()),
                      dir.path() + ": no model.safetensors or model.safetensors.index.json");
  REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.file("nope")), Contains(dir.file("nope") + ": not a directory"));
}

TEST_CASE("Checkpoint reads a sharded checkpoint through its index", "[safetensors]") {
  TempDir dir;
  write_shard(dir.file("model-00001-of-00002.safetensors"), {"a", "b"}, 1.0f);
  write_shard(dir.file("model-00002-of-00002.safetensors"), {"c"}, 5.0f);
  write_index(dir, R"({"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                       "c": "model-00002-of-00002.safetensors"})");
  // An index wins over a stray single file next to it.
  write_shard(dir.file("model.safetensors"), {"stray"}, 0.0f);
  const lil::Checkpoint checkpoint = lil::Checkpoint::open_dir(dir.path());
  CHECK(checkpoint.names() == std::vector<std::string>{"a", "b", "c"});
  CHECK(checkpoint.get("a").file == dir.file("model-00001-of-00002.safetensors"));
  CHECK(checkpoint.get("c").file == dir.file("model-00002-of-00002.safetensors"));
  float c[2];
  std::memcpy(c, checkpoint.get("c").data, sizeof c);
  CHECK(c[0] == 5.0f);
  CHECK(checkpoint.total_bytes() == 24);
}

TEST_CASE("Checkpoint refuses an index that does not match its shards", "[safetensors]") {
  TempDir dir;
  const std::string index = dir.file("model.safetensors.index.json");
  write_shard(dir.file("s1.safetensors"), {"a", "b"}, 1.0f);
  write_shard(dir.file("s2.safetensors"), {"b", "c"}, 2.0f);

  SECTION("missing shard file") {
    write_index(dir, R"({"a": "s1.safetensors", "c": "s3.safetensors"})");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()),
                        Contains(index + ": tensor 'c': shard file 's3.safetensors' does not exist"));
  }
  SECTION("tensor not in the named shard") {
    write_index(dir, R"({"a": "s2.safetensors"})");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()),
                        index + ": tensor 'a': not found in shard 's2.safetensors'");
  }
  SECTION("tensor stored in two shards") {
    write_index(dir, R"({"a": "s1.safetensors", "c": "s2.safetensors"})");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()),
                        index + ": tensor 'b': stored in two shards, 's1.safetensors' and 's2.safetensors'");
  }
  SECTION("shard name that leaves the directory") {
    write_index(dir, R"({"a": "../s1.safetensors"})");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()),
                        Contains(index + ": tensor 'a': shard '../s1.safetensors' is not a plain file name"));
    write_index(dir, R"({"a": ".."})");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()), Contains("shard '..' is not a plain file name"));
    write_index(dir, R"({"a": "/etc/passwd"})");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()), Contains("shard '/etc/passwd' is not a plain file name"));
  }
  SECTION("malformed index") {
    write_bytes(index, "{\"weight_map\": ");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()), Contains(index + ": malformed JSON"));
    write_bytes(index, "{\"metadata\": {}}");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()), index + ": missing key 'weight_map'");
    write_index(dir, "[]");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()), Contains(index + ": key 'weight_map': expected an object"));
    write_index(dir, "{}");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()), Contains(index + ": key 'weight_map': expected at least one"));
    write_index(dir, R"({"a": 1})");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()),
                        index + ": tensor 'a': expected a shard file name, got an integer");
  }
  SECTION("a broken shard is reported with its own path") {
    write_bytes(dir.file("s3.safetensors"), "xy");
    write_index(dir, R"({"a": "s1.safetensors", "z": "s3.safetensors"})");
    REQUIRE_THROWS_WITH(lil::Checkpoint::open_dir(dir.path()), Contains(dir.file("s3.safetensors") + ": header: file is 2 bytes"));
  }
}

TEST_CASE("Checkpoint opens the committed tiny fixtures", "[safetensors]") {
  const lil::Checkpoint sharded = lil::Checkpoint::open_dir(kSourceDir + "/tests/fixtures/models/tiny-llama");
  CHECK(sharded.names().size() == 30);
  CHECK(sharded.get("model.embed_tokens.weight").shape == std::vector<int64_t>{128256, 32});
  CHECK(sharded.get("model.embed_tokens.weight").dtype == lil::DType::BF16);
  CHECK(sharded.get("lm_head.weight").file.find("model-00002-of-00002.safetensors") != std::string::npos);

  const lil::Checkpoint single = lil::Checkpoint::open_dir(kSourceDir + "/tests/fixtures/models/tiny-qwen2");
  CHECK(single.get("model.layers.0.self_attn.k_proj.bias").shape == std::vector<int64_t>{16});
  CHECK(single.total_bytes() <= fs::file_size(kSourceDir + "/tests/fixtures/models/tiny-qwen2/model.safetensors"));
}

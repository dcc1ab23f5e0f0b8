#include "runtime/results_db.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"

namespace lil {

namespace {

constexpr int kSchemaVersion = 1;
constexpr const char* kApplicationTag = "lil-results";

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS lil_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  config_hash TEXT NOT NULL, config_text TEXT NOT NULL, lil_version TEXT, git_commit TEXT,
  libtorch_version TEXT, device_name TEXT, host TEXT, command TEXT,
  started_at TEXT, finished_at TEXT, status TEXT, shard TEXT);
CREATE TABLE IF NOT EXISTS planned_units (unit_key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS results (
  unit_key TEXT PRIMARY KEY, run_id INTEGER NOT NULL, cell_key TEXT NOT NULL,
  model TEXT NOT NULL, dataset TEXT NOT NULL, record_id TEXT NOT NULL, record_index INTEGER NOT NULL,
  sample INTEGER NOT NULL, policy TEXT NOT NULL, budget INTEGER NOT NULL, policy_args TEXT NOT NULL,
  controller TEXT NOT NULL, controller_args TEXT NOT NULL,
  prompt_tokens INTEGER, output_tokens INTEGER, output_text TEXT, extracted_answer TEXT, gold_answer TEXT,
  correct INTEGER, stop_reason TEXT, stop_step INTEGER, max_new_tokens INTEGER, cap_source TEXT,
  ttft_s REAL, tbt_mean_s REAL, tbt_p50_s REAL, tbt_p99_s REAL, jct_s REAL, peak_memory_bytes INTEGER,
  kv_allocated_bytes INTEGER, kv_resident_bytes_peak INTEGER, kv_resident_mean_tokens REAL,
  kv_attended_mean_tokens REAL, kv_attended_bytes_mean REAL, controller_checks TEXT, token_ids TEXT,
  answer_text TEXT, answer_tokens INTEGER, error TEXT, created_at TEXT);
CREATE INDEX IF NOT EXISTS results_cell ON results(cell_key);
)SQL";

const char* kColumns =
    "unit_key, run_id, cell_key, model, dataset, record_id, record_index, sample, policy, budget, policy_args, "
    "controller, controller_args, prompt_tokens, output_tokens, output_text, extracted_answer, gold_answer, correct, "
    "stop_reason, stop_step, max_new_tokens, cap_source, ttft_s, tbt_mean_s, tbt_p50_s, tbt_p99_s, jct_s, "
    "peak_memory_bytes, kv_allocated_bytes, kv_resident_bytes_peak, kv_resident_mean_tokens, kv_attended_mean_tokens, "
    "kv_attended_bytes_mean, controller_checks, token_ids, answer_text, answer_tokens, error, created_at";
constexpr int kColumnCount = 40;

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::string& where) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      fail_at(where, std::string("database error: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() { return stmt_; }
  void bind(int i, const std::string& v) { sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
  void bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  bool step(const std::string& where) {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail_at(where, std::string("database error: ") + sqlite3_errmsg(db_));
  }
  std::string text(int i) {
    const unsigned char* t = sqlite3_column_text(stmt_, i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t integer(int i) { return sqlite3_column_int64(stmt_, i); }
  double real(int i) { return sqlite3_column_double(stmt_, i); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

std::string utc_now_iso8601() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string stable_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

ResultsDb::ResultsDb(const std::string& path, bool writer) : path_(path) {
  if (!writer && ::access(path.c_str(), R_OK) != 0) fail_at(path, "results database not found or unreadable");
  if (writer) {
    const std::string lock_path = path + ".lock";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) fail_at(lock_path, std::string("cannot create lock file (") + std::strerror(errno) + ")");
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_fd_);
      lock_fd_ = -1;
      fail_at(path, "another lil process is writing this database (lock " + lock_path +
                        " is held); wait for it or use another --out");
    }
  }
  const int flags = writer ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "cannot open";
    sqlite3_close(db_);
    db_ = nullptr;
    if (lock_fd_ >= 0) ::close(lock_fd_);
    fail_at(path, "cannot open results database: " + msg);
  }
  sqlite3_busy_timeout(db_, 10000);
  try {
    // Refuse files that are not SQLite or hold someone else's tables before touching anything.
    Statement tables(db_, "SELECT name FROM sqlite_master WHERE type='table'", path);
    std::set<std::string> names;
    while (tables.step(path)) names.insert(tables.text(0));
    if (!names.empty() && !names.count("lil_meta")) {
      fail_at(path, "not a lil results database (it holds other tables); refusing to write into it");
    }
    if (names.count("lil_meta")) {
      Statement meta(db_, "SELECT value FROM lil_meta WHERE key='format'", path);
      if (!meta.step(path) || meta.text(0) != kApplicationTag) fail_at(path, "not a lil results database");
      Statement version(db_, "SELECT value FROM lil_meta WHERE key='schema_version'", path);
      if (!version.step(path) || version.text(0) != std::to_string(kSchemaVersion)) {
        fail_at(path, "results database has an unsupported schema version (expected " +
                          std::to_string(kSchemaVersion) + ")");
      }
    } else if (!writer) {
      fail_at(path, "not a lil results database (empty)");
    }
    if (writer) {
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=FULL");
      exec(std::string("BEGIN; ") + kSchema +
           "INSERT OR IGNORE INTO lil_meta(key, value) VALUES ('format', '" + kApplicationTag + "'), "
           "('schema_version', '" + std::to_string(kSchemaVersion) + "'); COMMIT;");
    }
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    if (lock_fd_ >= 0) ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
}

ResultsDb::~ResultsDb() {
  if (db_) sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void ResultsDb::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    fail_at(path_, "database error: " + msg);
  }
}

int64_t ResultsDb::begin_run(const RunInfo& info) {
  Statement st(db_,
               "INSERT INTO runs(config_hash, config_text, lil_version, git_commit, libtorch_version, device_name, host, "
               "command, started_at, status, shard) VALUES (?,?,?,?,?,?,?,?,?, 'running', ?)",
               path_);
  st.bind(1, info.config_hash);
  st.bind(2, info.config_text);
  st.bind(3, info.lil_version);
  st.bind(4, info.git_commit);
  st.bind(5, info.libtorch_version);
  st.bind(6, info.device_name);
  st.bind(7, info.host);
  st.bind(8, info.command);
  st.bind(9, utc_now_iso8601());
  st.bind(10, info.shard);
  st.step(path_);
  return sqlite3_last_insert_rowid(db_);
}

void ResultsDb::finish_run(int64_t run_id, const std::string& status) {
  Statement st(db_, "UPDATE runs SET finished_at=?, status=? WHERE run_id=?", path_);
  st.bind(1, utc_now_iso8601());
  st.bind(2, status);
  st.bind(3, run_id);
  st.step(path_);
}

std::vector<RunInfo> ResultsDb::runs() const {
  Statement st(db_,
               "SELECT run_id, config_hash, config_text, lil_version, git_commit, libtorch_version, device_name, host, "
               "command, started_at, finished_at, status, shard FROM runs ORDER BY run_id",
               path_);
  std::vector<RunInfo> out;
  while (st.step(path_)) {
    RunInfo r;
    r.run_id = st.integer(0);
    r.config_hash = st.text(1);
    r.config_text = st.text(2);
    r.lil_version = st.text(3);
    r.git_commit = st.text(4);
    r.libtorch_version = st.text(5);
    r.device_name = st.text(6);
    r.host = st.text(7);
    r.command = st.text(8);
    r.started_at = st.text(9);
    r.finished_at = st.text(10);
    r.status = st.text(11);
    r.shard = st.text(12);
    out.push_back(std::move(r));
  }
  return out;
}

void ResultsDb::insert_batch(const std::vector<ResultRow>& rows) {
  if (rows.empty()) return;
  int64_t run_id = 0;
  {
    Statement st(db_, "SELECT MAX(run_id) FROM runs", path_);
    if (st.step(path_)) run_id = st.integer(0);
  }
  std::string placeholders;
  for (int i = 0; i < kColumnCount; ++i) placeholders += i ? ",?" : "?";
  exec("BEGIN IMMEDIATE");
  try {
    Statement st(db_, std::string("INSERT OR REPLACE INTO results(") + kColumns + ") VALUES (" + placeholders + ")", path_);
    const std::string now = utc_now_iso8601();
    for (const ResultRow& r : rows) {
      sqlite3_reset(st.get());
      int c = 1;
      st.bind(c++, r.unit_key);
      st.bind(c++, run_id);
      st.bind(c++, r.cell_key);
      st.bind(c++, r.model);
      st.bind(c++, r.dataset);
      st.bind(c++, r.record_id);
      st.bind(c++, r.record_index);
      st.bind(c++, r.sample);
      st.bind(c++, r.policy);
      st.bind(c++, r.budget);
      st.bind(c++, r.policy_args);
      st.bind(c++, r.controller);
      st.bind(c++, r.controller_args);
      st.bind(c++, r.prompt_tokens);
      st.bind(c++, r.output_tokens);
      st.bind(c++, r.output_text);
      st.bind(c++, r.extracted_answer);
      st.bind(c++, r.gold_answer);
      st.bind(c++, static_cast<int64_t>(r.correct ? 1 : 0));
      st.bind(c++, r.stop_reason);
      st.bind(c++, r.stop_step);
      st.bind(c++, r.max_new_tokens);
      st.bind(c++, r.cap_source);
      st.bind(c++, r.ttft_s);
      st.bind(c++, r.tbt_mean_s);
      st.bind(c++, r.tbt_p50_s);
      st.bind(c++, r.tbt_p99_s);
      st.bind(c++, r.jct_s);
      st.bind(c++, r.peak_memory_bytes);
      st.bind(c++, r.kv_allocated_bytes);
      st.bind(c++, r.kv_resident_bytes_peak);
      st.bind(c++, r.kv_resident_mean_tokens);
      st.bind(c++, r.kv_attended_mean_tokens);
      st.bind(c++, r.kv_attended_bytes_mean);
      st.bind(c++, r.controller_checks);
      st.bind(c++, r.token_ids);
      st.bind(c++, r.answer_text);
      st.bind(c++, r.answer_tokens);
      st.bind(c++, r.error);
      st.bind(c++, now);
      st.step(path_);
    }
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  exec("COMMIT");
}

std::set<std::string> ResultsDb::finished_units() const {
  Statement st(db_, "SELECT unit_key FROM results WHERE error IS NULL OR error = ''", path_);
  std::set<std::string> out;
  while (st.step(path_)) out.insert(st.text(0));
  return out;
}

void ResultsDb::plan_units(const std::vector<std::string>& unit_keys) {
  exec("BEGIN IMMEDIATE");
  try {
    Statement st(db_, "INSERT OR IGNORE INTO planned_units(unit_key) VALUES (?)", path_);
    for (const auto& key : unit_keys) {
      sqlite3_reset(st.get());
      st.bind(1, key);
      st.step(path_);
    }
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  exec("COMMIT");
}

std::set<std::string> ResultsDb::planned_units() const {
  Statement st(db_, "SELECT unit_key FROM planned_units", path_);
  std::set<std::string> out;
  while (st.step(path_)) out.insert(st.text(0));
  return out;
}

std::vector<ResultRow> ResultsDb::rows() const {
  Statement st(db_, std::string("SELECT ") + kColumns + " FROM results ORDER BY model, dataset, policy, budget, controller, record_index, sample", path_);
  std::vector<ResultRow> out;
  while (st.step(path_)) {
    ResultRow r;
    int c = 0;
    r.unit_key = st.text(c++);
    c++;  // run_id
    r.cell_key = st.text(c++);
    r.model = st.text(c++);
    r.dataset = st.text(c++);
    r.record_id = st.text(c++);
    r.record_index = st.integer(c++);
    r.sample = st.integer(c++);
    r.policy = st.text(c++);
    r.budget = st.integer(c++);
    r.policy_args = st.text(c++);
    r.controller = st.text(c++);
    r.controller_args = st.text(c++);
    r.prompt_tokens = st.integer(c++);
    r.output_tokens = st.integer(c++);
    r.output_text = st.text(c++);
    r.extracted_answer = st.text(c++);
    r.gold_answer = st.text(c++);
    r.correct = st.integer(c++) != 0;
    r.stop_reason = st.text(c++);
    r.stop_step = st.integer(c++);
    r.max_new_tokens = st.integer(c++);
    r.cap_source = st.text(c++);
    r.ttft_s = st.real(c++);
    r.tbt_mean_s = st.real(c++);
    r.tbt_p50_s = st.real(c++);
    r.tbt_p99_s = st.real(c++);
    r.jct_s = st.real(c++);
    r.peak_memory_bytes = st.integer(c++);
    r.kv_allocated_bytes = st.integer(c++);
    r.kv_resident_bytes_peak = st.integer(c++);
    r.kv_resident_mean_tokens = st.real(c++);
    r.kv_attended_mean_tokens = st.real(c++);
    r.kv_attended_bytes_mean = st.real(c++);
    r.controller_checks = st.text(c++);
    r.token_ids = st.text(c++);
    r.answer_text = st.text(c++);
    r.answer_tokens = st.integer(c++);
    r.error = st.text(c++);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace lil

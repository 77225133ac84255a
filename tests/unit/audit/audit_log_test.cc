#include "audit/audit_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "audit/verify.h"

namespace kiln::audit {
namespace {

namespace fs = std::filesystem;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln-audit-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "audit.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<AuditLog> Open(int64_t max_bytes = 0, int keep = 0) {
    AuditLogOptions o;
    o.path = path_;
    o.max_bytes = max_bytes;
    o.keep = keep;
    auto log = AuditLog::Open(o);
    EXPECT_TRUE(log.ok()) << log.status().message();
    return std::move(log).value();
  }

  static AuditEvent Event(int n) {
    AuditEvent e;
    e.time_micros = 1'700'000'000'000'000 + n;
    e.request_id = "req-" + std::to_string(n);
    e.tenant = "default";
    e.authenticated = true;
    e.subject = "user-" + std::to_string(n);
    e.client_id = "app";
    e.method = "GET";
    e.interaction = "search-type";
    e.type = "Observation";
    e.params = {"patient", "code"};
    e.remote_address = "10.0.0.1";
    e.user_agent = "test";
    e.status = 200;
    e.duration_ms = 1.5;
    return e;
  }

  std::vector<std::string> Lines(const std::string& path) const {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  void WriteLines(const std::string& path, const std::vector<std::string>& lines) const {
    std::ofstream out(path, std::ios::trunc);
    for (const auto& l : lines) out << l << '\n';
  }

  // Every file of the chain, oldest first: rotated ones, then the active one.
  std::vector<std::string> ChainFiles() const {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename().string().rfind("audit.log.", 0) == 0)
        files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    files.push_back(path_);
    return files;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(AuditLogTest, LinesAreJsonAndChained) {
  auto log = Open();
  for (int i = 0; i < 5; ++i) log->Record(Event(i));
  log->Close();
  auto lines = Lines(path_);
  ASSERT_EQ(lines.size(), 5u);
  std::string prev = kGenesisHash;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto v = boost::json::parse(lines[i]).as_object();
    EXPECT_EQ(v.at("seq").as_int64(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(v.at("prev").as_string(), prev);
    EXPECT_EQ(v.at("who").as_object().at("sub").as_string(), "user-" + std::to_string(i));
    EXPECT_EQ(v.at("what").as_object().at("params").as_array().size(), 2u);
    EXPECT_EQ(v.at("outcome").as_object().at("status").as_int64(), 200);
    prev = Sha256Hex(lines[i]);
  }
  VerifyReport r = VerifyChain({path_});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.lines, 5u);
  EXPECT_EQ(r.first_seq, 1u);
  EXPECT_EQ(r.head, prev);
}

TEST_F(AuditLogTest, EscapesWhatClientsSend) {
  AuditEvent e = Event(1);
  e.user_agent = "evil\"\n{\"seq\":1}\x01";
  e.forwarded_for = std::string(1000, 'x');
  std::string line = FormatLine(e, 7, kGenesisHash);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto v = boost::json::parse(line).as_object();
  EXPECT_EQ(v.at("where").as_object().at("user_agent").as_string(), e.user_agent);
  EXPECT_EQ(v.at("where").as_object().at("forwarded_for").as_string().size(), 256u);
  EXPECT_EQ(v.at("seq").as_int64(), 7);
}

TEST_F(AuditLogTest, VerifyFindsChangedInsertedRemovedAndReorderedLines) {
  auto log = Open();
  for (int i = 0; i < 6; ++i) log->Record(Event(i));
  log->Close();
  const auto good = Lines(path_);
  ASSERT_TRUE(VerifyChain({path_}).ok);

  auto check = [&](std::vector<std::string> lines, const std::string& expect_in_error) {
    WriteLines(path_, lines);
    VerifyReport r = VerifyChain({path_});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find(expect_in_error), std::string::npos) << r.error;
  };
  {
    auto lines = good;  // changed: a status rewritten
    lines[2].replace(lines[2].find("\"status\":200"), 12, "\"status\":403");
    check(lines, "line 4");
  }
  {
    auto lines = good;  // removed
    lines.erase(lines.begin() + 3);
    check(lines, "line 4");
  }
  {
    auto lines = good;  // inserted (a copy of another line)
    lines.insert(lines.begin() + 2, good[4]);
    check(lines, "line 3");
  }
  {
    auto lines = good;  // reordered
    std::swap(lines[1], lines[2]);
    check(lines, "line 2");
  }
  {
    auto lines = good;  // the first line removed: seq 2 cannot start a chain claiming genesis
    lines[0] = "not json";
    check(lines, "line 1: not a JSON object");
  }
  {
    // A partial last line.
    WriteLines(path_, good);
    std::ofstream(path_, std::ios::app) << "{\"seq\":7";
    VerifyReport r = VerifyChain({path_});
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("incomplete"), std::string::npos) << r.error;
  }
  WriteLines(path_, good);
  EXPECT_TRUE(VerifyChain({path_}).ok);
}

TEST_F(AuditLogTest, ReopeningContinuesTheChain) {
  {
    auto log = Open();
    for (int i = 0; i < 3; ++i) log->Record(Event(i));
  }
  {
    auto log = Open();
    EXPECT_EQ(log->head_seq(), 3u);
    for (int i = 3; i < 5; ++i) log->Record(Event(i));
  }
  VerifyReport r = VerifyChain({path_});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.lines, 5u);
}

TEST_F(AuditLogTest, ALineCutShortByACrashIsRemovedOnOpen) {
  {
    auto log = Open();
    for (int i = 0; i < 3; ++i) log->Record(Event(i));
  }
  std::ofstream(path_, std::ios::app) << "{\"time\":\"2026-";
  {
    auto log = Open();
    EXPECT_EQ(log->head_seq(), 3u);
    log->Record(Event(3));
  }
  VerifyReport r = VerifyChain({path_});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.lines, 4u);
}

TEST_F(AuditLogTest, RefusesAFileThatIsNotAnAuditLog) {
  WriteLines(path_, {"some other log line"});
  AuditLogOptions o;
  o.path = path_;
  auto log = AuditLog::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("not an audit log line"), std::string::npos);
  o.path = (dir_ / "no-such-dir" / "audit.log").string();
  EXPECT_FALSE(AuditLog::Open(o).ok());
}

TEST_F(AuditLogTest, RotationKeepsOneChainAcrossFiles) {
  const int64_t max = 2000;  // a few lines per file
  {
    auto log = Open(max);
    for (int i = 0; i < 40; ++i) {
      log->Record(Event(i));
      if (i % 7 == 0) log->Flush();  // several batches
    }
  }
  auto files = ChainFiles();
  ASSERT_GT(files.size(), 5u);
  for (const auto& f : files) EXPECT_LE(fs::file_size(f), static_cast<uintmax_t>(max));
  VerifyReport r = VerifyChain(files);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.lines, 40u);
  // A later run continues, also when it starts on a fresh active file.
  fs::rename(path_, path_ + ".20990101T000000.000000Z");
  {
    auto log = Open(max);
    EXPECT_EQ(log->head_seq(), 40u);
    log->Record(Event(40));
  }
  r = VerifyChain(ChainFiles());
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.lines, 41u);
  // Only the newest files: the chain starts in the middle, and says so.
  files = ChainFiles();
  r = VerifyChain({files.end() - 3, files.end()});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_GT(r.first_seq, 1u);
  // Files out of order break it.
  std::swap(files[0], files[1]);
  EXPECT_FALSE(VerifyChain(files).ok);
}

TEST_F(AuditLogTest, KeepDeletesTheOldestRotations) {
  {
    auto log = Open(1000, 2);
    for (int i = 0; i < 30; ++i) {
      log->Record(Event(i));
      log->Flush();
    }
  }
  auto files = ChainFiles();
  EXPECT_EQ(files.size(), 3u);  // two rotated and the active one
  VerifyReport r = VerifyChain(files);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_GT(r.first_seq, 1u);
  EXPECT_EQ(r.last_seq, 30u);
}

TEST_F(AuditLogTest, ManyThreadsLoseNothingUnderBackPressure) {
  AuditLogOptions o;
  o.path = path_;
  o.max_queued = 8;  // Record() must wait, not drop
  auto log = AuditLog::Open(o);
  ASSERT_TRUE(log.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) (*log)->Record(Event(t * 1000 + i));
    });
  for (auto& t : threads) t.join();
  (*log)->Close();
  VerifyReport r = VerifyChain({path_});
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.lines, 4000u);
}

}  // namespace
}  // namespace kiln::audit

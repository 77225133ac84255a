// Reads, appends, conflicts, deletion markers, savepoint isolation and timestamps of the SQLite
// store, through the Store interface.
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "core/clock.h"
#include "test_util.h"

namespace kiln::store::sqlite {
namespace {

using testing::AppendNext;
using testing::Key;
using testing::OpenOrDie;
using testing::Outcomes;
using testing::Put;
using testing::TempDir;
using testing::Version;
using testing::WriterGate;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = OpenOrDie(dir_.path()); }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, AppendThenReadAndVread) {
  StoredResource v1, v2;
  ASSERT_TRUE(Put(*store_, "Patient", "p1", R"({"resourceType":"Patient","id":"p1"})", &v1).ok());
  ASSERT_TRUE(
      Put(*store_, "Patient", "p1", R"({"resourceType":"Patient","id":"p1","active":true})", &v2)
          .ok());
  EXPECT_EQ(v1.info.version, 1);
  EXPECT_EQ(v2.info.version, 2);
  EXPECT_GT(v1.info.seq, 0);
  EXPECT_GT(v2.info.seq, v1.info.seq);

  Result<std::optional<StoredResource>> latest = store_->Read(Key("Patient", "p1"));
  ASSERT_TRUE(latest.ok()) << latest.status().message();
  ASSERT_TRUE(latest->has_value());
  const StoredResource& got = **latest;
  EXPECT_EQ(got.info.type, "Patient");
  EXPECT_EQ(got.info.id, "p1");
  EXPECT_EQ(got.info.version, 2);
  EXPECT_EQ(got.info.seq, v2.info.seq);
  EXPECT_EQ(got.info.last_updated, v2.info.last_updated);
  EXPECT_EQ(got.info.method, WriteMethod::kUpdate);
  EXPECT_FALSE(got.info.deleted);
  EXPECT_EQ(got.json, v2.json);

  Result<std::optional<StoredResource>> first = store_->ReadVersion(Key("Patient", "p1"), 1);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->json, v1.json);
  EXPECT_EQ((*first)->info.method, WriteMethod::kCreate);
  EXPECT_EQ((*first)->info.last_updated, v1.info.last_updated);
  EXPECT_EQ((*first)->info.seq, v1.info.seq);
}

TEST_F(SqliteStoreTest, MissingResourceAndVersionAreNullopt) {
  ASSERT_TRUE(Put(*store_, "Patient", "p1", "{}").ok());
  EXPECT_FALSE(store_->Read(Key("Patient", "nope"))->has_value());
  EXPECT_FALSE(store_->Read(Key("Observation", "p1"))->has_value());
  EXPECT_FALSE(store_->ReadVersion(Key("Patient", "p1"), 2)->has_value());
  EXPECT_FALSE(store_->ReadVersion(Key("Patient", "p1"), 0)->has_value());
  EXPECT_FALSE(store_->ReadVersion(Key("Patient", "nope"), 1)->has_value());
}

TEST_F(SqliteStoreTest, StoredBytesComeBackExactly) {
  std::string json = "{\"a\":\"\xc3\xa9\xe2\x82\xac\",\"b\":\"x\\u0000y\"}";
  json.push_back('\0');  // the store treats the body as bytes, not as a C string
  json += "tail";
  ASSERT_TRUE(Put(*store_, "Binary", "b1", json).ok());
  EXPECT_EQ((*store_->Read(Key("Binary", "b1")))->json, json);
}

TEST_F(SqliteStoreTest, VersionMustBeLatestPlusOne) {
  ASSERT_TRUE(Put(*store_, "Patient", "p1", "{}").ok());
  Status again = store_->WriteAndWait([](StoreTxn& txn) {
    StoredResource v = Version("Patient", "p1", 1, txn.NextTimestamp(), "{}");
    return txn.Append(kDefaultTenant, v);
  });
  EXPECT_EQ(again.error(), ErrorCode::kConflict) << again.message();
  Status skip = store_->WriteAndWait([](StoreTxn& txn) {
    StoredResource v = Version("Patient", "p1", 3, txn.NextTimestamp(), "{}");
    return txn.Append(kDefaultTenant, v);
  });
  EXPECT_EQ(skip.error(), ErrorCode::kConflict);
  Status new_at_two = store_->WriteAndWait([](StoreTxn& txn) {
    StoredResource v = Version("Patient", "p2", 2, txn.NextTimestamp(), "{}");
    return txn.Append(kDefaultTenant, v);
  });
  EXPECT_EQ(new_at_two.error(), ErrorCode::kConflict);
  EXPECT_EQ((*store_->Read(Key("Patient", "p1")))->info.version, 1);
  EXPECT_FALSE(store_->Read(Key("Patient", "p2"))->has_value());
}

TEST_F(SqliteStoreTest, AppendRejectsIncompleteVersions) {
  Status no_id = store_->WriteAndWait([](StoreTxn& txn) {
    StoredResource v = Version("Patient", "", 1, txn.NextTimestamp(), "{}");
    return txn.Append(kDefaultTenant, v);
  });
  EXPECT_EQ(no_id.error(), ErrorCode::kInvalid);
  Status deleted_with_body = store_->WriteAndWait([](StoreTxn& txn) {
    StoredResource v = Version("Patient", "p", 1, txn.NextTimestamp(), "{}", WriteMethod::kDelete);
    return txn.Append(kDefaultTenant, v);
  });
  EXPECT_EQ(deleted_with_body.error(), ErrorCode::kInvalid);
}

TEST_F(SqliteStoreTest, DeletionMarkerIsTheLatestVersion) {
  ASSERT_TRUE(Put(*store_, "Patient", "p1", R"({"v":1})").ok());
  StoredResource marker;
  ASSERT_TRUE(Put(*store_, "Patient", "p1", "", &marker).ok());
  EXPECT_TRUE(marker.info.deleted);

  Result<std::optional<StoredResource>> latest = store_->Read(Key("Patient", "p1"));
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_TRUE((*latest)->info.deleted);
  EXPECT_EQ((*latest)->info.version, 2);
  EXPECT_EQ((*latest)->info.method, WriteMethod::kDelete);
  EXPECT_TRUE((*latest)->json.empty());
  // The version before the deletion is still there for vread and history.
  EXPECT_EQ((*store_->ReadVersion(Key("Patient", "p1"), 1))->json, R"({"v":1})");
  EXPECT_TRUE((*store_->ReadVersion(Key("Patient", "p1"), 2))->info.deleted);

  // Writing after a deletion continues the version sequence.
  StoredResource revived;
  ASSERT_TRUE(Put(*store_, "Patient", "p1", R"({"v":3})", &revived).ok());
  EXPECT_EQ(revived.info.version, 3);
  latest = store_->Read(Key("Patient", "p1"));
  EXPECT_FALSE((*latest)->info.deleted);
  EXPECT_EQ((*latest)->json, R"({"v":3})");
}

TEST_F(SqliteStoreTest, TenantsAreSeparate) {
  ASSERT_TRUE(Put(*store_, "Patient", "p1", R"({"t":"a"})", nullptr, "a").ok());
  ASSERT_TRUE(Put(*store_, "Patient", "p1", R"({"t":"b"})", nullptr, "b").ok());
  ASSERT_TRUE(Put(*store_, "Patient", "p1", R"({"t":"b2"})", nullptr, "b").ok());
  EXPECT_EQ((*store_->Read(Key("Patient", "p1", "a")))->info.version, 1);
  EXPECT_EQ((*store_->Read(Key("Patient", "p1", "b")))->info.version, 2);
  EXPECT_EQ((*store_->Read(Key("Patient", "p1", "b")))->json, R"({"t":"b2"})");
  EXPECT_FALSE(store_->Read(Key("Patient", "p1"))->has_value());
}

TEST_F(SqliteStoreTest, ReadLatestSeesEarlierWritesOfTheSameTransaction) {
  // Inside one closure.
  Status status = store_->WriteAndWait([](StoreTxn& txn) {
    if (!AppendNext(txn, kDefaultTenant, "Patient", "p1", R"({"v":1})").ok()) {
      return Status::Internal("append 1");
    }
    Result<std::optional<StoredResource>> seen = txn.ReadLatest(Key("Patient", "p1"));
    if (!seen.ok() || !seen->has_value() || (*seen)->info.version != 1 ||
        (*seen)->json != R"({"v":1})") {
      return Status::Internal("first append not visible");
    }
    return AppendNext(txn, kDefaultTenant, "Patient", "p1", R"({"v":2})");
  });
  ASSERT_TRUE(status.ok()) << status.message();

  // Across closures of one group: the second sees the first before either is committed.
  WriterGate gate;
  gate.Hold(*store_);
  Outcomes outcomes(2);
  store_->Write(
      [](StoreTxn& txn) { return AppendNext(txn, kDefaultTenant, "Patient", "p2", "{}"); },
      outcomes.Callback(0));
  std::optional<int64_t> seen_version;
  store_->Write(
      [&](StoreTxn& txn) {
        Result<std::optional<StoredResource>> seen = txn.ReadLatest(Key("Patient", "p2"));
        if (seen.ok() && seen->has_value()) seen_version = (*seen)->info.version;
        return Status::Ok();
      },
      outcomes.Callback(1));
  int64_t commits_before = store_->Counters().commits;
  gate.Release();
  ASSERT_TRUE(gate.Wait().ok());
  std::map<int, Status> results = outcomes.Wait();
  EXPECT_TRUE(results[0].ok());
  EXPECT_TRUE(results[1].ok());
  EXPECT_EQ(seen_version, 1);
  EXPECT_EQ(store_->Counters().commits - commits_before, 2);  // the gate's group, then ours
}

TEST_F(SqliteStoreTest, FailingWriteRollsBackOnlyItself) {
  WriterGate gate;
  gate.Hold(*store_);
  Outcomes outcomes(5);
  store_->Write(
      [](StoreTxn& txn) { return AppendNext(txn, kDefaultTenant, "Patient", "ok1", "{}"); },
      outcomes.Callback(0));
  store_->Write(
      [](StoreTxn& txn) {
        // Appends two versions and then fails: neither may survive.
        (void)AppendNext(txn, kDefaultTenant, "Patient", "bad", "{}");
        (void)AppendNext(txn, kDefaultTenant, "Patient", "ok1", R"({"bad":true})");
        return Status::PreconditionFailed("changed my mind");
      },
      outcomes.Callback(1));
  store_->Write(
      [](StoreTxn& txn) {
        // Sees ok1 v1 (not the rolled-back v2), so it writes v2 itself.
        return AppendNext(txn, kDefaultTenant, "Patient", "ok1", R"({"v":2})");
      },
      outcomes.Callback(2));
  store_->Write(
      [](StoreTxn& txn) -> Status {
        (void)AppendNext(txn, kDefaultTenant, "Patient", "thrown", "{}");
        throw std::runtime_error("boom");
      },
      outcomes.Callback(3));
  store_->Write(
      [](StoreTxn& txn) { return AppendNext(txn, kDefaultTenant, "Patient", "ok2", "{}"); },
      outcomes.Callback(4));
  int64_t commits_before = store_->Counters().commits;
  gate.Release();
  ASSERT_TRUE(gate.Wait().ok());
  std::map<int, Status> results = outcomes.Wait();

  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].error(), ErrorCode::kPreconditionFailed);
  EXPECT_EQ(results[1].message(), "changed my mind");
  EXPECT_TRUE(results[2].ok()) << results[2].message();
  EXPECT_EQ(results[3].error(), ErrorCode::kInternal);
  EXPECT_NE(results[3].message().find("boom"), std::string::npos);
  EXPECT_TRUE(results[4].ok());
  // One transaction for the gate, one for the five writes.
  EXPECT_EQ(store_->Counters().commits - commits_before, 2);

  EXPECT_FALSE(store_->Read(Key("Patient", "bad"))->has_value());
  EXPECT_FALSE(store_->Read(Key("Patient", "thrown"))->has_value());
  EXPECT_TRUE(store_->Read(Key("Patient", "ok2"))->has_value());
  Result<std::optional<StoredResource>> ok1 = store_->Read(Key("Patient", "ok1"));
  EXPECT_EQ((*ok1)->info.version, 2);
  EXPECT_EQ((*ok1)->json, R"({"v":2})");
}

TEST_F(SqliteStoreTest, NextTimestampIsStrictlyIncreasing) {
  std::vector<int64_t> stamps;
  int64_t before = core::NowMicros();
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTxn& txn) {
                    for (int i = 0; i < 10000; ++i) stamps.push_back(txn.NextTimestamp());
                    return Status::Ok();
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTxn& txn) {
                    stamps.push_back(txn.NextTimestamp());
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_GE(stamps.front(), before);
  for (size_t i = 1; i < stamps.size(); ++i) ASSERT_LT(stamps[i - 1], stamps[i]) << i;
}

TEST_F(SqliteStoreTest, NextTimestampStaysAboveAppendedTimestamps) {
  // A version stamped an hour ahead (a clock that later steps back, or an import): later
  // timestamps still sort after it.
  int64_t ahead = core::NowMicros() + 3600LL * 1000000;
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTxn& txn) {
                    StoredResource v =
                        Version("Patient", "future", 1, ahead, "{}", WriteMethod::kCreate);
                    return txn.Append(kDefaultTenant, v);
                  })
                  .ok());
  int64_t next = 0;
  ASSERT_TRUE(store_
                  ->WriteAndWait([&](StoreTxn& txn) {
                    next = txn.NextTimestamp();
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_GT(next, ahead);
}

TEST_F(SqliteStoreTest, SeqFollowsCommitOrder) {
  std::vector<int64_t> seqs;
  for (int i = 0; i < 20; ++i) {
    StoredResource v;
    ASSERT_TRUE(
        Put(*store_, i % 2 ? "Patient" : "Observation", testing::Numbered("r", i % 3), "{}", &v)
            .ok());
    seqs.push_back(v.info.seq);
  }
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_LT(seqs[i - 1], seqs[i]);
}

TEST_F(SqliteStoreTest, CheckAndStats) {
  EXPECT_TRUE(store_->Check().ok());
  ASSERT_TRUE(Put(*store_, "Patient", "p1", std::string(10000, 'x')).ok());
  StoreStats stats = store_->Stats();
  EXPECT_GT(stats.database_bytes, 10000);
  SqliteCounters counters = store_->Counters();
  EXPECT_EQ(counters.writes_committed, 1);
  EXPECT_EQ(counters.commits, 1);
  EXPECT_EQ(counters.writes_failed, 0);
}

}  // namespace
}  // namespace kiln::store::sqlite

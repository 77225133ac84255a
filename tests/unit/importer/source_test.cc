// NDJSON reading: line numbers across batch and block boundaries, blank lines, CRLF, a last line
// without a line break, lines longer than a batch; and telling NDJSON from one JSON document.
#include "importer/source.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "../store_sqlite/test_util.h"

namespace kiln::importer {
namespace {

using store::sqlite::testing::TempDir;

std::string Write(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.Sub(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Every (line number, text) the reader hands out, batch by batch.
std::vector<std::pair<int64_t, std::string>> ReadAll(const std::string& path, size_t min_bytes,
                                                     int* batches = nullptr) {
  auto reader = NdjsonReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status().message();
  std::vector<std::pair<int64_t, std::string>> out;
  LineBatch batch;
  int n = 0;
  for (;;) {
    Result<bool> more = (*reader)->Next(batch, min_bytes);
    EXPECT_TRUE(more.ok());
    if (!*more) break;
    ++n;
    for (const Line& l : batch.lines) out.emplace_back(l.number, std::string(l.text));
  }
  if (batches) *batches = n;
  return out;
}

TEST(NdjsonReader, NumbersEveryLineAndSkipsBlankOnes) {
  TempDir dir;
  std::string path = Write(dir, "a.ndjson", "{\"a\":1}\n\n  \n{\"b\":2}\r\n{\"c\":3}");
  auto lines = ReadAll(path, 1 << 20);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], (std::pair<int64_t, std::string>{1, "{\"a\":1}"}));
  EXPECT_EQ(lines[1], (std::pair<int64_t, std::string>{4, "{\"b\":2}"}));  // no '\r'
  EXPECT_EQ(lines[2], (std::pair<int64_t, std::string>{5, "{\"c\":3}"}));  // no final '\n'
}

TEST(NdjsonReader, SmallBatchesKeepLinesWholeAndNumbered) {
  TempDir dir;
  std::string text;
  for (int i = 1; i <= 5000; ++i) text += "{\"n\":" + std::to_string(i) + "}\n";
  std::string path = Write(dir, "b.ndjson", text);
  int batches = 0;
  auto lines = ReadAll(path, 100, &batches);
  ASSERT_EQ(lines.size(), 5000u);
  EXPECT_GT(batches, 100);
  for (int i = 1; i <= 5000; ++i) {
    EXPECT_EQ(lines[i - 1].first, i);
    EXPECT_EQ(lines[i - 1].second, "{\"n\":" + std::to_string(i) + "}");
  }
}

TEST(NdjsonReader, LinesLongerThanABlockComeWhole) {
  TempDir dir;
  std::string big = "{\"s\":\"" + std::string(3 << 20, 'x') + "\"}";
  std::string path = Write(dir, "c.ndjson", "{}\n" + big + "\n{\"t\":1}\n");
  auto lines = ReadAll(path, 10);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1].first, 2);
  EXPECT_EQ(lines[1].second, big);
  EXPECT_EQ(lines[2].first, 3);
}

TEST(NdjsonReader, EmptyFileAndMissingFile) {
  TempDir dir;
  EXPECT_TRUE(ReadAll(Write(dir, "d.ndjson", ""), 100).empty());
  auto missing = NdjsonReader::Open(dir.Sub("nope.ndjson"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.ndjson"), std::string::npos);
}

TEST(DetectKind, ByNameThenByContent) {
  EXPECT_EQ(DetectKind("x.ndjson", "{}"), FileKind::kNdjson);
  EXPECT_EQ(DetectKind("x.jsonl", "{}"), FileKind::kNdjson);
  EXPECT_EQ(DetectKind("x.json", "{}\n{}\n"), FileKind::kJson);
  EXPECT_EQ(DetectKind("x.dat", "{\"a\":\"}\\\"{\"}\n{\"b\":1}\n"), FileKind::kNdjson);
  EXPECT_EQ(DetectKind("x.dat", "{\"a\":1}\n"), FileKind::kJson);  // one object only
  EXPECT_EQ(DetectKind("x.dat", "{\n  \"resourceType\": \"Bundle\"\n}\n"), FileKind::kJson);
  EXPECT_EQ(DetectKind("x.dat", "{\"a\":1} {\"b\":2}\n"), FileKind::kJson);
  EXPECT_EQ(DetectKind("x.dat", ""), FileKind::kJson);
}

TEST(MaySearchStore, ConditionalRequestsReferencesAndReadsDo) {
  // Synthea's shape: POST entries linked by urn:uuid.
  EXPECT_FALSE(MaySearchStore(R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"},
       "request":{"method":"POST","url":"Patient"}},
      {"resource":{"resourceType":"Observation","subject":{"reference":"urn:uuid:1"},
        "extension":[{"url":"http://x.org/ext","valueString":"a \"quoted?\" word"}]},
       "request":{"method" : "POST", "url" : "Observation"}}]})"));
  EXPECT_FALSE(MaySearchStore(R"({"resourceType":"Patient","id":"p1"})"));
  EXPECT_TRUE(MaySearchStore(R"({"entry":[{"request":{"method":"POST","url":"Patient",
      "ifNoneExist":"identifier=a|b"}}]})"));
  EXPECT_TRUE(MaySearchStore(R"({"entry":[{"request":{"method":"PUT",
      "url":"Patient?identifier=a|b"}}]})"));
  EXPECT_TRUE(MaySearchStore(R"({"entry":[{"resource":{"resourceType":"Observation",
      "subject":{"reference" :
        "Patient?identifier=a|b"}}}]})"));
  EXPECT_TRUE(
      MaySearchStore(R"({"entry":[{"request":{"method":"GET","url":"Patient/1/Observation"}}]})"));
  EXPECT_TRUE(MaySearchStore(R"({"entry":[{"request":{"method":"HEAD","url":"Patient/1"}}]})"));
  // A '?' counts only in the value of a url or reference, escaped quotes and all.
  EXPECT_FALSE(
      MaySearchStore(R"({"resourceType":"Observation","valueString":"why? \"url\": x?"})"));
  EXPECT_TRUE(MaySearchStore(R"({"entry":[{"request":{"method":"DELETE",
      "url":"Patient?name=\"a?\""}}]})"));
  // Each string is walked once, however many '?' it holds (a narrative of 400,000 of them).
  const std::string many = R"({"resourceType":"Patient","text":{"div":")" +
                           std::string(400000, '?') +
                           R"("},"link":[{"other":{"reference":"Patient?x"}}]})";
  EXPECT_TRUE(MaySearchStore(many));
  // Errs towards yes: an extension URL with a query counts too.
  EXPECT_TRUE(MaySearchStore(R"({"resourceType":"Patient","extension":[{"url":"http://x?y=1"}]})"));
}

}  // namespace
}  // namespace kiln::importer

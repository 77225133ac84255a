// The importer on a real SQLite store: NDJSON lines stored as PUT (with id) or POST (without),
// failures named by line with their reason and not stopping the rest, file order kept for
// repeated ids, a second import making version 2, Bundles of every importable type, and
// --stop-on-error.
#include "importer/importer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "../store_sqlite/test_util.h"
#include "search/query.h"

namespace kiln::importer {
namespace {

using store::sqlite::testing::Key;
using store::sqlite::testing::OpenOrDie;
using store::sqlite::testing::TempDir;

std::string Write(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.Sub(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

ImportOptions Options(int workers = 2) {
  ImportOptions o;
  o.rest.base_url = "http://localhost/fhir";
  o.workers = workers;
  o.batch_bytes = 64;  // many small batches: exercises the in-order hand-over
  o.max_in_flight = 16;
  return o;
}

ImportSummary ImportAll(Store& store, const std::vector<std::string>& files, ImportOptions o = Options()) {
  Importer importer(store, o);
  for (const std::string& f : files) importer.ImportFile(f);
  return importer.Finish();
}

std::optional<StoredResource> Latest(Store& store, const std::string& type, const std::string& id) {
  auto r = store.Read(Key(type, id));
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : std::nullopt;
}

int64_t Count(Store& store, const std::string& type, search::SearchParams params = {}) {
  params.emplace_back("_count", "1000");
  search::QueryOptions qo;
  qo.max_count = 1000;
  auto q = search::ParseQuery({type}, params, qo);
  EXPECT_TRUE(q.ok()) << q.status().message();
  auto page = store.Search(kDefaultTenant, *q);
  EXPECT_TRUE(page.ok()) << page.status().message();
  return page.ok() ? static_cast<int64_t>(page->matches.size()) : -1;
}

TEST(Importer, NdjsonStoresEveryGoodLineAndNamesEveryBadOne) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::string text;
  for (int i = 0; i < 40; ++i)
    text += R"({"resourceType":"Patient","id":"p)" + std::to_string(i) +
            R"(","name":[{"family":"Importfamily"}]})" + "\n";
  text += "\n";                                                                   // 41: blank
  text += R"({"resourceType":"Observation","status":"final","code":{"text":"x"},)"
          R"("subject":{"reference":"Patient/p1"}})" "\n";                       // 42: POST
  text += "{not json\n";                                                          // 43
  text += R"({"resourceType":"Nonsense","id":"n1"})" "\n";                        // 44
  text += R"({"resourceType":"Patient","birthDate":"2023-02-30"})" "\n";          // 45
  text += R"(["an array"])" "\n";                                                 // 46
  text += R"({"resourceType":"Patient","id":"bad id!"})" "\n";                    // 47
  text += R"({"resourceType":"Patient","id":"p40"})" "\n";                        // 48
  std::string path = Write(dir, "pop.ndjson", text);

  ImportSummary s = ImportAll(*store, {path});
  EXPECT_EQ(s.stored, 42);
  EXPECT_EQ(s.by_type["Patient"].created, 41);
  EXPECT_EQ(s.by_type["Observation"].created, 1);
  ASSERT_EQ(s.failures.size(), 5u);
  std::vector<int64_t> lines;
  for (const Failure& f : s.failures) {
    EXPECT_EQ(f.file, path);
    EXPECT_EQ(f.entry, -1);
    EXPECT_FALSE(f.reason.empty());
    lines.push_back(f.line);
  }
  EXPECT_EQ(lines, (std::vector<int64_t>{43, 44, 45, 46, 47}));
  EXPECT_NE(s.failures[0].reason.find("JSON"), std::string::npos) << s.failures[0].reason;
  EXPECT_NE(s.failures[1].reason.find("Unknown resource type 'Nonsense'"), std::string::npos);
  EXPECT_NE(s.failures[2].reason.find("Patient.birthDate"), std::string::npos)
      << s.failures[2].reason;
  EXPECT_NE(s.failures[4].reason.find("Invalid resource id 'bad id!'"), std::string::npos);

  // Stored as a write through the API would: versioned, indexed, searchable.
  auto p7 = Latest(*store, "Patient", "p7");
  ASSERT_TRUE(p7);
  EXPECT_EQ(p7->info.version, 1);
  EXPECT_NE(p7->json.find(R"("meta":{"versionId":"1")"), std::string::npos);
  EXPECT_EQ(Count(*store, "Patient", {{"family", "importfamily"}}), 40);
  EXPECT_EQ(Count(*store, "Observation", {{"subject", "Patient/p1"}}), 1);

  // The same file again: every resource with an id gets version 2; the one without a new id.
  ImportSummary again = ImportAll(*store, {path});
  EXPECT_EQ(again.by_type["Patient"].updated, 41);
  EXPECT_EQ(again.by_type["Patient"].created, 0);
  EXPECT_EQ(again.by_type["Observation"].created, 1);
  EXPECT_EQ(Latest(*store, "Patient", "p7")->info.version, 2);
  EXPECT_EQ(Count(*store, "Patient", {{"family", "importfamily"}}), 40);
  EXPECT_EQ(Count(*store, "Observation"), 2);
}

TEST(Importer, LaterLinesWinForTheSameIdWhateverTheWorkers) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::string text;
  for (int v = 1; v <= 30; ++v) {
    text += R"({"resourceType":"Patient","id":"same","name":[{"family":"F)" + std::to_string(v) +
            R"("}]})" "\n";
  }
  ImportSummary s = ImportAll(*store, {Write(dir, "same.ndjson", text)}, Options(4));
  EXPECT_EQ(s.stored, 30);
  auto same = Latest(*store, "Patient", "same");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->info.version, 30);
  EXPECT_NE(same->json.find("\"F30\""), std::string::npos);
}

TEST(Importer, BundlesOfEveryKind) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::string transaction = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"fullUrl":"urn:uuid:8c2f0e4a-5d1b-4e0a-9a8e-1f2d3c4b5a69",
     "resource":{"resourceType":"Patient","name":[{"family":"Txfamily"}]},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Observation","status":"final","code":{"text":"w"},
     "subject":{"reference":"urn:uuid:8c2f0e4a-5d1b-4e0a-9a8e-1f2d3c4b5a69"}},
     "request":{"method":"POST","url":"Observation"}}]})";
  std::string failing = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Patient","name":[{"family":"Never"}]},
     "request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Patient","birthDate":"not a date"},
     "request":{"method":"POST","url":"Patient"}}]})";
  std::string batch = R"({"resourceType":"Bundle","type":"batch","entry":[
    {"resource":{"resourceType":"Patient","id":"b1"},"request":{"method":"PUT","url":"Patient/b1"}},
    {"resource":{"resourceType":"Patient","id":"b2"},"request":{"method":"PUT","url":"Patient/zz"}}]})";
  std::string collection = R"({"resourceType":"Bundle","type":"collection","entry":[
    {"resource":{"resourceType":"Patient","id":"c1"}},
    {"fullUrl":"urn:uuid:x"},
    {"resource":{"resourceType":"Organization","name":"Org"}}]})";
  std::string searchset = R"({"resourceType":"Bundle","type":"searchset","entry":[
    {"resource":{"resourceType":"Patient","id":"s1"},"search":{"mode":"match"}},
    {"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"x"}]},
     "search":{"mode":"outcome"}}]})";
  std::string history = R"({"resourceType":"Bundle","type":"history","entry":[]})";
  std::string single = R"({"resourceType":"Practitioner","id":"doc1"})";
  std::vector<std::string> files = {
      Write(dir, "t.json", transaction), Write(dir, "f.json", failing), Write(dir, "b.json", batch),
      Write(dir, "c.json", collection), Write(dir, "s.json", searchset),
      Write(dir, "h.json", history),    Write(dir, "one.json", single)};
  ImportSummary s = ImportAll(*store, files);

  EXPECT_EQ(s.by_type["Patient"].created, 4);  // tx, b1, c1, s1
  EXPECT_EQ(s.by_type["Observation"].created, 1);
  EXPECT_EQ(s.by_type["Organization"].created, 1);
  EXPECT_EQ(s.by_type["Practitioner"].created, 1);
  EXPECT_EQ(s.stored, 7);
  EXPECT_EQ(s.skipped_outcomes, 1);
  ASSERT_EQ(s.failures.size(), 4u);
  EXPECT_EQ(s.failures[0].file, files[1]);  // the failing transaction, entry 1, rolled back
  EXPECT_EQ(s.failures[0].entry, 1);
  EXPECT_NE(s.failures[0].reason.find("rolled back"), std::string::npos);
  EXPECT_EQ(s.failures[1].file, files[2]);  // the batch's id mismatch, entry 1
  EXPECT_EQ(s.failures[1].entry, 1);
  EXPECT_NE(s.failures[1].reason.find("400"), std::string::npos) << s.failures[1].reason;
  EXPECT_EQ(s.failures[2].file, files[3]);  // the collection entry without a resource
  EXPECT_EQ(s.failures[2].entry, 1);
  EXPECT_EQ(s.failures[3].file, files[5]);  // a history Bundle
  EXPECT_NE(s.failures[3].reason.find("history"), std::string::npos);

  EXPECT_EQ(Count(*store, "Patient", {{"family", "never"}}), 0);
  // The transaction's urn:uuid reference was rewritten to the Patient's new id.
  search::QueryOptions qo;
  auto q = search::ParseQuery({"Patient"}, {{"family", "txfamily"}}, qo);
  auto page = store->Search(kDefaultTenant, *q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->matches.size(), 1u);
  EXPECT_EQ(Count(*store, "Observation", {{"subject", "Patient/" + page->matches[0].info.id}}), 1);
}

// A transaction large enough to be prepared in parallel chunks (rest/bundle.cc) still names its
// first failing entry, and stores nothing.
TEST(Importer, LargeTransactionNamesItsFirstFailingEntry) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  auto transaction = [](std::initializer_list<int> bad) {
    std::string text = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
    for (int i = 0; i < 150; ++i) {
      bool broken = std::find(bad.begin(), bad.end(), i) != bad.end();
      if (i > 0) text += ",";
      text += R"({"resource":{"resourceType":"Patient","id":"t)" + std::to_string(i) +
              (broken ? R"(","birthDate":"never"},)" : R"("},)") +
              R"("request":{"method":"PUT","url":"Patient/t)" + std::to_string(i) + R"("}})";
    }
    return text + "]}";
  };
  std::string failing = Write(dir, "bad.json", transaction({120, 45, 46}));
  std::string good = Write(dir, "good.json", transaction({}));
  ImportSummary s = ImportAll(*store, {failing, good});
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0].entry, 45) << s.failures[0].reason;
  EXPECT_NE(s.failures[0].reason.find("Bundle entry 45 (PUT Patient/t45)"), std::string::npos)
      << s.failures[0].reason;
  EXPECT_EQ(s.stored, 150);  // the good one, all of it
  EXPECT_EQ(s.by_type["Patient"].created, 150);
  EXPECT_EQ(Latest(*store, "Patient", "t149")->info.version, 1);
}

TEST(Importer, StopOnErrorStoresWhatPrecedesTheFailureOnly) {
  TempDir dir;
  auto store = OpenOrDie(dir.Sub("data"));
  std::string text;
  for (int i = 1; i <= 200; ++i) {
    if (i == 120) {
      text += "{broken\n";
      continue;
    }
    text += R"({"resourceType":"Patient","id":"q)" + std::to_string(i) + R"("})" "\n";
  }
  std::string first = Write(dir, "q.ndjson", text);
  std::string second = Write(dir, "r.ndjson", R"({"resourceType":"Patient","id":"r1"})" "\n");
  ImportOptions o = Options(2);
  o.stop_on_error = true;
  Importer importer(*store, o);
  importer.ImportFile(first);
  if (!importer.stopped()) importer.ImportFile(second);
  ImportSummary s = importer.Finish();
  EXPECT_TRUE(s.stopped_early);
  ASSERT_EQ(s.failures.size(), 1u);
  EXPECT_EQ(s.failures[0].line, 120);
  EXPECT_EQ(s.stored, 119);
  EXPECT_TRUE(Latest(*store, "Patient", "q119"));
  EXPECT_FALSE(Latest(*store, "Patient", "q121"));
  EXPECT_FALSE(Latest(*store, "Patient", "r1"));
}

TEST(Importer, ReasonTextNamesTheElement) {
  Status s(ErrorCode::kInvalid,
           {Issue{Severity::kError, "value", "Invalid date", "Patient.birthDate"},
            Issue{Severity::kWarning, "x", "only a warning", ""},
            Issue{Severity::kError, "structure", "Unknown element 'foo' at Patient.foo", "Patient.foo"}});
  EXPECT_EQ(ReasonText(s), "Patient.birthDate: Invalid date; Unknown element 'foo' at Patient.foo");
}

}  // namespace
}  // namespace kiln::importer

// Runs the official patch test cases (fhir-test-cases r4/patch): the 16 JSON Patch cases of
// json-patch-tests.json, read here as they are, and the 33 FHIRPath Patch cases of
// fhir-patch-tests.xml, converted to FHIR JSON at build time by tests/tools/fhirpatch_cases.mjs.
// A failing case fails the test unless it is listed in known_failures.txt with its reason (a
// listed case that passes fails the test too, so the list stays honest). Prints the pass counts.

#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "patch/json_tree.h"
#include "patch/patch.h"

namespace kiln::patch {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, std::string> KnownFailures() {
  std::map<std::string, std::string> known;
  std::string dir = __FILE__;
  dir = dir.substr(0, dir.rfind('/'));
  std::ifstream in(dir + "/known_failures.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t bar = line.find('|');
    if (bar == std::string::npos) continue;
    known[line.substr(0, bar)] = line.substr(bar + 1);
  }
  return known;
}

// "" when the case passes, else what went wrong.
std::string RunCase(Format format, const Json& input, const Json& patch, const Json* expected,
                    const Json* error) {
  auto result = format == Format::kJsonPatch
                    ? ApplyJsonPatch(input.Serialize(), patch.Serialize())
                    : ApplyFhirPathPatch(input.Serialize(), patch.Serialize());
  if (error != nullptr) {
    if (result.ok()) return "expected an error (" + error->Serialize() + "), got " + *result;
    // The FHIRPath cases give the message; Kiln's names the operation and then says the same.
    if (format == Format::kFhirPathPatch && error->is_string() && !error->text().empty() &&
        result.status().message().find(error->text()) == std::string::npos)
      return "expected the error '" + error->text() + "', got '" + result.status().message() + "'";
    return "";
  }
  if (!result.ok()) return "failed: " + result.status().message();
  auto got = ParseJson(*result, "the result");
  if (!got.ok()) return "the result is not JSON: " + *result;
  if (expected == nullptr) return "the case has no expected output";
  if (!Equal(*got, *expected)) return "expected " + expected->Serialize() + "\n got " + *result;
  return "";
}

struct Tally {
  int passed = 0, failed = 0, known = 0;
};

void Check(const std::string& id, const std::string& problem,
           const std::map<std::string, std::string>& known, Tally& tally) {
  bool listed = known.count(id) > 0;
  if (problem.empty()) {
    ++tally.passed;
    EXPECT_FALSE(listed) << id << " passes now: remove it from known_failures.txt";
  } else if (listed) {
    ++tally.known;
  } else {
    ++tally.failed;
    ADD_FAILURE() << id << ": " << problem;
  }
}

TEST(OfficialPatchCases, JsonPatch) {
  std::string path =
      std::string(KILN_TESTDATA_DIR) + "/fhir-test-cases/r4/patch/json-patch-tests.json";
  auto cases = ParseJson(ReadFile(path), "json-patch-tests.json");
  ASSERT_TRUE(cases.ok()) << cases.status().message() << " (" << path << ")";
  ASSERT_TRUE(cases->is_array());
  auto known = KnownFailures();
  Tally tally;
  for (const Json& c : cases->items()) {
    const Json* comment = c.Find("comment");
    std::string id = "json-patch:" + (comment != nullptr ? comment->text() : "?");
    const Json* doc = c.Find("doc");
    const Json* patch = c.Find("patch");
    ASSERT_TRUE(doc != nullptr && patch != nullptr) << id;
    Check(id, RunCase(Format::kJsonPatch, *doc, *patch, c.Find("expected"), c.Find("error")), known,
          tally);
  }
  std::cout << "JSON Patch official cases: " << tally.passed << " of " << cases->items().size()
            << " passed (" << tally.known << " known failures)\n";
  EXPECT_EQ(cases->items().size(), 16u);
  EXPECT_EQ(tally.failed, 0);
}

TEST(OfficialPatchCases, FhirPathPatch) {
  auto cases = ParseJson(ReadFile(KILN_FHIRPATCH_CASES), "fhir-patch-tests.json");
  ASSERT_TRUE(cases.ok()) << cases.status().message() << " (" << KILN_FHIRPATCH_CASES << ")";
  ASSERT_TRUE(cases->is_array());
  auto known = KnownFailures();
  Tally tally;
  for (const Json& c : cases->items()) {
    std::string id = "fhirpath-patch:" + c.Find("name")->text();
    const Json* input = c.Find("input");
    const Json* diff = c.Find("diff");
    ASSERT_TRUE(input != nullptr && diff != nullptr) << id;
    Check(id, RunCase(Format::kFhirPathPatch, *input, *diff, c.Find("output"), c.Find("error")),
          known, tally);
  }
  std::cout << "FHIRPath Patch official cases: " << tally.passed << " of " << cases->items().size()
            << " passed (" << tally.known << " known failures)\n";
  EXPECT_EQ(cases->items().size(), 33u);
  EXPECT_EQ(tally.failed, 0);
}

}  // namespace
}  // namespace kiln::patch

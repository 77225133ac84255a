// Validates the official R4 examples (hl7.fhir.r4.examples@4.0.1): every example that is not a
// definition (StructureDefinition, ValueSet...) must pass, except the few that break R4's own
// rules, listed with the rule in known_invalid_examples.txt; those must fail with exactly the
// listed errors. Also measures validation time per KB over the examples.

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "validation/validator.h"

namespace kiln::validation {
namespace {

namespace json = boost::json;

// Conformance and terminology resources: validated separately (DefinitionalResources) because
// the task's target is the instance examples.
const std::set<std::string, std::less<>> kDefinitionalTypes = {
    "StructureDefinition",
    "SearchParameter",
    "ValueSet",
    "CodeSystem",
    "ConceptMap",
    "OperationDefinition",
    "CapabilityStatement",
    "CompartmentDefinition",
    "MessageDefinition",
    "ImplementationGuide",
    "StructureMap",
    "NamingSystem",
    "TerminologyCapabilities",
    "GraphDefinition",
    "ExampleScenario",
};

struct Example {
  std::string file;
  std::string resource_type;
  size_t bytes = 0;
  json::value resource;
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json::value Parse(const std::string& text) {
  json::parse_options options;
  options.max_depth = 256;
  return json::parse(text, {}, options);
}

// Every resource file of the package, parsed, in file name order.
const std::vector<Example>& AllExamples() {
  static const std::vector<Example> examples = [] {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(KILN_FHIR_PACKAGE_DIR)) {
      const std::string name = entry.path().filename().string();
      if (name.ends_with(".json") && name != "package.json") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<Example> out;
    for (const auto& file : files) {
      Example example;
      example.file = file.filename().string();
      const std::string text = ReadFile(file);
      example.bytes = text.size();
      example.resource = Parse(text);
      example.resource_type = json::value_to<std::string>(example.resource.at("resourceType"));
      out.push_back(std::move(example));
    }
    return out;
  }();
  return examples;
}

struct KnownInvalid {
  std::string expression;
  std::string code;
  std::string reason;
};

std::string Trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// known_invalid_examples.txt: "file | expression | issue code | reason" per expected error;
// "[*]" in the expression stands for any index.
std::multimap<std::string, KnownInvalid> ReadKnownInvalid() {
  std::multimap<std::string, KnownInvalid> out;
  std::ifstream in(std::filesystem::path(__FILE__).parent_path() / "known_invalid_examples.txt");
  EXPECT_TRUE(in.good()) << "known_invalid_examples.txt not found";
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    // The reason is the rest of the line and may itself contain '|'.
    std::vector<std::string> fields;
    size_t start = 0;
    while (fields.size() < 3) {
      const size_t bar = line.find('|', start);
      if (bar == std::string::npos) break;
      fields.push_back(Trim(line.substr(start, bar - start)));
      start = bar + 1;
    }
    fields.push_back(Trim(line.substr(start)));
    EXPECT_EQ(fields.size(), 4u) << "bad line: " << line;
    if (fields.size() != 4) continue;
    out.emplace(fields[0], KnownInvalid{fields[1], fields[2], fields[3]});
  }
  return out;
}

std::vector<Issue> Errors(const std::vector<Issue>& issues) {
  std::vector<Issue> out;
  for (const Issue& issue : issues) {
    if (issue.severity == Severity::kError || issue.severity == Severity::kFatal) {
      out.push_back(issue);
    }
  }
  return out;
}

std::string Describe(const std::vector<Issue>& issues) {
  std::string out;
  for (const Issue& issue : issues) {
    out += "\n  [" + issue.code + "] " + issue.expression + " -- " + issue.diagnostics;
  }
  return out;
}

// True if `expression` matches `pattern`, where "[*]" in the pattern stands for any index.
bool MatchesPattern(std::string_view expression, std::string_view pattern) {
  while (true) {
    const size_t star = pattern.find("[*]");
    if (star == std::string_view::npos) return expression == pattern;
    if (expression.substr(0, star) != pattern.substr(0, star) || expression.size() <= star ||
        expression[star] != '[') {
      return false;
    }
    const size_t close = expression.find(']', star);
    if (close == std::string_view::npos || close == star + 1) return false;
    expression.remove_prefix(close + 1);
    pattern.remove_prefix(star + 3);
  }
}

TEST(ExamplesTest, MatchesPattern) {
  EXPECT_TRUE(MatchesPattern("Q.item[0].linkId", "Q.item[0].linkId"));
  EXPECT_TRUE(MatchesPattern("Q.item[0].item[12].linkId", "Q.item[0].item[*].linkId"));
  EXPECT_FALSE(MatchesPattern("Q.item[0].item[1].item[0].linkId", "Q.item[0].item[*].linkId"));
  EXPECT_FALSE(MatchesPattern("Q.item.linkId", "Q.item[*].linkId"));
}

TEST(ExamplesTest, InstanceExamplesAreValidExceptKnownInvalidOnes) {
  const std::multimap<std::string, KnownInvalid> known_invalid = ReadKnownInvalid();
  std::set<std::string> listed;
  for (const auto& [file, entry] : known_invalid) listed.insert(file);

  size_t checked = 0;
  size_t failed_as_expected = 0;
  for (const Example& example : AllExamples()) {
    if (kDefinitionalTypes.contains(example.resource_type)) continue;
    ++checked;
    const std::vector<Issue> errors = Errors(Validate(example.resource));
    const auto [first, last] = known_invalid.equal_range(example.file);
    if (first == last) {
      EXPECT_TRUE(errors.empty()) << example.file << Describe(errors);
      continue;
    }
    listed.erase(example.file);
    // Every error is one of the listed ones, and every listed one occurs.
    bool as_expected = !errors.empty();
    std::set<const KnownInvalid*> matched;
    for (const Issue& issue : errors) {
      bool known = false;
      for (auto it = first; it != last; ++it) {
        if (issue.code == it->second.code &&
            MatchesPattern(issue.expression, it->second.expression)) {
          matched.insert(&it->second);
          known = true;
        }
      }
      EXPECT_TRUE(known) << example.file << ": unexpected error" << Describe({issue});
      as_expected = as_expected && known;
    }
    for (auto it = first; it != last; ++it) {
      EXPECT_TRUE(matched.contains(&it->second))
          << example.file << ": no [" << it->second.code << "] error at " << it->second.expression
          << " (" << it->second.reason << ")" << Describe(errors);
      as_expected = as_expected && matched.contains(&it->second);
    }
    if (as_expected) ++failed_as_expected;
  }
  EXPECT_TRUE(listed.empty()) << "listed but not an instance example: " << *listed.begin();
  EXPECT_GT(checked, 700u);
  std::printf("[ examples ] %zu instance examples; %zu known invalid, failing as listed\n", checked,
              failed_as_expected);
}

// Not a requirement: how the conformance resources fare (they use elements such as
// ElementDefinition heavily, so this exercises the index further).
TEST(ExamplesTest, DefinitionalResources) {
  size_t total = 0;
  size_t valid = 0;
  std::map<std::string, size_t> failures_by_type;
  for (const Example& example : AllExamples()) {
    if (!kDefinitionalTypes.contains(example.resource_type)) continue;
    ++total;
    const std::vector<Issue> errors = Errors(Validate(example.resource));
    if (errors.empty()) {
      ++valid;
    } else {
      ++failures_by_type[example.resource_type];
      if (std::getenv("KILN_SHOW_DEFINITIONAL_FAILURES") != nullptr) {
        std::printf("%s%s\n", example.file.c_str(), Describe(errors).c_str());
      }
    }
  }
  std::printf("[ examples ] definitional resources: %zu of %zu valid\n", valid, total);
  for (const auto& [type, count] : failures_by_type) {
    std::printf("[ examples ]   %s: %zu invalid\n", type.c_str(), count);
  }
  EXPECT_GT(total, 4000u);
}

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t i = std::min(values.size() - 1, static_cast<size_t>(p * (values.size() - 1) + 0.5));
  return values[i];
}

// Prints µs per KB (median and p99 over the instance examples) and µs for a ~2 KB Patient. Timing
// depends on the machine and the build type, so nothing is asserted; Release builds are the ones
// to read.
TEST(ExamplesTest, Timing) {
  using Clock = std::chrono::steady_clock;
  const auto time_us = [](const json::value& resource, int runs) {
    double best = 1e300;
    for (int i = 0; i < runs; ++i) {
      const auto start = Clock::now();
      const std::vector<Issue> issues = Validate(resource);
      const std::chrono::duration<double, std::micro> elapsed = Clock::now() - start;
      best = std::min(best, elapsed.count());
    }
    return best;
  };
  std::vector<double> us_per_kb;
  double total_us = 0;
  size_t total_bytes = 0;
  for (const Example& example : AllExamples()) {
    if (kDefinitionalTypes.contains(example.resource_type)) continue;
    const int runs = example.bytes < 100000 ? 5 : 1;
    const double us = time_us(example.resource, runs);
    us_per_kb.push_back(us / (static_cast<double>(example.bytes) / 1024.0));
    total_us += us;
    total_bytes += example.bytes;
  }
  ASSERT_FALSE(us_per_kb.empty());
  std::printf(
      "[ timing ] %zu examples, %.1f MB: median %.2f us/KB, p99 %.2f us/KB, overall "
      "%.2f us/KB\n",
      us_per_kb.size(), total_bytes / 1e6, Percentile(us_per_kb, 0.5), Percentile(us_per_kb, 0.99),
      total_us / (total_bytes / 1024.0));

  // A typical Patient: the official example, 3.7 KB as pretty-printed in the package and about
  // 2.5 KB as compact JSON (what clients usually send).
  for (const Example& example : AllExamples()) {
    if (example.file != "Patient-example.json") continue;
    const std::string compact = json::serialize(example.resource);
    const double us = time_us(example.resource, 200);
    std::printf("[ timing ] %s (%zu bytes, %zu compact): %.2f us\n", example.file.c_str(),
                example.bytes, compact.size(), us);
  }
}

}  // namespace
}  // namespace kiln::validation

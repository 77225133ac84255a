// Runs the official FHIRPath R4 test suite (fhir-test-cases r4/fhirpath/tests-fhir-r4.xml) and
// checks the failures against known_failures.txt: a failure not listed fails this test, and so
// does a listed test that now passes, so the list stays honest.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "fhirpath/fhirpath.h"

namespace kiln::fhirpath {
namespace {

const std::string kSuiteDir = std::string(KILN_TESTDATA_DIR) + "/fhir-test-cases/r4";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string DecodeXml(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    static const std::pair<std::string_view, char> kEntities[] = {
        {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool done = false;
    for (const auto& [e, c] : kEntities) {
      if (s.substr(i, e.size()) == e) {
        out.push_back(c);
        i += e.size() - 1;
        done = true;
        break;
      }
    }
    if (!done) out.push_back('&');
  }
  return out;
}

// The value of attribute `name` in the start tag `tag`, or "".
std::string Attr(std::string_view tag, std::string_view name) {
  std::string key = " " + std::string(name) + "=\"";
  size_t p = tag.find(key);
  if (p == std::string_view::npos) return {};
  p += key.size();
  return DecodeXml(tag.substr(p, tag.find('"', p) - p));
}

struct Output {
  std::string type;
  std::string value;
};

struct SuiteTest {
  std::string name, inputfile, predicate, mode, invalid, expression;
  std::vector<Output> outputs;
};

std::vector<SuiteTest> ParseSuite(const std::string& raw) {
  // Comments hold disabled tests; drop them first.
  std::string xml;
  for (size_t p = 0; p < raw.size();) {
    size_t c = raw.find("<!--", p);
    xml.append(raw, p, c == std::string::npos ? std::string::npos : c - p);
    if (c == std::string::npos) break;
    size_t e = raw.find("-->", c);
    p = e == std::string::npos ? raw.size() : e + 3;
  }
  std::vector<SuiteTest> tests;
  size_t pos = 0;
  while ((pos = xml.find("<test ", pos)) != std::string::npos) {
    size_t tag_end = xml.find('>', pos);
    size_t end = xml.find("</test>", tag_end);
    std::string_view tag(xml.data() + pos, tag_end - pos);
    std::string_view body(xml.data() + tag_end + 1, end - tag_end - 1);
    SuiteTest t;
    t.name = Attr(tag, "name");
    t.inputfile = Attr(tag, "inputfile");
    t.predicate = Attr(tag, "predicate");
    t.mode = Attr(tag, "mode");
    size_t e = body.find("<expression");
    size_t e_tag_end = body.find('>', e);
    t.invalid = Attr(body.substr(e, e_tag_end - e), "invalid");
    size_t e_end = body.find("</expression>", e_tag_end);
    t.expression = DecodeXml(body.substr(e_tag_end + 1, e_end - e_tag_end - 1));
    size_t o = e_end;
    while ((o = body.find("<output", o)) != std::string_view::npos) {
      size_t o_tag_end = body.find('>', o);
      Output out;
      out.type = Attr(body.substr(o, o_tag_end - o), "type");
      if (body[o_tag_end - 1] != '/') {
        size_t o_end = body.find("</output>", o_tag_end);
        out.value = DecodeXml(body.substr(o_tag_end + 1, o_end - o_tag_end - 1));
        o = o_end;
      } else {
        o = o_tag_end;
      }
      t.outputs.push_back(std::move(out));
    }
    tests.push_back(std::move(t));
    pos = end;
  }
  return tests;
}

std::string TypeOf(const Item& item) {
  static constexpr std::string_view kNames[] = {"",     "boolean",  "integer", "decimal", "string",
                                                "date", "dateTime", "time",    "Quantity"};
  if (item.kind == ValueKind::kElement) return std::string(item.type_name);
  return std::string(kNames[static_cast<int>(item.kind)]);
}

bool SameValue(const Item& item, const Output& expected) {
  std::string got = ToString(item);
  std::string want = expected.value;
  if (!want.empty() && want[0] == '@') {
    want = want.substr(1);
    if (!want.empty() && want[0] == 'T') want = want.substr(1);
  }
  if (got == want) return true;
  if (expected.type == "decimal" || expected.type == "integer" || expected.type.empty()) {
    char* end1;
    char* end2;
    double a = std::strtod(got.c_str(), &end1);
    double b = std::strtod(want.c_str(), &end2);
    if (*end1 == '\0' && *end2 == '\0' && !got.empty() && !want.empty()) {
      return std::fabs(a - b) < 1e-9 * std::max(1.0, std::fabs(b));
    }
  }
  return false;
}

// Runs one test; "" when it passes, else what went wrong.
std::string RunOne(const SuiteTest& t, std::map<std::string, boost::json::value>& inputs) {
  boost::json::value empty = boost::json::object();
  const boost::json::value* input = &empty;
  if (!t.inputfile.empty()) {
    std::string file = t.inputfile;
    if (file.size() > 4 && file.substr(file.size() - 4) == ".xml") {
      file = file.substr(0, file.size() - 4) + ".json";
    }
    auto it = inputs.find(file);
    if (it == inputs.end()) {
      auto parsed = ParseJson(ReadFile(kSuiteDir + "/inputs/" + file));
      if (!parsed.ok()) return "cannot read input " + file;
      it = inputs.emplace(file, std::move(*parsed)).first;
    }
    input = &it->second;
  }
  auto compiled = Compile(t.expression);
  if (!t.invalid.empty()) {
    if (!compiled.ok()) return "";
    auto r = Evaluate(*compiled, *input);
    if (!r.ok()) return "";
    return "expected an error, got " + ToTypedJson(*r);
  }
  if (!compiled.ok()) return compiled.status().message();
  EvalContext ctx;
  auto r = Evaluate(*compiled, *input, ctx);
  if (!r.ok()) return r.status().message();
  Collection result = std::move(*r);
  if (t.predicate == "true") result = {Item::Boolean(!result.empty())};
  if (result.size() != t.outputs.size()) {
    return "expected " + std::to_string(t.outputs.size()) + " items, got " + ToTypedJson(result);
  }
  for (size_t i = 0; i < result.size(); ++i) {
    const Output& want = t.outputs[i];
    if (!want.type.empty() && TypeOf(result[i]) != want.type) {
      return "item " + std::to_string(i) + ": expected type " + want.type + ", got " +
             ToTypedJson(result);
    }
    if (!SameValue(result[i], want)) {
      return "item " + std::to_string(i) + ": expected " + want.value + ", got " + ToTypedJson(result);
    }
  }
  return "";
}

std::map<std::string, std::string> KnownFailures() {
  std::map<std::string, std::string> known;
  // The fixture sits beside this file.
  std::string dir = __FILE__;
  dir = dir.substr(0, dir.rfind('/'));
  std::ifstream in(dir + "/known_failures.txt");
  EXPECT_TRUE(in.good()) << "cannot read " << dir << "/known_failures.txt";
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find_first_of(" \t");
    known[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
  }
  return known;
}

TEST(OfficialSuite, R4) {
  std::string xml = ReadFile(kSuiteDir + "/fhirpath/tests-fhir-r4.xml");
  ASSERT_FALSE(xml.empty());
  std::vector<SuiteTest> tests = ParseSuite(xml);
  // 937 <test> elements, two of them inside comments.
  ASSERT_EQ(tests.size(), 935u);
  auto known = KnownFailures();
  std::map<std::string, boost::json::value> inputs;
  int passed = 0;
  std::set<std::string> failed;
  for (const SuiteTest& t : tests) {
    std::string why = RunOne(t, inputs);
    if (why.empty()) {
      ++passed;
      EXPECT_FALSE(known.count(t.name)) << t.name << " passes now: remove it from known_failures.txt";
      continue;
    }
    failed.insert(t.name);
    EXPECT_TRUE(known.count(t.name)) << t.name << ": " << t.expression << "\n  " << why;
  }
  std::cout << "FHIRPath R4 suite: " << passed << " of " << tests.size() << " pass\n";
  RecordProperty("passed", passed);
}

}  // namespace
}  // namespace kiln::fhirpath

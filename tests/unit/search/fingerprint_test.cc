// The index fingerprint and its FNV-1a hasher.
#include "search/fingerprint.h"

#include <gtest/gtest.h>

#include <string_view>

namespace kiln::search {
namespace {

uint64_t HashBytes(std::string_view bytes) {
  FingerprintHasher h;
  h.AddBytes(bytes);
  return h.value();
}

TEST(FingerprintHasherTest, AddBytesIsPlainFnv1a64) {
  // Reference values of 64-bit FNV-1a.
  EXPECT_EQ(HashBytes(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(HashBytes("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(HashBytes("foobar"), 0x85944171f73967e8ULL);
}

TEST(FingerprintHasherTest, FieldsAreDelimited) {
  FingerprintHasher ab_c;
  ab_c.AddString("ab");
  ab_c.AddString("c");
  FingerprintHasher a_bc;
  a_bc.AddString("a");
  a_bc.AddString("bc");
  EXPECT_NE(ab_c.value(), a_bc.value());

  FingerprintHasher empty_then_x;
  empty_then_x.AddString("");
  empty_then_x.AddString("x");
  FingerprintHasher x_then_empty;
  x_then_empty.AddString("x");
  x_then_empty.AddString("");
  EXPECT_NE(empty_then_x.value(), x_then_empty.value());
}

TEST(FingerprintHasherTest, EveryInputChangesTheValue) {
  auto hash = [](std::string_view code, std::string_view expression, int64_t version) {
    FingerprintHasher h;
    h.AddInt(version);
    h.AddString(code);
    h.AddString(expression);
    return h.value();
  };
  const uint64_t base = hash("name", "Patient.name", 1);
  EXPECT_EQ(base, hash("name", "Patient.name", 1));  // deterministic
  EXPECT_NE(base, hash("name", "Patient.name", 2));
  EXPECT_NE(base, hash("family", "Patient.name", 1));
  EXPECT_NE(base, hash("name", "Patient.name.family", 1));
}

TEST(FingerprintHasherTest, Value63IsNonNegative) {
  FingerprintHasher h;
  h.AddBytes("a");  // 0xaf63..., top bit set
  ASSERT_NE(h.value() >> 63, 0u);
  EXPECT_GE(h.value63(), 0);
  EXPECT_EQ(static_cast<uint64_t>(h.value63()), h.value() & 0x7fffffffffffffffULL);
}

TEST(IndexFingerprintTest, StablePositiveAndNotTheBareVersion) {
  const int64_t first = IndexFingerprint();
  EXPECT_GT(first, 0);
  EXPECT_EQ(IndexFingerprint(), first);
  // It covers the definitions, not only the hand-kept version.
  FingerprintHasher version_only;
  version_only.AddString("kiln-index");
  version_only.AddInt(kIndexExtractorVersion);
  EXPECT_NE(first, version_only.value63());
}

}  // namespace
}  // namespace kiln::search

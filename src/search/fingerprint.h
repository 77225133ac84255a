// The index fingerprint: one number that changes whenever the index rows ExtractIndex() produces
// for a stored resource may change, so a store can tell that its rows were written by different
// extraction rules and must be rebuilt (server/reindexer.h).
//
// It hashes (FNV-1a, 64 bits, top bit cleared so it fits a signed SQL integer) every concrete
// resource type's search parameters in order: code, type, expression, reference targets and
// composite components (definition URL and expression), plus kIndexExtractorVersion. The search
// parameter definitions come from the embedded R4 package, so a change there shows by itself;
// changes to the extraction and normalisation code do not, hence the hand-kept version.
//
// Pure functions of compiled-in data; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln::search {

// Bump this in the same commit as any change to the index extraction or normalisation code
// (index*.cc, NormalizeString, number/date/quantity ranges, canonical units) that changes the
// entries an existing resource gets, or to what the store keeps of them. The next start of a
// server rebuilds every store's index rows.
// 2: the full-text entries (_text, _content) are stored (SQLite schema migration 4).
// 3: a CodeableConcept.text equal (normalised) to one of its codings' displays gets no entry.
// 4: _content leaves out ids, references, system/extension/profile URLs, meta and letterless
//    strings (index_values.cc IsMachineryMember, HasLetter).
// 5: no _id entries: stores answer _id from the resource row.
// 6: no _lastUpdated entries either (SQLite schema migration 6 indexes resource.last_updated).
// 7: union parameters (UnionMembers: Observation combo-code ...) get no entries of their own.
// 8: nor do composites made of their components' own parameters (ComposedOfOwnParams:
//    Observation code-value-quantity, code-value-concept).
// 9: nor do composites that are the union of other composites (CompositeUnionMembers:
//    Observation combo-code-value-quantity, combo-code-value-concept).
inline constexpr int64_t kIndexExtractorVersion = 9;

// Incremental FNV-1a (64-bit). Each Add*() is length- or type-delimited, so ("ab","c") and
// ("a","bc") hash differently. Value type.
class FingerprintHasher {
 public:
  static constexpr uint64_t kOffsetBasis = 0xcbf29ce484222325ULL;
  static constexpr uint64_t kPrime = 0x100000001b3ULL;

  // Hashes the bytes as they are (no delimiter).
  void AddBytes(std::string_view bytes);
  // Hashes the length, then the bytes.
  void AddString(std::string_view text);
  // Hashes the 8 bytes of `value`, least significant first.
  void AddInt(int64_t value);

  uint64_t value() const { return hash_; }
  // value() with the top bit cleared: a non-negative int64.
  int64_t value63() const { return static_cast<int64_t>(hash_ & 0x7fffffffffffffffULL); }

 private:
  uint64_t hash_ = kOffsetBasis;
};

// The fingerprint of this build's index rules (see above). Computed on first call; never 0.
int64_t IndexFingerprint();

}  // namespace kiln::search

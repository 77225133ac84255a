#include "search/fingerprint.h"

#include "fhir/definitions.h"

namespace kiln::search {

void FingerprintHasher::AddBytes(std::string_view bytes) {
  for (unsigned char c : bytes) {
    hash_ ^= c;
    hash_ *= kPrime;
  }
}

void FingerprintHasher::AddString(std::string_view text) {
  AddInt(static_cast<int64_t>(text.size()));
  AddBytes(text);
}

void FingerprintHasher::AddInt(int64_t value) {
  uint64_t v = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) {
    hash_ ^= (v >> (8 * i)) & 0xff;
    hash_ *= kPrime;
  }
}

namespace {

int64_t ComputeFingerprint() {
  FingerprintHasher h;
  h.AddString("kiln-index");
  h.AddInt(kIndexExtractorVersion);
  for (const fhir::TypeDef& type : fhir::ResourceTypes()) {
    h.AddString(type.name());
    fhir::SearchParamList params = type.search_params();
    h.AddInt(static_cast<int64_t>(params.size()));
    for (const fhir::SearchParamDef& def : params) {
      h.AddString(def.code());
      h.AddString(fhir::ToString(def.type()));
      h.AddString(def.expression());
      h.AddInt(static_cast<int64_t>(def.targets().size()));
      for (std::string_view target : def.targets()) h.AddString(target);
      h.AddInt(static_cast<int64_t>(def.components().size()));
      for (const fhir::SearchParamComponent& component : def.components()) {
        h.AddString(component.definition());
        h.AddString(component.expression());
      }
    }
  }
  int64_t value = h.value63();
  return value == 0 ? 1 : value;  // 0 reads as "none recorded" in the store
}

}  // namespace

int64_t IndexFingerprint() {
  static const int64_t kFingerprint = ComputeFingerprint();
  return kFingerprint;
}

}  // namespace kiln::search

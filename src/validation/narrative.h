// Narrative safety: checks that an xhtml value (Narrative.div) is well-formed XHTML in the XHTML
// namespace using only the elements and attributes FHIR allows (R4 narrative rules txt-1/txt-2),
// and nothing active: no script/style/form/iframe/object elements, no event-handler attributes,
// no javascript:/vbscript:/data: URLs (data: allowed only for img src images), no CSS that can
// run code. Malicious narrative must never be stored, so anything not understood is refused.
// Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln::validation {

// Issue codes: "structure" (not well-formed), "invalid" (markup FHIR does not allow, including
// anything active), "too-costly" (depth or issue caps), "invariant" (txt-2: no content; harmless).
// Appends one issue per problem found in `xhtml` to `out` (nothing when it is fine). `expression`
// is the FHIRPath of the element holding it (e.g. "Patient.text.div"), used in every issue.
void CheckNarrative(std::string_view xhtml, const std::string& expression, std::vector<Issue>& out);

}  // namespace kiln::validation

// The CapabilityStatement (GET /metadata), generated from the router's table of supported
// interactions and the compiled-in R4 resource types, so it lists exactly what Kiln does.
#pragma once

#include <string>
#include <string_view>

namespace kiln::rest {

// Compact JSON. Built once at start-up (it only changes with the binary).
// `conditional_delete_max`: most resources a conditional delete may remove (1: "single").
std::string BuildCapabilityStatement(std::string_view base_url, std::string_view software_version,
                                     int conditional_delete_max = 1);

}  // namespace kiln::rest

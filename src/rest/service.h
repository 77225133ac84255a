// The FHIR REST service: turns HTTP requests under the FHIR base into store operations and
// FHIR responses (R4 http page: read, vread, create, update, delete, history, capabilities).
//
// Threading: Handle() runs on an HTTP I/O thread. Reads by id are answered inline (one indexed
// lookup); history pages run on the worker pool; writes are queued to the store's writer and
// answered from its thread once durably committed. The Service borrows the store and the pool,
// which must outlive it. Thread-safe.
#pragma once

#include <string>

#include "core/thread_pool.h"
#include "http/server.h"
#include "kiln/store.h"

namespace kiln::rest {

struct RestOptions {
  std::string base_url;              // public URL of the FHIR base, no trailing slash
  std::string base_path = "/fhir";   // the path the FHIR API is served under
  int default_count = 20;            // page size when _count is absent
  int max_count = 1000;              // larger _count values are capped to this
  std::string software_version;      // for the CapabilityStatement
};

class Service : public http::Handler {
 public:
  Service(RestOptions options, Store& store, core::ThreadPool& workers);
  void Handle(http::Request&& request, http::Responder respond) override;

  const RestOptions& options() const { return options_; }

 private:
  RestOptions options_;
  Store& store_;
  core::ThreadPool& workers_;
  std::string capability_statement_;  // built once; it only changes with the binary
};

}  // namespace kiln::rest

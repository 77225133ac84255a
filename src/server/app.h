// The composition root: turns a Config into running components (store, REST service, HTTP
// server) and owns their lifecycle. The only place that names a concrete backend.
//
// Start() opens the database and binds the port; Wait() blocks until Stop(); Stop() stops
// accepting, lets in-flight requests finish, then closes the database. Stop() is safe to call
// from any thread (the signal watcher calls it).
#pragma once

#include <memory>
#include <string>

#include "kiln/status.h"
#include "rest/service.h"
#include "server/config.h"

namespace kiln::server {

class App {
 public:
  explicit App(Config config);
  ~App();

  Status Start();
  void Wait();
  void Stop();

  // Valid after Start().
  int port() const;
  const std::string& base_url() const;
  // Where the socket listens, e.g. http://127.0.0.1:8080 (differs from base_url behind a proxy).
  std::string listen_url() const;
  std::string data_path() const;  // absolute data directory

 private:
  struct Parts;
  // Auth mode "smart": the key cache (with its start-up fetch), authenticator and authorizer,
  // and what discovery and the CapabilityStatement say about them.
  void SetUpSmartAuth(rest::RestOptions& rest_options);
  Config config_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace kiln::server

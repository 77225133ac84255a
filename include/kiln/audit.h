// The audit trail: one event per FHIR request, saying who did what, when, from where, and how it
// ended (docs/audit.md). The REST layer fills an AuditEvent for every request it answers and hands
// it to the AuditSink; the sink (src/audit) writes it as one hash-chained JSON line.
//
// An event never holds resource bodies, search parameter values or tokens: only the names of
// the search parameters used, and the identities the verified token established.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

struct AuditEvent {
  int64_t time_micros = 0;  // when the request arrived (wall clock, UTC)
  std::string request_id;
  std::string tenant;
  // Who: from the verified token (empty when the request had none, or auth mode "none").
  bool authenticated = false;
  std::string subject;    // sub
  std::string client_id;  // client_id / azp
  std::string fhir_user;
  std::string patient;
  // What.
  std::string method;       // HTTP method
  std::string interaction;  // read, search-type, create, transaction, ... ("unknown" if unrouted)
  std::string type;         // resource type, if the request names one
  std::string id;           // resource id, if any (for a create: the id it got)
  std::string version;      // version read or written, if any
  std::vector<std::string> params;  // names of the query (and _search form) parameters, no values
  // Where.
  std::string remote_address;
  std::string forwarded_for;  // X-Forwarded-For as the client sent it (not verified)
  std::string user_agent;
  // Outcome.
  int status = 0;
  double duration_ms = 0;  // from arrival to the response being handed to the connection
};

// Receives every finished request's event. Thread-safe; Record must not block for long (it is
// called on HTTP I/O threads and on the store's writer thread).
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void Record(AuditEvent&& event) = 0;
};

}  // namespace kiln
